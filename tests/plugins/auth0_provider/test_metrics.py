"""The provider's metrics reach StatsD through Airflow's own [metrics] config, and never fail a task.

Airflow sets its stats client up from [metrics] when the Task SDK is first imported, once per
process, so each case runs the functions in a fresh Python process configured by environment
variables (as a task process is), with a StatsD listener on 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from subprocess import PIPE
from types import SimpleNamespace

from auth0_provider import metrics
from tests.statsd_listener import StatsdListener, parse

REPO = Path(__file__).resolve().parents[3]

# Every function once; the child prints OK only if none of them raised.
EMIT_ALL = """
from auth0_provider import metrics
metrics.lag(42.5)
metrics.delivered(3)
metrics.delivered(0)  # nothing to count: nothing sent
metrics.delivery_failed()
metrics.parked(2)
metrics.auth0_request()
metrics.rate_limit_wait(1.5)
print("OK")
"""


def run_children(*children: tuple[str, dict[str, str]]) -> None:
    """Run each ``(code, metrics_config)`` in a fresh interpreter, all at once (each one spends about
    2 s importing Airflow); ``metrics_config`` is its [metrics] config, by key. Each must print OK."""
    started = [
        subprocess.Popen([sys.executable, "-c", code], env=child_env(config), stdout=PIPE, stderr=PIPE, text=True)
        for code, config in children
    ]
    try:
        for child in started:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err[-3000:]
            assert out.strip().endswith("OK"), (out[-2000:], err[-3000:])
    finally:
        for child in started:
            if child.poll() is None:
                child.kill()
                child.wait()


def run_child(code: str, **metrics_config: str) -> None:
    run_children((code, metrics_config))


def child_env(metrics_config: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW__METRICS__")}
    env |= {f"AIRFLOW__METRICS__{key.upper()}": value for key, value in metrics_config.items()}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "plugins"), str(REPO), env.get("PYTHONPATH", "")])
    return env


def statsd_config(port: int, **more: str) -> dict[str, str]:
    return {"statsd_on": "True", "statsd_host": "127.0.0.1", "statsd_port": str(port), **more}


def unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_function_sends_its_statsd_line():
    with StatsdListener() as statsd:
        run_child(EMIT_ALL, **statsd_config(statsd.port))
        statsd.flush()  # all the child sent has been read
        got = {name: statsd.wait_for(f"airflow.{name}", timeout=1) for name in metrics.NAMES}

    assert [parse(line) for line in got[metrics.LAG_SECONDS]] == [(f"airflow.{metrics.LAG_SECONDS}", "42.5", "g")]
    assert got[metrics.EVENTS_DELIVERED] == [f"airflow.{metrics.EVENTS_DELIVERED}:3|c"]  # not the 0
    assert got[metrics.DELIVERIES_FAILED] == [f"airflow.{metrics.DELIVERIES_FAILED}:1|c"]
    assert got[metrics.EVENTS_PARKED] == [f"airflow.{metrics.EVENTS_PARKED}:2|c"]
    assert got[metrics.AUTH0_REQUESTS] == [f"airflow.{metrics.AUTH0_REQUESTS}:1|c"]
    assert got[metrics.RATE_LIMIT_WAITS] == [f"airflow.{metrics.RATE_LIMIT_WAITS}:1|c"]
    ((name, value, kind),) = [parse(line) for line in got[metrics.RATE_LIMIT_WAIT_TIME]]
    assert (name, float(value), kind) == (f"airflow.{metrics.RATE_LIMIT_WAIT_TIME}", 1500.0, "ms")


def test_prefix_and_allow_list_come_from_airflows_metrics_config():
    """[metrics] statsd_prefix prefixes our names; metrics_allow_list must match them (without the
    prefix) or they are dropped, as Airflow drops its own."""
    with StatsdListener() as allowed, StatsdListener() as not_allowed:
        run_children(
            (EMIT_ALL, statsd_config(allowed.port, statsd_prefix="tenant_a", metrics_allow_list="auth0_webhooks")),
            (EMIT_ALL, statsd_config(not_allowed.port, metrics_allow_list="scheduler,executor")),
        )
        assert allowed.wait_for(f"tenant_a.{metrics.AUTH0_REQUESTS}") == [f"tenant_a.{metrics.AUTH0_REQUESTS}:1|c"]
        not_allowed.flush()
        assert not [line for line in not_allowed.lines if "auth0_webhooks" in line], not_allowed.lines


NEVER_RAISES = {
    # pointed at the listener: nothing may arrive
    "statsd off": ({"statsd_on": "False"}, ""),
    "statsd package missing": ({}, "import sys; sys.modules['statsd'] = None\n"),
    # pointed elsewhere: every send fails
    "no listener on the port": ({"statsd_port": "UNUSED"}, ""),
    "invalid port": ({"statsd_port": "not-a-port"}, ""),
}


def test_never_raises():
    """Each case in a child that fails the test if a function raised (no OK), all children at once."""
    with ExitStack() as stack:
        listeners = {case: stack.enter_context(StatsdListener()) for case in NEVER_RAISES}
        children = []
        for case, (config, preamble) in NEVER_RAISES.items():
            settings = statsd_config(listeners[case].port) | config
            if settings["statsd_port"] == "UNUSED":
                settings["statsd_port"] = str(unused_udp_port())
            children.append((preamble + EMIT_ALL, settings))
        run_children(*children)
        for case, listener in listeners.items():
            listener.flush()
            assert listener.lines == [], case


class _Broken:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RuntimeError("the metrics backend broke")

        return fail


def test_a_backend_error_is_logged_once_as_a_warning_never_raised(monkeypatch, caplog):
    monkeypatch.setattr(metrics, "_stats", _Broken())
    monkeypatch.setattr(metrics, "_warned", False)
    monkeypatch.setattr(metrics, "current_stream", lambda: None)  # importing Airflow here would take caplog's handler
    with caplog.at_level(logging.DEBUG, logger=metrics.__name__):
        metrics.lag(1.0)
        metrics.delivered(2)
        metrics.rate_limit_wait(0.5)
        metrics.rate_limit_wait("soon")  # not a number: the timing is skipped, the count is tried
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and metrics.LAG_SECONDS in warnings[0].getMessage()
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 4


def test_values_are_passed_as_statsd_wants_them(monkeypatch):
    sent = []
    recorder = SimpleNamespace(
        incr=lambda name, value: sent.append(("incr", name, value)),
        gauge=lambda name, value: sent.append(("gauge", name, value)),
        timing=lambda name, value: sent.append(("timing", name, value)),
    )
    monkeypatch.setattr(metrics, "_stats", recorder)
    metrics.lag(7.25)
    metrics.delivered(5)
    metrics.parked(0)
    metrics.rate_limit_wait(2)
    assert sent == [
        ("gauge", metrics.LAG_SECONDS, 7.25),
        ("incr", metrics.EVENTS_DELIVERED, 5),
        ("incr", metrics.RATE_LIMIT_WAITS, 1),
        ("timing", metrics.RATE_LIMIT_WAIT_TIME, 2000.0),
    ]


def test_names_pass_airflows_stat_name_validation():
    from airflow.sdk._shared.observability.metrics.validators import stat_name_default_handler

    assert len(set(metrics.NAMES)) == len(metrics.NAMES)
    for name in metrics.NAMES:
        assert name.startswith(f"{metrics.PREFIX}.")
        assert stat_name_default_handler(f"airflow.{name}") == f"airflow.{name}"


def test_importing_the_module_does_not_import_airflow():
    run_child(
        "import sys\nimport auth0_provider.metrics\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'airflow'], 'airflow imported'\nprint('OK')\n"
    )


def test_a_streams_task_sends_each_metric_under_its_name_and_per_stream_as_airflow_sends_per_dag_ones():
    in_a_stream = "from auth0_provider import metrics\nmetrics.current_stream = lambda: 'crm'\n" + EMIT_ALL.replace(
        "from auth0_provider import metrics\n", ""
    )
    with StatsdListener() as statsd:
        run_child(in_a_stream, **statsd_config(statsd.port))
        statsd.flush()
        assert statsd.wait_for(f"airflow.{metrics.EVENTS_DELIVERED}.crm", timeout=1) == [
            f"airflow.{metrics.EVENTS_DELIVERED}.crm:3|c"
        ]
        assert f"airflow.{metrics.EVENTS_DELIVERED}:3|c" in statsd.lines  # the sum over streams, tagged
        per_stream = {parse(line)[0] for line in statsd.lines if parse(line)[0].endswith(".crm")}
        assert per_stream == {f"airflow.{name}.crm" for name in metrics.NAMES}


def test_the_stream_is_the_running_dags_and_none_for_the_single_dag_or_outside_a_task(monkeypatch):
    import airflow.sdk

    assert metrics.current_stream() is None  # no task is running here
    for dag_id, stream in (("auth0_webhooks__crm", "crm"), ("auth0_webhooks", None), ("other", None)):
        monkeypatch.setattr(airflow.sdk, "get_current_context", lambda d=dag_id: {"dag": SimpleNamespace(dag_id=d)})
        assert metrics.current_stream() == stream
