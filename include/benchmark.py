"""``make bench``: throughput, catch-up and memory of auth0_webhooks on a real Airflow, written to docs/.

Runs ``airflow standalone`` (SQLite, LocalExecutor) in a temporary home against the Auth0 stand-in
and a signature-checking receiver on 127.0.0.1, and measures:

- events per second for BATCH_SIZE 1, 10 and 100 at CONCURRENT_CALLS 5 (trigger to committed);
- Airflow's floor: the same number of no-op mapped task instances (include/bench_floor_dag.py), also
  with each importing the HTTP provider as any HttpOperator DAG does; measured alternately with
  BATCH_SIZE=1, so that both see the same machine;
- the same delivery by a plain Python script with 5 threads, no Airflow;
- tokens requested over simulated days of 5-minute runs;
- the DAG file's parse (``parse``): the dag-processor's own figure, taken in the throughput rounds; and
  as a task process parses it, cold, as on Celery, side by side with the simplest HttpOperator DAG's
  (include/parse_timing.py), warm, with Airflow and the HTTP provider imported (what our code adds), and
  with the modules the preload plugin (plugins/auth0_webhooks_plugin.py) imports in the scheduler, as on
  LocalExecutor. No test times a parse: on a shared machine running two suites at once, the figure
  belongs here, beside the one it is compared with;
- what each execution-API call of a mapped task instance took, ours against the floor's, from the
  api-server's access log and the task instances in Airflow's database;
- BATCH_SIZE=1 at the per-run cap, 1,024 deliveries in one run (Airflow's ``max_map_length``): what a
  task instance costs there against the 200-delivery runs and against the floor;
- run time against events per run at BATCH_SIZE=1 (50, 200, 500 and 1,024 events), drawn with its
  least-squares line in docs/benchmarks-scaling.png;
- 100 events of 1 MB in one run: the time, and the peak resident memory of Airflow's processes;
- draining a backlog of 100,000 events while the stand-in limits reads as Auth0 does for Professional
  tenants (burst 10, 100 requests a minute; BATCH_SIZE=100) and for Enterprise ones (burst 50, 960 a
  minute; BATCH_SIZE 1000 and 100): the time against the minimum the limit allows, the Auth0 requests
  per 1,000 events, and each run's events and duration;
- two streams (a streams file, two DAGs, two receivers) each draining the same backlog of 50,000
  events at once under the Professional limit, reading the tenant in turns in one pool slot: the time
  for both against the minimum for both (1,000 requests, 10 minutes), and the 429s.

Each throughput figure is the median of ``--repeats`` runs. Each scenario starts its own Airflow in a fresh
home, and its figures go to docs/benchmarks.json as soon as it is done: one that fails leaves the others,
and ``--only`` measures chosen scenarios again, keeping the rest. Writes docs/benchmarks.md,
docs/benchmarks.png and docs/benchmarks-scaling.png. Everything it starts is stopped by process id at the end.
"""

from __future__ import annotations

import argparse
import bisect
import copy
import itertools
import json
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pendulum
import requests

import local_airflow
import parse_timing
from auth0_provider import signing
from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.hooks.token_cache import MemoryTokenCache
from auth0_provider.names import (
    AUTH0_CONN_ID,
    DAG_ID,
    DELIVER_TASK,
    FETCH_TASK,
    PREFETCH_TASK,
    READ_TASK,
    WATERMARK_VARIABLE,
    StreamNames,
    read_pool,
)
from auth0_provider.streams import DEFAULT_FILE_NAME, dag_files, read_entries
from auth0_standin import MAX_TAKE, Auth0StandIn, RateLimit, load_fixture_lines
from auth0_webhooks_plugin import PRELOADED_MODULES
from webhook_receiver import WebhookReceiver

DAG = DAG_ID
WATERMARK = WATERMARK_VARIABLE
FLOOR_DAG = "bench_floor"
DOCS = local_airflow.REPO / "docs"
SAVED = DOCS / "benchmarks.json"
CONCURRENCY = 5
BATCH_SIZES = (1, 10, 100)
# Airflow's [core] max_map_length: the most task instances one mapped task can have in a run, so the most
# deliveries a BATCH_SIZE=1 run can make
CAP_DELIVERIES = 1024
BIG_EVENT_BYTES = 1024 * 1024  # the request body each "1 MB" event carries
MB = 1_000_000  # memory is reported in MB of 10^6 bytes, so the 400 MB target is the stricter reading

# The issue's targets, each checked against the measured figure in the report.
FLOOR_SHARE_TARGET = 0.90  # BATCH_SIZE=1's rate against Airflow's no-op floor, at 200 and at 1,024
CAP_COST_TOLERANCE = 0.10  # a task instance at 1,024 deliveries costs what one at 200 does, within 10%
BIG_SECONDS_TARGET = 15.0
BIG_MEMORY_TARGET = 400 * MB  # compared to the largest single Airflow process's peak RSS
PARSE_TARGET = 0.2
# A task process's cold parse of our DAG file against the simplest HttpOperator DAG's, measured in turn, and
# our code alone (Airflow and the HTTP provider already imported): what the parse tests held until issue 28.
PARSE_COLD_EXTRA_TARGET = 0.15
PARSE_WARM_TARGET = 0.1
PROFESSIONAL_RATIO_TARGET = 1.2
ENTERPRISE_RATIO_TARGET = 1.5  # for the better of the two batch sizes
REQUESTS_PER_1000_TARGET = 11
TOKENS_PER_DAY_TARGET = 2
# What issue 16 found before each delivery pulled only its own page: these must not get worse.
BEFORE_BIG = {"commit": "7045358", "day": "2026-12-01", "seconds": 130.0, "peak_process_bytes": 1_864e6}
BEFORE_PAGES = {"professional ratio": 1.07, "requests per 1000": 10.0, "tokens per day": 1.33, "parse": 0.070}

# AUTH0_WEBHOOKS_<KEY> settings beyond the code's defaults, for tuning: the drains get DRAIN_SETTINGS, every
# other scenario RUN_SETTINGS (--drain-settings / --run-settings KEY=VALUE add to them for one invocation),
# e.g. {"MAX_EVENTS_PER_RUN": "20000", "MAX_BYTES_PER_RUN": "32MB"}. Empty: the figures are the defaults'.
# The report names any setting a scenario ran with.
DRAIN_SETTINGS: dict[str, str] = {}
RUN_SETTINGS: dict[str, str] = {}


@dataclass(frozen=True)
class ReadLimit:
    """An Auth0 plan's read limit on the Logs API, as the stand-in enforces it."""

    plan: str
    burst: int
    per_minute: float

    def bucket(self) -> RateLimit:
        """A full bucket for one drain (RateLimit keeps its tokens)."""
        return RateLimit(burst=self.burst, per_minute=self.per_minute)

    def minimum_seconds(self, events: int) -> float:
        """Pages of 100 events, one request each, at the refill rate (the burst is too small to matter)."""
        return events / MAX_TAKE / self.per_minute * 60


PROFESSIONAL = ReadLimit("Professional", burst=10, per_minute=100)
ENTERPRISE = ReadLimit("Enterprise", burst=50, per_minute=960)


@dataclass(frozen=True)
class DrainPlan:
    label: str  # its key in Results.drains and Results.drain_runs ("professional" is Results.drain)
    limit: ReadLimit
    batch_size: int


DRAINS = {
    "drain-pro": DrainPlan("professional", PROFESSIONAL, 100),
    "drain-enterprise-1000": DrainPlan("enterprise 1000", ENTERPRISE, 1000),
    "drain-enterprise-100": DrainPlan("enterprise 100", ENTERPRISE, 100),
}
STREAMS_DRAIN = "drain-pro-2streams"
STREAMS_RATIO_TARGET = 1.3
STREAM_NAMES = ("a", "b")  # each delivers every event of the backlog to a receiver of its own
# In the order a full run measures them; --only takes these names, or an alias.
SCENARIOS = ("parse", "throughput", "cap", "scaling", "big", "big-batched", *DRAINS, STREAMS_DRAIN)
BIG_BATCH = 10  # "big-batched": the same 1 MB events, ten to a delivery
ALIASES = {
    "drain-enterprise": ("drain-enterprise-1000", "drain-enterprise-100"),
    "drains": (*DRAINS, STREAMS_DRAIN),
}


@dataclass
class Results:
    machine: dict[str, str] = field(default_factory=dict)
    events: int = 0
    repeats: int = 0
    # scenario -> durations; "cap" holds the runs of cap_deliveries deliveries
    seconds: dict[str, list[float]] = field(default_factory=dict)
    tokens_per_day: float = 0.0
    # "dag_processor": Airflow's own last_parse_duration (throughput); the rest medians of parse_runs (parse):
    # "cold": a fresh interpreter, as a task process; "cold http": the simplest HttpOperator DAG the same way,
    # in turn with it; "ours": ours with the HTTP provider already imported; "preloaded": with every module
    # the preload plugin imports, as a LocalExecutor task process inherits them from the scheduler
    parse_seconds: dict[str, float] = field(default_factory=dict)
    parse_samples: list[float] = field(default_factory=list)  # last_parse_duration while idle, per BATCH_SIZE=1 round
    simulated_days: int = 0
    drain: dict[str, float] = field(default_factory=dict)  # the Professional drain (DRAINS["drain-pro"])
    run_ids: dict[str, list[str]] = field(default_factory=dict)  # scenario -> the runs measured
    # scenario -> execution-API call -> ms a mapped task instance spent on it (api_call_ms)
    api_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    mapped_input_bytes: int = 0  # the fetch task's list of deliveries in a BATCH_SIZE=1 run, as stored
    # Fields below were added later: each has a default, so an older benchmarks.json still loads.
    cap_deliveries: int = 0  # deliveries in each run of seconds["cap"]
    cap_api_ms: dict[str, float] = field(default_factory=dict)  # as api_ms["batch 1"], for the runs at the cap
    cap_input_bytes: int = 0  # as mapped_input_bytes, for a run at the cap
    scaling_runs: list[dict[str, Any]] = field(default_factory=list)  # BATCH_SIZE=1: events, seconds, run_id
    big_events: int = 0  # events in each run of big_runs
    big_event_bytes: int = 0  # the request body's size in each of them
    big_runs: list[dict[str, Any]] = field(default_factory=list)  # seconds, received, AirflowMemory.figures()
    big_batched_runs: list[dict[str, Any]] = field(default_factory=list)  # as big_runs, at BATCH_SIZE=BIG_BATCH
    drains: dict[str, dict[str, float]] = field(default_factory=dict)  # "enterprise 1000" / "enterprise 100", as drain
    drain_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # drain label -> run_rows()
    settings: dict[str, dict[str, str]] = field(default_factory=dict)  # scenario -> AUTH0_WEBHOOKS_* it added
    measured: dict[str, str] = field(default_factory=dict)  # scenario -> when it last succeeded (UTC, minutes)
    errors: dict[str, str] = field(default_factory=dict)  # scenario -> why its last measurement failed
    stream_drain: dict[str, Any] = field(default_factory=dict)  # STREAMS_DRAIN's figures (drain_streams)
    parse_runs: dict[str, list[float]] = field(default_factory=dict)  # "parse": each parse, as parse_seconds

    @classmethod
    def load(cls, path: Path = SAVED) -> Results:
        """The figures saved in ``path``: keys this version does not know are left out, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

    def record(self, scenario: str, measured: tuple[float, str]) -> None:
        """One throughput run: its seconds, and its run id for api_call_ms."""
        seconds, run_id = measured
        self.seconds.setdefault(scenario, []).append(seconds)
        self.run_ids.setdefault(scenario, []).append(run_id)

    def rate(self, scenario: str, units: int) -> float:
        return units / statistics.median(self.seconds[scenario])

    def has(self, *scenarios: str) -> bool:
        return all(self.seconds.get(s) for s in scenarios)


# -- what the tenant holds -------------------------------------------------------------------


def api_templates() -> list[dict]:
    """Real Management API events from the fixtures, to clone with new ids."""
    return [e for e in map(json.loads, load_fixture_lines()) if e["type"] == "sapi"]


def add_events(tenant: Auth0StandIn, count: int) -> list[str]:
    templates = api_templates()
    ids = []
    for n in range(count):
        event = copy.deepcopy(templates[n % len(templates)])
        event["details"]["request"]["path"] = f"/api/v2/users/auth0|bench{n}"
        ids.append(tenant.add_event(event).log_id)
    return ids


def add_big_events(tenant: Auth0StandIn, count: int, size: int = BIG_EVENT_BYTES) -> list[str]:
    """``count`` Management API events whose request body is a string of ``size`` bytes and a bit."""
    template = api_templates()[0]
    ids = []
    for n in range(count):
        event = copy.deepcopy(template)
        # each body different, so that nothing on the way can share one string between events
        event["details"]["request"]["body"] = f"{n:03d}" + "y" * size
        ids.append(tenant.add_event(event).log_id)
    return ids


# -- an Airflow to measure -------------------------------------------------------------------


class Airflow:
    """``airflow standalone`` with the product DAG and the floor DAG, restarted per configuration."""

    def __init__(
        self,
        home: Path,
        tenant: Auth0StandIn,
        receiver: WebhookReceiver,
        streams: str | None = None,
        connections: dict[str, str] | None = None,
    ) -> None:
        """``streams``: a streams file to deploy (the single DAG then steps aside); ``connections``: more
        connections by id, as AIRFLOW_CONN_* values."""
        self.home, self.tenant, self.receiver = home, tenant, receiver
        self.dags = home / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        self.connections = connections or {}
        self.dag_ids: tuple[str, ...] = (DAG, FLOOR_DAG)
        if streams is not None:
            (self.dags / DEFAULT_FILE_NAME).write_text(streams)
            dag_files(self.dags / DEFAULT_FILE_NAME, self.dags)
            names = read_entries(self.dags / DEFAULT_FILE_NAME)
            self.dag_ids = (*(StreamNames.for_stream(name).dag_id for name in names), FLOOR_DAG)
        for source in (
            local_airflow.REPO / "dags" / "auth0_webhooks.py",
            Path(__file__).with_name("bench_floor_dag.py"),
        ):
            link = self.dags / source.name
            if not link.exists():
                link.symlink_to(source)
        self.port = local_airflow.free_port()
        self.processes: list = []
        self.api: local_airflow.AirflowApi | None = None

    @contextmanager
    def running(self, **settings: str) -> Iterator[local_airflow.AirflowApi]:
        extra = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW_CONN_AUTH0_DEFAULT": self.tenant.connection_uri(),
            "AIRFLOW_CONN_AUTH0_WEBHOOK": self.receiver.connection_uri(),
            "AUTH0_WEBHOOKS_START_FROM": "now",
            "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0",
            "AUTH0_WEBHOOKS_CONCURRENT_CALLS": str(CONCURRENCY),
            **{f"AUTH0_WEBHOOKS_{k.upper()}": v for k, v in settings.items()},
            **{f"AIRFLOW_CONN_{conn_id.upper()}": uri for conn_id, uri in self.connections.items()},
        }
        env = local_airflow.airflow_env(self.home, self.port, extra)
        with open(self.home / "standalone.log", "a") as log:
            self.processes = [local_airflow.start(["standalone"], env, log)]
            try:
                base = f"http://127.0.0.1:{self.port}"
                local_airflow.wait_for(f"{base}/api/v2/monitor/health", 300, self.processes)
                self.api = local_airflow.AirflowApi(base, local_airflow.admin_password(self.home))
                for dag_id in self.dag_ids:
                    self.api.wait_for_dag(dag_id, 180)
                    self.api.set_paused(dag_id, False)
                yield self.api
            finally:
                local_airflow.stop(self.processes)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        return self.api.trigger(dag_id, {"logical_date": None, "conf": conf or {}})

    def idle(self, clear_of_tick: float = 60) -> None:
        """Wait until no run of either DAG is queued or running (a 5-minute tick may be), and the DAG's next
        scheduled run is at least ``clear_of_tick`` seconds away: a tick that falls between adding a
        scenario's events and triggering its run would take them first (a run of 1,024 deliveries lasts
        longer than 5 minutes, so its next tick is close when it ends)."""
        for _ in range(3):  # a tick waited out ends idle and more than 4 minutes from the next one
            for dag_id in self.dag_ids:
                for state in ("queued", "running"):
                    for run in self.api.call("GET", f"/dags/{dag_id}/dagRuns?state={state}")["dag_runs"]:
                        self.api.wait_for_run(dag_id, run["dag_run_id"], 1800)
            due = self.api.call("GET", f"/dags/{self.dag_ids[0]}")["next_dagrun_run_after"]
            wait = (pendulum.parse(due) - pendulum.now("UTC")).total_seconds() if due else float("inf")
            if wait > clear_of_tick:
                return
            time.sleep(max(wait, 0) + 15)  # the scheduler creates the tick's run, then it is waited for above
        raise RuntimeError(f"{self.dag_ids[0]} never had {clear_of_tick:.0f} s clear of a scheduled run")

    def idle_parse_seconds(self) -> float:
        """The dag-processor's ``last_parse_duration`` for a parse made while no run is going.

        A parse that falls during a run shares the 2 cores with 5 task processes and measures them; the
        dag-processor parses the file again every 10 s (local_airflow.airflow_env), so waiting costs little.
        """
        self.idle()
        dag = before = self.api.call("GET", f"/dags/{DAG}")

        def parsed_again() -> bool:
            nonlocal dag
            dag = self.api.call("GET", f"/dags/{DAG}")
            return dag["last_parsed_time"] != before["last_parsed_time"]

        local_airflow.wait_until(parsed_again, 120, "a parse while idle", 1)
        return dag["last_parse_duration"]


# -- the processes it runs ------------------------------------------------------------------


class AirflowMemory:
    """The resident memory (VmRSS) of every process under ``airflow standalone``, sampled on a thread.

    Task processes live for a second or two, so the tree is walked again every ``every`` seconds, from
    the ppid links in /proc/*/stat, rather than once; a process gone between listing and reading is
    skipped. ``idle_sum`` is taken on entering, before the run is triggered.
    """

    def __init__(self, roots: list[int], every: float = 0.05) -> None:
        self.roots, self.every = set(roots), every
        self.idle_sum = self.peak_sum = self.peak_process = self.samples = 0
        self.idle_pss = self.peak_pss = self.peak_process_idle = 0
        self.idle: dict[int, int] = {}  # pid -> resident bytes before the trigger
        self.peak_role = ""
        self.started = self.ended = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[int, int]:
        """pid -> resident bytes, for the roots and every process descended from them."""
        children: dict[int, list[int]] = defaultdict(list)
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with suppress(OSError, ValueError, IndexError):
                    stat = Path(entry.path, "stat").read_bytes()
                    # the command name, in parentheses, may hold spaces: the fields after its ")" are fixed
                    children[int(stat[stat.rfind(b")") + 2 :].split()[1])].append(int(entry.name))
        tree, todo = set(), list(self.roots)
        while todo:  # bounded: each pid is taken once
            pid = todo.pop()
            if pid not in tree:
                tree.add(pid)
                todo += children.get(pid, [])
        return {pid: size for pid in tree if (size := resident_bytes(pid))}

    def __enter__(self) -> AirflowMemory:
        self.idle = self.sample()
        self.idle_sum = sum(self.idle.values())
        self.idle_pss = sum(proportional_bytes(pid) for pid in self.idle)
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="airflow-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.ended = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._stop.wait(self.every)

    def _take(self) -> None:
        sizes = self.sample()
        self.samples += 1
        self.peak_sum = max(self.peak_sum, sum(sizes.values()))
        if self.samples % 4 == 1:  # reading smaps_rollup of ~45 processes takes a while: every 4th sample
            self.peak_pss = max(self.peak_pss, sum(proportional_bytes(pid) for pid in sizes))
        if sizes:
            pid = max(sizes, key=sizes.__getitem__)
            if sizes[pid] > self.peak_process:
                # named when it peaks: a forked task process gets its title after it starts
                self.peak_process, self.peak_role = sizes[pid], process_role(pid) or self.peak_role
                self.peak_process_idle = self.idle.get(pid, 0)

    def figures(self) -> dict[str, Any]:
        return {
            "idle_sum_bytes": self.idle_sum,
            "peak_sum_bytes": self.peak_sum,
            "peak_process_bytes": self.peak_process,
            "peak_process_role": self.peak_role,
            "peak_process_idle_bytes": self.peak_process_idle,  # 0: the process did not exist before the trigger
            # proportional set size: a page shared by n processes counts 1/n in each, so the sum is what they hold
            "idle_pss_bytes": self.idle_pss,
            "peak_pss_bytes": self.peak_pss,
            "samples": self.samples,
            "sample_every_seconds": (self.ended - self.started) / max(self.samples, 1),
        }


def resident_bytes(pid: int) -> int:
    """VmRSS of ``pid``; 0 for a process that has gone or is a zombie (which has none)."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text(errors="replace").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def proportional_bytes(pid: int) -> int:
    """Pss of ``pid`` (/proc/<pid>/smaps_rollup); 0 for a process that has gone."""
    with suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(errors="replace").splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def process_role(pid: int) -> str:
    """What an Airflow process is, from its command line: ``airflow scheduler``, ``airflow api-server``, a
    task process's title; the interpreter and directories left out."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if args and Path(args[0]).name.startswith("python"):
        args = args[1:]
    role = " ".join(a.rsplit("/", 1)[-1] if a.startswith("/") else a for a in args)
    return re.sub(r" -- host:\S+ port:\d+", "", role)[:120]  # the api-server's title ends with its address


# -- the measurements ------------------------------------------------------------------------


def deliver_once(airflow: Airflow, count: int, timeout: float = 1800) -> tuple[float, str]:
    """Seconds from triggering a run to having every one of ``count`` new events delivered and committed,
    and the run's id."""
    airflow.idle()
    airflow.api.set_watermark(airflow.tenant.add_event(api_templates()[0]).log_id)
    ids = add_events(airflow.tenant, count)
    before = len(airflow.receiver.delivered_log_ids())
    start = time.monotonic()
    run_id = airflow.trigger(DAG)
    local_airflow.wait_until(lambda: airflow.api.watermark() == ids[-1], timeout, f"{count} events committed")
    elapsed = time.monotonic() - start
    delivered = len(airflow.receiver.delivered_log_ids()) - before
    if delivered < count:
        raise RuntimeError(f"only {delivered} of {count} events arrived")
    return elapsed, run_id


def big_once(airflow: Airflow, count: int, size: int = BIG_EVENT_BYTES, timeout: float = 900) -> dict[str, Any]:
    """``count`` events of ``size`` bytes each: seconds from the trigger to the watermark committed past the
    last, whether the receiver got them all, and the Airflow processes' memory (AirflowMemory) meanwhile."""
    airflow.idle()
    airflow.api.set_watermark(airflow.tenant.add_event(api_templates()[0]).log_id)
    ids = add_big_events(airflow.tenant, count, size)
    airflow.receiver.reset()  # only this run's bodies kept (100 MB) and counted
    with AirflowMemory([p.pid for p in airflow.processes]) as memory:
        start = time.monotonic()
        run_id = airflow.trigger(DAG)
        local_airflow.wait_until(
            lambda: airflow.api.watermark() == ids[-1], timeout, f"{count} events of {size:,} bytes committed"
        )
        elapsed = time.monotonic() - start
        airflow.idle()  # the run's last tasks (commit, drain) and any run it started count towards the peak
    received = set(airflow.receiver.delivered_log_ids())
    airflow.receiver.reset()
    return {
        "seconds": elapsed,
        "run_id": run_id,
        "events": count,
        "received": sum(log_id in received for log_id in ids),
        **memory.figures(),
    }


def floor_once(airflow: Airflow, count: int, imports: tuple[str, ...] = ()) -> tuple[float, str]:
    airflow.idle()
    start = time.monotonic()
    run_id = airflow.trigger(FLOOR_DAG, {"n": count, "imports": list(imports)})
    if airflow.api.wait_for_run(FLOOR_DAG, run_id, 1800) != "success":
        raise RuntimeError("the floor DAG failed")
    return time.monotonic() - start, run_id


def plain_script_once(tenant: Auth0StandIn, receiver: WebhookReceiver, count: int) -> float:
    """The same job without Airflow: read with a token, then POST each signed event on 5 threads."""
    ids = add_events(tenant, count + 1)
    start = time.monotonic()
    session = requests.Session()
    token = session.post(
        f"{tenant.base_url}/oauth/token",
        json=tenant.token_request(),
        timeout=10,
    ).json()["access_token"]
    events: list[dict] = []
    after = ids[0]
    while True:
        page = session.get(
            f"{tenant.base_url}/api/v2/logs",
            params={"from": after, "take": 100},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        if not page:
            break
        events += page
        after = page[-1]["log_id"]
    secrets = signing.parse_signing_secrets(receiver.secret)

    def post(event: dict) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **signing.signature_headers(event["log_id"], body, secrets)}
        requests.post(receiver.url, data=body, headers=headers, timeout=30).raise_for_status()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(post, events))
    return time.monotonic() - start


def tokens_per_day(tenant: Auth0StandIn, days: int) -> float:
    """A fresh hook per 5-minute run, as every task instance has, sharing one token store; clock simulated."""
    os.environ["AIRFLOW_CONN_AUTH0_DEFAULT"] = tenant.connection_uri()
    cache, before, now = MemoryTokenCache(), tenant.tokens_issued, time.time()
    for run in range(days * 24 * 12):
        with Auth0Hook(token_cache=cache, clock=lambda t=now + run * 300: t) as hook:
            hook.get_access_token()
    return (tenant.tokens_issued - before) / days


def drain(
    home: Path,
    receiver: WebhookReceiver,
    count: int,
    plan: DrainPlan,
    settings: dict[str, str] | None = None,
    scenario: str = "drain-pro",
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Time to deliver and commit a backlog of ``count`` events under ``plan``'s read limit and batch size,
    and each run it took (run_rows).

    The tenant is empty while Airflow starts, so no scheduled run can start on the backlog before
    the measured trigger; a run that did anyway makes the measurement fail rather than look faster.
    ``settings`` are AUTH0_WEBHOOKS_* beyond the defaults (DRAIN_SETTINGS).
    """
    with Auth0StandIn(rate_limit=plan.limit.bucket()) as tenant:
        airflow = Airflow(home, tenant, receiver)
        with airflow.running(**{**(settings or {}), "batch_size": str(plan.batch_size), "start_from": "oldest"}):
            with suppress(RuntimeError):
                airflow.api.call("DELETE", f"/variables/{WATERMARK}")
            # A tick missed while Airflow was stopped is made up for once the scheduler runs: wait for it
            local_airflow.wait_until(
                lambda: (
                    pendulum.parse(airflow.api.call("GET", f"/dags/{DAG}")["next_dagrun_run_after"]).timestamp()
                    > time.time()
                ),
                180,
                "the scheduler to create the scheduled run it owes",
                every=2,
            )
            airflow.idle()
            if (to_tick := 300 - time.time() % 300) < 120:  # let the 5-minute tick pass before the backlog exists
                time.sleep(to_tick + 5)
                airflow.idle()
            before = {r["dag_run_id"] for r in dag_runs(airflow.api, DAG)}
            ids = add_events(tenant, count)
            tenant.requests.clear()
            receiver.reset()
            started = time.time()
            start = time.monotonic()
            airflow.trigger(DAG)
            local_airflow.wait_until(
                lambda: airflow.api.watermark() == ids[-1], 3600, f"a backlog of {count} drained", every=2
            )
            elapsed = time.monotonic() - start
            airflow.idle()
            runs = [r for r in dag_runs(airflow.api, DAG) if r["dag_run_id"] not in before]
            if any(pendulum.parse(r["queued_at"]).timestamp() < started for r in runs):
                raise RuntimeError(
                    "a scheduled run started on the backlog before the trigger: measure the drain again with "
                    f"`include/benchmark.py --only {scenario}` (the other figures are kept in docs/benchmarks.json)"
                )
            reads = [
                ti
                for run in runs
                for task_id in (FETCH_TASK, PREFETCH_TASK)
                for ti in task_instances(airflow.api, run["dag_run_id"], task_id)["task_instances"]
                if ti["end_date"]
            ]
            rows = run_rows(airflow.api, runs, list(receiver.deliveries))
        delivered = len(receiver.delivered_log_ids())
        auth0_requests = sum(tenant.requests.values())
        return {
            "events": count,
            "seconds": elapsed,
            "minimum_seconds": plan.limit.minimum_seconds(count),
            "burst": plan.limit.burst,
            "per_minute": plan.limit.per_minute,
            "batch_size": plan.batch_size,
            "delivered": delivered,
            "auth0_requests": auth0_requests,
            "requests_per_1000": auth0_requests / delivered * 1000,
            "runs": len(runs),
            "read_seconds": sum(ti["duration"] or 0 for ti in reads),
            "rate_limited": tenant.rate_limited,
        }, rows


def drain_streams(home: Path, count: int, limit: ReadLimit = PROFESSIONAL) -> dict[str, Any]:
    """Two streams, each with its own receiver, catching up on the same backlog of ``count`` events at once
    under ``limit``, reading the tenant in turns in its one-slot read pool: the time until both have
    delivered and committed it all, each stream's own time, the Auth0 requests and the 429s."""
    secret = signing.generate_signing_secret()
    streams = "streams:\n" + "".join(
        f"  {name}:\n    webhook_conn_id: stream_{name}\n    batch_size: 100\n    log_types: sapi\n"
        for name in STREAM_NAMES
    )
    with (
        Auth0StandIn(rate_limit=limit.bucket()) as tenant,
        WebhookReceiver(secret=secret) as first,
        WebhookReceiver(secret=secret) as second,
    ):
        receivers = dict(zip(STREAM_NAMES, (first, second), strict=True))
        connections = {f"stream_{name}": receiver.connection_uri() for name, receiver in receivers.items()}
        airflow = Airflow(home, tenant, first, streams=streams, connections=connections)
        names = {name: StreamNames.for_stream(name) for name in STREAM_NAMES}
        with airflow.running():
            airflow.api.call("POST", "/pools", json={"name": read_pool(AUTH0_CONN_ID), "slots": 1})
            airflow.idle()
            if (to_tick := 300 - time.time() % 300) < 150:  # let the 5-minute tick pass before the backlog exists
                time.sleep(to_tick + 5)
                airflow.idle()
            before = {name: {r["dag_run_id"] for r in dag_runs(airflow.api, n.dag_id)} for name, n in names.items()}
            ids = add_events(tenant, count)
            tenant.requests.clear()
            tenant.rate_limited = 0
            for receiver in receivers.values():
                receiver.reset()
            started, start = time.time(), time.monotonic()
            for n in names.values():
                airflow.trigger(n.dag_id)
            done: dict[str, float] = {}

            def both_done() -> bool:
                for name, n in names.items():
                    if name not in done and airflow.api.watermark(n.watermark_variable) == ids[-1]:
                        done[name] = time.monotonic() - start
                return len(done) == len(names)

            local_airflow.wait_until(both_done, 3600, f"two streams draining {count} events each", every=2)
            elapsed = max(done.values())
            airflow.idle()
            runs = {
                name: [r for r in dag_runs(airflow.api, n.dag_id) if r["dag_run_id"] not in before[name]]
                for name, n in names.items()
            }
            if any(pendulum.parse(r["queued_at"]).timestamp() < started for rs in runs.values() for r in rs):
                raise RuntimeError(
                    f"a scheduled run started on the backlog before the trigger: measure again with "
                    f"`include/benchmark.py --only {STREAMS_DRAIN}`"
                )
            reads = sorted(
                (pendulum.parse(ti["start_date"]).timestamp(), pendulum.parse(ti["end_date"]).timestamp())
                for name, n in names.items()
                for run in runs[name]
                for task_id in (READ_TASK, PREFETCH_TASK)
                for ti in task_instances(airflow.api, run["dag_run_id"], task_id, dag_id=n.dag_id)["task_instances"]
                if ti["start_date"] and ti["end_date"]
            )
        overlapping = sum(1 for (_, end), (begin, _) in itertools.pairwise(reads) if begin < end - 0.05)
        free = [max(0.0, begin - end) for (_, end), (begin, _) in itertools.pairwise(reads)]  # nobody in the slot
        return {
            "events_per_stream": count,
            "streams": len(names),
            "seconds": elapsed,
            "stream_seconds": {name: round(seconds, 1) for name, seconds in done.items()},
            "minimum_seconds": limit.minimum_seconds(count) * len(names),
            "burst": limit.burst,
            "per_minute": limit.per_minute,
            "delivered": {name: len(set(r.delivered_log_ids())) for name, r in receivers.items()},
            "auth0_requests": sum(tenant.requests.values()),
            "rate_limited": tenant.rate_limited,
            "runs": {name: len(rs) for name, rs in runs.items()},
            "reads": len(reads),
            "overlapping_reads": overlapping,
            "slot_free_seconds": round(sum(free), 1),
            "slot_free_longest": round(max(free, default=0.0), 1),
        }


def measure_stream_drain(results: Results, args: argparse.Namespace, home: Path) -> None:
    figures = drain_streams(home, args.stream_drain_events)
    print(f"{STREAMS_DRAIN}: {figures}", flush=True)
    results.stream_drain = figures


def dag_runs(api: local_airflow.AirflowApi, dag_id: str) -> list[dict]:
    """Every run of ``dag_id``, oldest first: the API answers at most 100 a request ([api] maximum_page_limit)."""
    runs: list[dict] = []
    for offset in range(0, 100_000, 100):
        page = api.call("GET", f"/dags/{dag_id}/dagRuns?order_by=id&limit=100&offset={offset}")["dag_runs"]
        runs += page
        if len(page) < 100:
            break
    return runs


def task_instances(
    api: local_airflow.AirflowApi, run_id: str, task_id: str, limit: int = 100, dag_id: str = DAG
) -> dict:
    """The instances of one task in one run of the DAG (up to ``limit``), and ``total_entries``."""
    return api.call(
        "GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?task_id={task_id}&limit={limit}"
    )


def run_rows(api: local_airflow.AirflowApi, runs: list[dict], deliveries: list) -> list[dict[str, Any]]:
    """Each finished run, in order: when it started, how long it took (start to end, as Airflow has them),
    its delivery task instances, and the events they delivered.

    A run's events are those of the receiver's deliveries that arrived while it ran: the DAG runs one run
    at a time (max_active_runs=1), and a run's deliveries are its own tasks.
    """
    arrivals = sorted((d.received_at, events_in(d.body)) for d in deliveries)
    times = [moment for moment, _ in arrivals]
    rows = []
    for run in sorted((r for r in runs if r["start_date"] and r["end_date"]), key=lambda r: r["start_date"]):
        start, end = (pendulum.parse(run[key]).timestamp() for key in ("start_date", "end_date"))
        delivered = arrivals[bisect.bisect_left(times, start) : bisect.bisect_right(times, end)]
        rows.append(
            {
                "run_id": run["dag_run_id"],
                "started": start,
                "seconds": end - start,
                "deliveries": task_instances(api, run["dag_run_id"], DELIVER_TASK, limit=1)["total_entries"],
                "events": sum(n for _, n in delivered),
            }
        )
    return rows


def events_in(body: bytes) -> int:
    """Events a delivery's body carries: a batch is a JSON list, a single event an object."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return 0
    return len(parsed) if isinstance(parsed, list) else 1


# -- the scenarios: each in an Airflow of its own, in a fresh home ---------------------------


def measure_throughput(results: Results, args: argparse.Namespace, home: Path) -> None:
    fresh = Results(machine=machine(), events=args.events, repeats=args.repeats)
    with Auth0StandIn() as tenant, WebhookReceiver(secret=signing.generate_signing_secret()) as receiver:
        fresh.seconds["script"] = [plain_script_once(tenant, receiver, args.events) for _ in range(args.repeats)]
        fresh.simulated_days = 3
        fresh.tokens_per_day = tokens_per_day(tenant, fresh.simulated_days)
        airflow = Airflow(home, tenant, receiver)
        for b in BATCH_SIZES:
            with airflow.running(**{**args.run_settings, "batch_size": str(b)}):
                airflow.idle()
                for _ in range(args.repeats):
                    fresh.record(f"batch {b}", deliver_once(airflow, args.events))
                    if b == 1:  # alternately, so that a machine drifting over time favours neither
                        fresh.record("floor", floor_once(airflow, args.events))
                        fresh.record("floor http", floor_once(airflow, args.events, (parse_timing.HTTP_PROVIDER,)))
                        fresh.parse_samples.append(airflow.idle_parse_seconds())
            print(f"batch {b}: {fresh.seconds[f'batch {b}']}", flush=True)
    print(f"floors: {fresh.seconds['floor']}, {fresh.seconds['floor http']}", flush=True)
    print(f"script: {fresh.seconds['script']}", flush=True)
    print(f"tokens per day: {fresh.tokens_per_day}", flush=True)
    fresh.parse_seconds = {"dag_processor": statistics.median(fresh.parse_samples)}  # a task's parse: "parse"
    print(f"DAG parse by the dag-processor: {fresh.parse_seconds}", flush=True)
    fresh.api_ms = api_call_ms(home, {s: fresh.run_ids[s] for s in ("batch 1", "floor http")})
    fresh.mapped_input_bytes = stored_xcom_bytes(home, fresh.run_ids["batch 1"][-1], FETCH_TASK)
    print(f"execution-API ms per task instance: {fresh.api_ms}", flush=True)
    # only now, with every figure in: a failure above leaves the ones measured before
    kept = "machine events repeats tokens_per_day parse_samples simulated_days api_ms mapped_input_bytes"
    for name in kept.split():
        setattr(results, name, getattr(fresh, name))
    results.parse_seconds.update(fresh.parse_seconds)
    results.seconds.update(fresh.seconds)
    results.run_ids.update(fresh.run_ids)


def measure_parse(results: Results, args: argparse.Namespace, home: Path) -> None:
    """A task process's parse of the DAG file, each in a fresh interpreter with the bench's Airflow
    environment: cold, in turn with the simplest HttpOperator DAG (parse_timing.side_by_side), then with
    Airflow and the HTTP provider imported first, then with every module the preload plugin imports.
    No Airflow runs meanwhile, so nothing else shares the machine."""
    settings = {f"AUTH0_WEBHOOKS_{k.upper()}": v for k, v in args.run_settings.items()}
    env = {**local_airflow.airflow_env(home, local_airflow.free_port()), **settings}
    folders = {"cold": parse_timing.DAGS, "cold http": parse_timing.simplest_http_dag(home / "http_dag")}
    parse_timing.side_by_side(folders, 1, env)  # unmeasured: every measured parse finds the bytecode cached
    runs = parse_timing.side_by_side(folders, args.parse_rounds, env)
    for name, modules in (
        ("ours", ("airflow.sdk", parse_timing.HTTP_PROVIDER)),
        ("preloaded", ("airflow.sdk", *PRELOADED_MODULES)),
    ):
        runs[name] = [parse_timing.parse_seconds(", ".join(modules), env=env) for _ in range(args.parse_rounds)]
    print(f"parse: {runs}", flush=True)
    results.parse_runs = runs
    results.parse_seconds.update({name: statistics.median(seconds) for name, seconds in runs.items()})


@contextmanager
def batch1_airflow(args: argparse.Namespace, home: Path, batch_size: int = 1) -> Iterator[Airflow]:
    """An Airflow at BATCH_SIZE=1 (or ``batch_size``) with a tenant and receiver of its own, idle."""
    with Auth0StandIn() as tenant, WebhookReceiver(secret=signing.generate_signing_secret()) as receiver:
        airflow = Airflow(home, tenant, receiver)
        with airflow.running(**{**args.run_settings, "batch_size": str(batch_size)}):
            airflow.idle()
            yield airflow


def measure_cap(results: Results, args: argparse.Namespace, home: Path) -> None:
    """BATCH_SIZE=1 runs of CAP_DELIVERIES events each, every one delivered by the one triggered run."""
    seconds, run_ids = [], []
    with batch1_airflow(args, home) as airflow:
        for _ in range(args.cap_repeats):
            elapsed, run_id = deliver_once(airflow, CAP_DELIVERIES)
            mapped = task_instances(airflow.api, run_id, DELIVER_TASK, limit=1)["total_entries"]
            if mapped != CAP_DELIVERIES:  # a run capped lower, or a scheduled run that took some first
                raise RuntimeError(f"the run {run_id} mapped {mapped} deliveries, not {CAP_DELIVERIES}")
            seconds.append(elapsed)
            run_ids.append(run_id)
            print(f"cap: {CAP_DELIVERIES} deliveries in {elapsed:.1f} s", flush=True)
    results.cap_api_ms = api_call_ms(home, {"cap": run_ids}).get("cap", {})
    results.cap_input_bytes = stored_xcom_bytes(home, run_ids[-1], FETCH_TASK)
    print(f"execution-API ms per task instance at the cap: {results.cap_api_ms}", flush=True)
    results.seconds["cap"], results.run_ids["cap"] = seconds, run_ids
    results.cap_deliveries = CAP_DELIVERIES


def measure_scaling(results: Results, args: argparse.Namespace, home: Path) -> None:
    """One BATCH_SIZE=1 run at each of ``--scaling-points``, for the chart of run time against events."""
    runs = []
    with batch1_airflow(args, home) as airflow:
        for count in args.scaling_points:
            elapsed, run_id = deliver_once(airflow, count)
            runs.append({"events": count, "seconds": elapsed, "run_id": run_id})
            print(f"scaling: {count} events in {elapsed:.1f} s", flush=True)
    results.scaling_runs = runs


def measure_big(results: Results, args: argparse.Namespace, home: Path, batch_size: int = 1) -> None:
    runs = []
    with batch1_airflow(args, home, batch_size) as airflow:
        for _ in range(args.big_repeats):
            runs.append(big_once(airflow, args.big_events))
            print(f"big at BATCH_SIZE={batch_size}: {_brief(runs[-1])}", flush=True)
    if batch_size == 1:
        results.big_runs = runs
    else:
        results.big_batched_runs = runs
    results.big_events, results.big_event_bytes = args.big_events, BIG_EVENT_BYTES


def _brief(run: dict[str, Any]) -> str:
    return (
        f"{run['events']} events in {run['seconds']:.1f} s, {run['received']} received; largest process "
        f"{run['peak_process_bytes'] / MB:.0f} MB ({run['peak_process_role']}), all {run['peak_sum_bytes'] / MB:.0f} "
        f"MB at the peak, {run['idle_sum_bytes'] / MB:.0f} MB idle; {run['samples']} samples"
    )


def measure_drain(name: str) -> Callable[[Results, argparse.Namespace, Path], None]:
    plan = DRAINS[name]

    def measure(results: Results, args: argparse.Namespace, home: Path) -> None:
        with WebhookReceiver(secret=signing.generate_signing_secret()) as receiver:
            figures, rows = drain(home, receiver, args.drain_events, plan, args.drain_settings, name)
        print(f"{name}: {figures}", flush=True)
        if plan.label == "professional":
            results.drain = figures
        else:
            results.drains[plan.label] = figures
        results.drain_runs[plan.label] = rows

    return measure


MEASURES: dict[str, Callable[[Results, argparse.Namespace, Path], None]] = {
    "parse": measure_parse,
    "throughput": measure_throughput,
    "cap": measure_cap,
    "scaling": measure_scaling,
    "big": measure_big,
    "big-batched": lambda results, args, home: measure_big(results, args, home, BIG_BATCH),
    **{name: measure_drain(name) for name in DRAINS},
    STREAMS_DRAIN: measure_stream_drain,
}


def attempt(results: Results, name: str, args: argparse.Namespace, home: Path) -> bool:
    """Measure one scenario and save every figure so far; a failure is recorded and leaves the others."""
    started = time.monotonic()
    print(f"== {name}", flush=True)
    try:
        MEASURES[name](results, args, home)
    except Exception as exc:  # the next scenarios still run, and `--only name` measures this one again
        traceback.print_exc()
        results.errors[name] = f"{type(exc).__name__}: {exc}"[:500]
        ok = False
    else:
        results.errors.pop(name, None)
        results.settings[name] = dict(args.drain_settings if name in DRAINS else args.run_settings)
        results.measured[name] = pendulum.now("UTC").format("YYYY-MM-DD HH:mm")
        ok = True
    save(results)
    print(f"== {name}: {'done' if ok else 'FAILED'} in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return ok


# -- the report ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    from importlib.metadata import version

    cpu = "unknown"
    with suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    http = version("apache-airflow-providers-http")

    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Airflow": f"apache-airflow {version('apache-airflow')}, apache-airflow-providers-http {http}",
        "Setup": "airflow standalone: SQLite, LocalExecutor, bytecode cached as in a deployment; stand-in and "
        "receiver on 127.0.0.1 in the same machine",
    }


# What a mapped task instance asks the api-server, in the order it asks: the call (the last part of
# the execution-API path, or "xcom" for the pull of the mapped input) and what it is for.
API_CALLS = {
    "run": "start (`run`: the task's context)",
    "xcom": "mapped input (XCom pull of the upstream task's whole list)",
    "page": "its delivery (XCom pull of the one page that holds it)",
    "rtif": "rendered template fields (`rtif`)",
    "rendered-map-index": "UI label (`rendered-map-index`)",
    "heartbeat": "heartbeat",
    "state": "finish (`state`; a delivery's carries its receipt)",
}
ACCESS_LINE = re.compile(r"duration_us=(\d+) .*\bmethod=(\S+) path=/execution/(\S+) query=(\S*)")


def api_call_ms(home: Path, run_ids: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per scenario, the milliseconds a mapped task instance of its runs waited on each execution-API
    call, on average.

    From the api-server's access log (``standalone.log``), read once: calls on ``task-instances/<id>``
    are matched to a mapped instance through Airflow's database, and a pull of the upstream task's list
    with no query (the scheduler's carries ``mapped_length``), or of one of its pages of deliveries, to the
    run it was made in.
    """
    scenario_of = {run_id: scenario for scenario, runs in run_ids.items() for run_id in runs}
    tis = query_airflow_db(home, "SELECT id, run_id FROM task_instance WHERE map_index >= 0")
    mapped = {ti_id: scenario_of[run_id] for ti_id, run_id in tis if run_id in scenario_of}
    totals: dict[str, dict[str, float]] = {scenario: defaultdict(float) for scenario in run_ids}
    with open(home / "standalone.log", errors="replace") as log:
        for line in log:
            if "http.access" not in line or not (match := ACCESS_LINE.search(line)):
                continue
            ms, method, path, query = int(match[1]) / 1000, match[2], match[3].split("/"), match[4]
            if path[0] == "task-instances" and len(path) == 3:
                call, scenario = path[2], mapped.get(path[1].replace("-", ""))
            elif path[0] == "xcoms" and len(path) == 5 and path[4] == "return_value" and not query:
                call, scenario = "xcom", scenario_of.get(path[2])
            elif method == "GET" and path[0] == "xcoms" and len(path) in (6, 7) and path[4] == "deliveries":
                call, scenario = "page", scenario_of.get(path[2])  # its own page: deliveries/<n>[/slice]
            else:
                continue
            if scenario:
                totals[scenario][call] += ms
    instances = Counter(mapped.values())
    return {
        scenario: {call: total / instances[scenario] for call, total in calls.items()}
        for scenario, calls in totals.items()
        if instances[scenario]
    }


def stored_xcom_bytes(home: Path, run_id: str, task_id: str) -> int:
    """The size of a task's return value as Airflow's database holds it."""
    sql = "SELECT length(value) FROM xcom WHERE run_id = ? AND task_id = ? AND key = 'return_value'"
    ((size,),) = query_airflow_db(home, sql, (run_id, task_id))
    return int(size)


def query_airflow_db(home: Path, sql: str, parameters: tuple = ()) -> list[tuple]:
    """Rows from the SQLite database of the Airflow in ``home``, opened read-only."""
    with closing(sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True, timeout=30)) as db:
        return db.execute(sql, parameters).fetchall()


def save(results: Results) -> None:
    DOCS.mkdir(exist_ok=True)
    SAVED.write_text(json.dumps(asdict(results), indent=1) + "\n")


def _median_of(runs: int) -> str:
    return f"median of {runs} runs" if runs > 1 else "a single run"


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def write_report(results: Results) -> None:
    DOCS.mkdir(exist_ok=True)
    scaled = chart_scaling(results)
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`include/benchmark.py`); re-run it to regenerate this page and the charts, or "
        "`include/benchmark.py --only <scenario>` to measure one scenario again and keep the other figures.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in results.machine.items()],
        *_measured_lines(results),
        "",
        *_targets_section(results),
        *_throughput_section(results),
        *_api_call_table(results.api_ms, results.mapped_input_bytes, results.events),
        *_cap_section(results),
        *_scaling_section(results, scaled),
        *_big_section(results),
        *_parse_section(results),
        *_professional_section(results),
        *_streams_section(results),
        *_enterprise_section(results),
        *_tokens_section(results),
    ]
    (DOCS / "benchmarks.md").write_text("\n".join(lines))
    save(results)
    if results.has(*(f"batch {b}" for b in BATCH_SIZES), "floor", "floor http"):
        chart(results)


def _measured_lines(results: Results) -> list[str]:
    """When each scenario was measured: `--only` keeps older figures beside new ones."""
    if not results.measured:
        return []
    days = {when[:10] for when in results.measured.values()}
    when = ", ".join(f"{name} {at}" for name, at in sorted(results.measured.items(), key=lambda item: item[1]))
    lines = [f"- Measured (UTC): {when}"]
    if len(days) > 1:
        lines.append(
            "- The scenarios were measured on different days. This is a shared virtual machine whose speed "
            "varies from day to day, so compare a figure with those measured beside it. The targets' figures "
            "from before (`BEFORE_PAGES`) were measured on earlier days."
        )
    return lines


def _not_measured(results: Results, scenario: str) -> list[str]:
    """What a section says when its figures are missing, and why when the last attempt failed."""
    why = f" The last attempt failed: `{results.errors[scenario]}`." if scenario in results.errors else ""
    return [f"Not measured yet: `include/benchmark.py --only {scenario}`.{why}", ""]


def _caveats(results: Results, scenario: str, prefix: str = "") -> list[str]:
    """A failed re-measurement (the figures shown are older), and settings beyond the defaults."""
    lines = [prefix] if prefix else []
    if scenario in results.errors:
        lines.append(
            f"The last attempt to measure this again failed (`{results.errors[scenario]}`); these figures are older."
        )
    if settings := results.settings.get(scenario):
        named = ", ".join(f"`AUTH0_WEBHOOKS_{k.upper()}={v}`" for k, v in sorted(settings.items()))
        lines.append(f"Measured with {named} beyond the defaults.")
    return [" ".join(lines), ""] if len(lines) > bool(prefix) else []


def _targets_section(results: Results) -> list[str]:
    """Every target of the issue beside what was measured, met or missed, computed from the figures."""
    rows = []

    def add(what: str, measured: str, target: str, met: bool) -> None:
        rows.append(f"| {what} | {measured} | {target} | {verdict(met)} |")

    n = results.events
    if results.has("batch 1", "floor"):
        share = results.rate("batch 1", n) / results.rate("floor", n)
        add(
            f"BATCH_SIZE=1, {n} deliveries: rate against Airflow's floor",
            f"{share:.0%}",
            "at least 90%",
            share >= FLOOR_SHARE_TARGET,
        )
    if cap := _cap_figures(results):
        change, share = cap["cost_change"], cap["floor_share"]
        what = f"BATCH_SIZE=1 at the cap ({cap['deliveries']:,} deliveries)"
        add(
            f"{what}: cost per task instance against {n}",
            f"{change:+.1%}",
            "within 10%",
            abs(change) <= CAP_COST_TOLERANCE,
        )
        add(f"{what}: rate against Airflow's floor", f"{share:.0%}", "at least 90%", share >= FLOOR_SHARE_TARGET)
    for batched, at in ((False, ""), (True, f" at BATCH_SIZE={BIG_BATCH}")):
        if not (big := _big_figures(results, batched)):
            continue
        what, seconds, peak = f"{big['events']} events of 1 MB{at}", big["seconds"], big["peak_process_bytes"]
        add(f"{what}: time", f"{seconds:.1f} s", f"at most {BIG_SECONDS_TARGET:.0f} s", seconds <= BIG_SECONDS_TARGET)
        add(
            f"{what}: peak RSS of the largest Airflow process",
            f"{peak / MB:.0f} MB",
            f"at most {BIG_MEMORY_TARGET / MB:.0f} MB",
            peak <= BIG_MEMORY_TARGET,
        )
        if not batched:
            add(
                f"{what}: events received",
                f"at least {big['least_received']} of {big['events']} in each run",
                "all",
                big["all_received"],
            )
    if parse := results.parse_seconds.get("dag_processor"):
        before = BEFORE_PAGES["parse"]
        add(
            "DAG parse (the dag-processor's `last_parse_duration`)",
            f"{parse:.3f} s",
            f"under {PARSE_TARGET} s, and no worse than {before:.3f} s before",
            parse < PARSE_TARGET and round(parse, 3) <= before,  # at the precision the figures were given
        )
    if (extra := _cold_parse_extra(results)) is not None:
        add(
            "A task's cold parse of the DAG file, less the simplest HttpOperator DAG's (parsed in turn)",
            f"{extra:+.3f} s",
            f"at most +{PARSE_COLD_EXTRA_TARGET} s",
            extra <= PARSE_COLD_EXTRA_TARGET,
        )
    if (ours := results.parse_seconds.get("ours")) is not None:
        add(
            "Our code's part of a parse (Airflow and the HTTP provider imported first)",
            f"{ours:.3f} s",
            f"under {PARSE_WARM_TARGET} s",
            ours < PARSE_WARM_TARGET,
        )
    if d := results.drain:
        ratio, per_1000 = d["seconds"] / d["minimum_seconds"], d["requests_per_1000"]
        before_ratio, before_requests = BEFORE_PAGES["professional ratio"], BEFORE_PAGES["requests per 1000"]
        add(
            f"Professional drain of {d['events']:,.0f} events: time against the minimum",
            f"{ratio:.2f} x",
            f"at most {PROFESSIONAL_RATIO_TARGET} x, and no worse than {before_ratio} x before",
            round(ratio, 2) <= min(PROFESSIONAL_RATIO_TARGET, before_ratio),
        )
        add(
            "Professional drain: Auth0 requests per 1,000 events",
            f"{per_1000:.1f}",
            f"at most {REQUESTS_PER_1000_TARGET}, and no more than {before_requests} before",
            round(per_1000, 1) <= min(REQUESTS_PER_1000_TARGET, before_requests),
        )
    if s := results.stream_drain:
        ratio = s["seconds"] / s["minimum_seconds"]
        add(
            f"Two streams, {s['events_per_stream']:,.0f} events each, Professional: time for both against the minimum",
            f"{ratio:.2f} x, {s['rate_limited']} answered 429",
            f"at most {STREAMS_RATIO_TARGET} x, 0 429s",
            ratio <= STREAMS_RATIO_TARGET and s["rate_limited"] == 0,
        )
    if best := _best_enterprise(results):
        label, ratio = best
        add(
            f"Enterprise drain, the better batch size ({_batch_of(label)}): time against the minimum",
            f"{ratio:.2f} x",
            f"at most {ENTERPRISE_RATIO_TARGET} x",
            ratio <= ENTERPRISE_RATIO_TARGET,
        )
    if results.simulated_days:
        tokens = results.tokens_per_day
        add(
            "Tokens per day at a 5-minute schedule",
            f"{tokens:.1f}",
            f"at most {TOKENS_PER_DAY_TARGET}, and no more than {BEFORE_PAGES['tokens per day']} before",
            round(tokens, 2) <= min(TOKENS_PER_DAY_TARGET, BEFORE_PAGES["tokens per day"]),
        )
    if not rows:
        return []
    return ["## Targets", "", "| Measure | Measured | Target | |", "|---|---|---|---|", *rows, ""]


def _throughput_section(results: Results) -> list[str]:
    n, reps = results.events, results.repeats
    if not results.has(*(f"batch {b}" for b in BATCH_SIZES), "floor", "floor http", "script"):
        return [f"## Delivery throughput at CONCURRENT_CALLS={CONCURRENCY}", "", *_not_measured(results, "throughput")]
    floor_rate = results.rate("floor", n)
    rows = []
    for b in BATCH_SIZES:
        rate = results.rate(f"batch {b}", n)
        tis, median = -(-n // b), statistics.median(results.seconds[f"batch {b}"])
        rows.append(
            f"| BATCH_SIZE={b} | {n} events in {tis} deliveries | {median:.1f} s "
            f"| {rate:.1f} events/s | {tis / median:.2f} | {median / tis:.3f} s |"
        )
    if cap := _cap_figures(results):
        rows.insert(
            1,
            f"| BATCH_SIZE=1 at the per-run cap | {cap['deliveries']:,} events in {cap['deliveries']:,} deliveries "
            f"| {cap['median']:.1f} s | {cap['rate']:.1f} events/s | {cap['rate']:.2f} | {cap['cost']:.3f} s |",
        )
    for scenario, label, work in (
        ("floor", "Airflow floor", "no-op mapped task instances"),
        ("floor http", "Airflow floor, HTTP provider imported", "no-op mapped task instances"),
    ):
        median = statistics.median(results.seconds[scenario])
        rows.append(
            f"| {label} | {n} {work} | {median:.1f} s | - | {results.rate(scenario, n):.2f} | {median / n:.3f} s |"
        )
    rows.append(
        f"| plain Python, 5 threads | {n} events, no Airflow | {statistics.median(results.seconds['script']):.2f} s "
        f"| {results.rate('script', n):.0f} events/s | - | - |"
    )
    batch1_share = results.rate("batch 1", n) / floor_rate
    http_floor_share = results.rate("floor http", n) / floor_rate
    http_share = results.rate("batch 1", n) / results.rate("floor http", n)
    batch1_median = statistics.median(results.seconds["batch 1"])
    per_ti_ms = {
        scenario: 1000 * (batch1_median - statistics.median(results.seconds[scenario])) / n
        for scenario in ("floor", "floor http")
    }
    parse = results.parse_seconds
    paid = f"{parse['cold'] - parse['preloaded']:.2f} s " if {"cold", "preloaded"} <= parse.keys() else ""
    return [
        f"## Delivery throughput at CONCURRENT_CALLS={CONCURRENCY}",
        "",
        f"Median of {reps} runs each, from triggering the run to the watermark committed past the last event "
        "(so fetch, every delivery, the commit and the scheduler's own latency are in). The BATCH_SIZE=1 runs "
        "and the two floors were measured in turn, one of each per round."
        + (" The runs at the per-run cap are described below." if results.has("cap") else ""),
        "",
        "| Scenario | Work | Median time | Events/s | Task instances/s | Seconds per task instance |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *_caveats(results, "throughput"),
        f"BATCH_SIZE=1 runs at **{batch1_share:.0%} of Airflow's floor** for the same number of task instances "
        f"(target: at least 90%; {verdict(batch1_share >= FLOOR_SHARE_TARGET)}), {per_ti_ms['floor']:.0f} ms more "
        "per task instance. Against the floor whose "
        f"tasks import the HTTP provider, as every HttpOperator task does, it runs at {http_share:.0%}: "
        f"{_own_cost(per_ti_ms['floor http'])}.",
        "",
        "A task instance that imports the HTTP provider (aiohttp, requests, tenacity) and our operators in its "
        f"own process pays {paid}for it here (see DAG parse below), the largest cost a delivery adds. "
        "`plugins/auth0_webhooks_plugin.py` imports them once in each Airflow process; LocalExecutor's workers "
        "are forked from the scheduler after it loaded its plugins, and their task processes inherit the "
        "modules. So the floor whose tasks import the HTTP provider runs here at "
        f"{http_floor_share:.0%} of the no-op floor. CeleryExecutor's workers load no plugins: there each task "
        "imports the modules itself.",
        "",
        "![throughput](benchmarks.png)",
        "",
    ]


def _cap_figures(results: Results) -> dict[str, Any]:
    """The runs at the cap against the BATCH_SIZE=1 runs of ``events`` deliveries and the floor; {} if missing."""
    if not results.has("cap", "batch 1", "floor") or not results.cap_deliveries:
        return {}
    deliveries, n = results.cap_deliveries, results.events
    median = statistics.median(results.seconds["cap"])
    cost, cost_200 = median / deliveries, statistics.median(results.seconds["batch 1"]) / n
    return {
        "deliveries": deliveries,
        "median": median,
        "rate": deliveries / median,
        "cost": cost,
        "cost_200": cost_200,
        "cost_floor": statistics.median(results.seconds["floor"]) / n,
        "cost_change": cost / cost_200 - 1,
        "floor_share": (deliveries / median) / results.rate("floor", n),
    }


def _cap_section(results: Results) -> list[str]:
    title = ["## Batch size 1 at the per-run cap", ""]
    if not (cap := _cap_figures(results)):
        return [*title, *_not_measured(results, "cap")]
    n, runs = results.events, len(results.seconds["cap"])
    return [
        *title,
        f"Airflow maps at most {cap['deliveries']:,} instances of a task in one run (`[core] max_map_length`), so "
        f"a BATCH_SIZE=1 run delivers {cap['deliveries']:,} events at most. {cap['deliveries']:,} new events, one "
        f"run triggered, all delivered by it; {_median_of(runs)}, measured as above (trigger to commit).",
        "",
        "| Scenario | Task instances | Median time | Task instances/s | Seconds per task instance |",
        "|---|---|---|---|---|",
        f"| BATCH_SIZE=1 at the cap | {cap['deliveries']:,} deliveries | {cap['median']:.1f} s "
        f"| {cap['rate']:.2f} | {cap['cost']:.3f} s |",
        f"| BATCH_SIZE=1 | {n} deliveries | {statistics.median(results.seconds['batch 1']):.1f} s "
        f"| {1 / cap['cost_200']:.2f} | {cap['cost_200']:.3f} s |",
        f"| Airflow floor | {n} no-op task instances | {statistics.median(results.seconds['floor']):.1f} s "
        f"| {1 / cap['cost_floor']:.2f} | {cap['cost_floor']:.3f} s |",
        "",
        *_caveats(results, "cap"),
        f"A task instance costs {cap['cost']:.3f} s in a run of {cap['deliveries']:,} and {cap['cost_200']:.3f} s in "
        f"one of {n}: **{cap['cost_change']:+.1%}** (target: within 10%; "
        f"{verdict(abs(cap['cost_change']) <= CAP_COST_TOLERANCE)}). The run of {cap['deliveries']:,} goes at "
        f"**{cap['floor_share']:.0%} of the floor's rate** (target: at least 90%; "
        f"{verdict(cap['floor_share'] >= FLOOR_SHARE_TARGET)}). The floor was measured with {n} task instances, "
        "in the throughput rounds above.",
        "",
        *_cap_calls(results),
    ]


def _cap_calls(results: Results) -> list[str]:
    """Each execution-API call of a delivery at the cap beside one in a run of ``results.events``."""
    cap, ours = results.cap_api_ms, results.api_ms.get("batch 1", {})
    if not cap or not ours:
        return []
    rows = [
        f"| {label} | {at_cap:.0f} | {at_n:.0f} | {at_cap - at_n:+.0f} |"
        for call, label in API_CALLS.items()
        if call in cap or call in ours
        for at_cap, at_n in [(cap.get(call, 0.0), ours.get(call, 0.0))]
    ]
    total_cap, total_ours = sum(cap.values()), sum(ours.values())
    return [
        f"What a delivery waited for in Airflow's api-server, as in the throughput table above (ms per task "
        f"instance): the list every instance pulls holds {results.cap_deliveries:,} references at the cap, "
        f"{results.cap_input_bytes / 1e3:.0f} KB, against {results.mapped_input_bytes / 1e3:.0f} KB for "
        f"{results.events}.",
        "",
        f"| Call | {results.cap_deliveries:,} deliveries (ms) | {results.events} deliveries (ms) | Difference (ms) |",
        "|---|---|---|---|",
        *rows,
        f"| all calls | {total_cap:.0f} | {total_ours:.0f} | {total_cap - total_ours:+.0f} |",
        "",
        "The mapped input is the call that grows with the run: Airflow hands every instance the whole list, so "
        f"a run at the cap moves {results.cap_deliveries:,} x {results.cap_input_bytes / 1e3:.0f} KB = "
        f"{results.cap_deliveries * results.cap_input_bytes / 1e6:.0f} MB of references through the api-server. "
        "A list of page numbers and positions alone (a few bytes each, the key and label then read from the "
        "page) would take most of it off.",
        "",
    ]


def scaling_points(results: Results) -> list[tuple[int, float]]:
    """(events, seconds) of every BATCH_SIZE=1 run measured from trigger to commit: the throughput rounds,
    the runs at the cap and the scaling runs."""
    points = [(results.events, s) for s in results.seconds.get("batch 1", [])]
    points += [(results.cap_deliveries, s) for s in results.seconds.get("cap", [])]
    return points + [(run["events"], run["seconds"]) for run in results.scaling_runs]


def linear_fit(points: list[tuple[int, float]]) -> tuple[float, float, float] | None:
    """Least squares ``seconds = intercept + slope * events``: slope, intercept and R²; None without two
    distinct event counts."""
    if len({x for x, _ in points}) < 2:
        return None
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    r2 = statistics.correlation(xs, ys) ** 2 if len(set(ys)) > 1 else 1.0
    return slope, intercept, r2


def _scaling_section(results: Results, charted: bool) -> list[str]:
    title = ["## Run time against events per run", ""]
    points = scaling_points(results)
    if not charted or (fit := linear_fit(points)) is None:
        return [*title, *_not_measured(results, "scaling")]
    slope, intercept, r2 = fit
    counts = ", ".join(f"{x:,}" for x in sorted({x for x, _ in points}))
    lines = [
        *title,
        f"BATCH_SIZE=1, one delivery per event, every run measured from the trigger to the commit: {len(points)} "
        f"runs of {counts} events (the throughput rounds, the runs at the cap and one run each of "
        f"{', '.join(str(r['events']) for r in results.scaling_runs) or 'none'}). Least-squares line: "
        f"**{intercept:.1f} s + {slope:.3f} s per event, R² = {r2:.4f}**. The fixed part is the run's own tasks "
        "(fetch, commit, drain) and the scheduler's latency; the slope is what one more event costs.",
        "",
        *_caveats(results, "scaling"),
    ]
    if results.big_runs:
        big = _big_figures(results)
        lines += [
            f"The diamonds are the {big['events']} events of 1 MB (below): {big['seconds']:.1f} s, where the line "
            f"gives {intercept + slope * big['events']:.1f} s for {big['events']} events of the usual size.",
            "",
        ]
    if results.drain_runs:
        lines += [
            "The right panel is every run of the backlog drains (below), from its start to its end as Airflow "
            "has them, against the events it delivered.",
            "",
        ]
    return [*lines, "![run time against events per run](benchmarks-scaling.png)", ""]


def _big_figures(results: Results, batched: bool = False) -> dict[str, Any]:
    """Medians over the runs of large events (at BATCH_SIZE=1, or BIG_BATCH when ``batched``); {} if none."""
    runs = results.big_batched_runs if batched else results.big_runs
    if not runs:
        return {}
    medians = {
        key: statistics.median(run[key] for run in runs)
        for key in ("seconds", "peak_process_bytes", "peak_sum_bytes", "idle_sum_bytes", "sample_every_seconds")
    }
    added = statistics.median(run["peak_sum_bytes"] - run["idle_sum_bytes"] for run in runs)
    for key in ("peak_process_idle_bytes", "idle_pss_bytes", "peak_pss_bytes"):  # not in runs saved before
        medians[key] = statistics.median(run.get(key, 0) for run in runs)
    least = min(run["received"] for run in runs)
    roles = Counter(run["peak_process_role"] or "unknown" for run in runs)
    return {
        **medians,
        "added_bytes": added,
        "events": results.big_events,
        "least_received": least,
        "all_received": least == results.big_events,
        "roles": ", ".join(
            f"`{role}`" + (f" ({k} of {len(runs)} runs)" if len(roles) > 1 else "") for role, k in roles.most_common()
        ),
    }


def _big_section(results: Results) -> list[str]:
    title = [f"## Large events: {results.big_events or 100} events of 1 MB", ""]
    if not (big := _big_figures(results)):
        return [*title, *_not_measured(results, "big")]
    runs, size = results.big_runs, results.big_event_bytes
    received = "all" if big["all_received"] else f"as few as {big['least_received']}"
    per_run = [
        f"| {i} | {run['seconds']:.1f} s | {run['received']} of {run['events']} "
        f"| {run['peak_process_bytes'] / MB:.0f} MB (`{run['peak_process_role'] or 'unknown'}`) "
        f"| {run.get('peak_process_idle_bytes', 0) / MB:.0f} MB "
        f"| {run['peak_sum_bytes'] / MB:,.0f} MB | {run['idle_sum_bytes'] / MB:,.0f} MB | {run['samples']} |"
        for i, run in enumerate(runs, 1)
    ]
    return [
        *title,
        f"{big['events']} Management API events, each with a request body of {size / 2**20:.0f} MiB, so the stand-in "
        f"serves them as one page of about {big['events'] * size / 2**20:.0f} MiB. BATCH_SIZE=1, CONCURRENT_CALLS="
        f"{CONCURRENCY}, one run triggered; {_median_of(len(runs))}, from the trigger to the watermark committed "
        "past the last event. Memory: the resident set (VmRSS) of every process under `airflow standalone`, task "
        f"processes included, sampled every {big['sample_every_seconds'] * 1000:.0f} ms (on average) from the "
        "trigger until the runs had finished.",
        "",
        "| Measure | Median | Target |",
        "|---|---|---|",
        f"| Time to deliver and commit | {big['seconds']:.1f} s | at most {BIG_SECONDS_TARGET:.0f} s: "
        f"{verdict(big['seconds'] <= BIG_SECONDS_TARGET)} |",
        f"| Peak of the largest single process | {big['peak_process_bytes'] / MB:.0f} MB | at most "
        f"{BIG_MEMORY_TARGET / MB:.0f} MB: {verdict(big['peak_process_bytes'] <= BIG_MEMORY_TARGET)} |",
        f"| The same process before the trigger | {big['peak_process_idle_bytes'] / MB:.0f} MB | - |",
        f"| All Airflow processes' proportional set size (Pss), idle / at the peak | "
        f"{big['idle_pss_bytes'] / MB:,.0f} MB / {big['peak_pss_bytes'] / MB:,.0f} MB | - |",
        f"| Peak of all Airflow processes together | {big['peak_sum_bytes'] / MB:,.0f} MB | - |",
        f"| All Airflow processes, idle before the trigger | {big['idle_sum_bytes'] / MB:,.0f} MB | - |",
        f"| Added by the run (peak of the sum less idle) | {big['added_bytes'] / MB:,.0f} MB | - |",
        f"| Events received | {received} of {big['events']} | all: {verdict(big['all_received'])} |",
        "",
        *_caveats(results, "big"),
        f"The {BIG_MEMORY_TARGET / MB:.0f} MB target is compared to the largest single process's peak: here "
        f"{big['roles']}. The sum counts a page that forked processes share once for each of them (RSS), so it "
        "overstates what they hold together; the sum of Pss, which shares such a page out among them, is what "
        "they hold. MB are 10^6 bytes.",
        "",
        "| Run | Time | Received | Largest process at its peak | It before the trigger | Sum at its peak | Sum idle "
        "| Samples |",
        "|---|---|---|---|---|---|---|---|",
        *per_run,
        "",
        f"Before each delivery pulled only its own page (commit {BEFORE_BIG['commit']}, measured the same way on "
        f"{BEFORE_BIG['day']}, a single run): {BEFORE_BIG['seconds']:.0f} s, and the largest process, the "
        f"api-server, peaked at {BEFORE_BIG['peak_process_bytes'] / MB:,.0f} MB.",
        "",
        *_big_batched_lines(results),
    ]


def _big_batched_lines(results: Results) -> list[str]:
    """The same events at BATCH_SIZE=BIG_BATCH: fewer task instances, so Airflow's floor weighs less."""
    if not (big := _big_figures(results, batched=True)):
        return [f"At BATCH_SIZE={BIG_BATCH}:", "", *_not_measured(results, "big-batched")]
    runs = results.big_batched_runs
    return [
        f"The same events at BATCH_SIZE={BIG_BATCH} ({_median_of(len(runs))}): "
        f"{-(-big['events'] // BIG_BATCH)} deliveries instead of {big['events']}.",
        "",
        "| Measure | Median | Target |",
        "|---|---|---|",
        f"| Time to deliver and commit | {big['seconds']:.1f} s | at most {BIG_SECONDS_TARGET:.0f} s: "
        f"{verdict(big['seconds'] <= BIG_SECONDS_TARGET)} |",
        f"| Peak of the largest single process | {big['peak_process_bytes'] / MB:.0f} MB ({big['roles']}) | at most "
        f"{BIG_MEMORY_TARGET / MB:.0f} MB: {verdict(big['peak_process_bytes'] <= BIG_MEMORY_TARGET)} |",
        f"| Events received | {big['least_received']} of {big['events']} at least | all: "
        f"{verdict(big['all_received'])} |",
        "",
        *_caveats(results, "big-batched"),
    ]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _cold_parse_extra(results: Results) -> float | None:
    """Our DAG file's cold parse less the simplest HttpOperator DAG's, both from the ``parse`` scenario."""
    parse = results.parse_seconds
    return parse["cold"] - parse["cold http"] if {"cold", "cold http"} <= parse.keys() else None


def _parse_section(results: Results) -> list[str]:
    parse, runs = results.parse_seconds, results.parse_runs
    lines = ["## DAG parse", ""]
    if "dag_processor" in parse:
        lines += [
            "Airflow's own figure, the dag-processor's `last_parse_duration` for the DAG (median of "
            f"{len(results.parse_samples)}, one per BATCH_SIZE=1 round, each from a parse made while no run was "
            f"going): **{parse['dag_processor']:.3f} s** "
            f"(target: under 0.2 s; {verdict(parse['dag_processor'] < PARSE_TARGET)}). The DAG file names the "
            "HTTP provider, so the dag-processor imports it once ahead of every parse.",
            "",
        ]
    else:
        lines += [f"The dag-processor's figure: {_lower_first(_not_measured(results, 'throughput')[0])}", ""]
    if (extra := _cold_parse_extra(results)) is None or not runs:
        return [*lines, f"A task's parse: {_lower_first(_not_measured(results, 'parse')[0])}", ""]

    def row(label: str, name: str, target: str = "-") -> str:
        seconds = runs[name]
        return f"| {label} | {parse[name]:.3f} s | {min(seconds):.3f} to {max(seconds):.3f} s | {target} |"

    rounds = len(runs["cold"])
    return [
        *lines,
        "A task instance parses the file again, in a process of its own: here a `DagBag` of the folder in a fresh "
        "interpreter that has imported `airflow.sdk`, in the environment of the bench's Airflow, with no Airflow "
        f"running; median of {rounds} parses each. Cold, as on CeleryExecutor, the process imports everything "
        "itself, and most of that is the HTTP provider (aiohttp, requests), which any DAG with an HttpOperator "
        "imports: so our DAG file and the simplest such DAG (`include/parse_timing.py`) were parsed in turn, one "
        "of each per round, and are compared.",
        "",
        "| Parse in a fresh interpreter | Median | Range | Target |",
        "|---|---|---|---|",
        row("our DAG file (`dags/`), cold", "cold"),
        row("the simplest HttpOperator DAG, cold", "cold http"),
        f"| ours less the simplest HttpOperator DAG | {extra:+.3f} s | - | at most +{PARSE_COLD_EXTRA_TARGET} s: "
        f"{verdict(extra <= PARSE_COLD_EXTRA_TARGET)} |",
        row(
            "ours, Airflow and the HTTP provider imported first: our modules and the DAG",
            "ours",
            f"under {PARSE_WARM_TARGET} s: {verdict(parse['ours'] < PARSE_WARM_TARGET)}",
        ),
        row(
            "ours, every module the preload plugin imports imported first, as a LocalExecutor task process "
            "inherits them from the scheduler: the DAG file alone",
            "preloaded",
        ),
        "",
        *_caveats(results, "parse"),
        "No test times a parse: CI runs `make test` and `make test-faults` side by side on 2 cores, where a cold "
        "parse of ours once took 0.75 s against the HttpOperator DAG's 0.41 s. The tests hold what load cannot "
        "change instead (tests/dags/test_auth0_webhooks.py): beyond what the simplest HttpOperator DAG imports, "
        "a parse imports only Airflow's modules and ours, and it opens no connection.",
        "",
    ]


def _professional_section(results: Results) -> list[str]:
    title = ["## Backlog drain under Auth0 Professional read limits", ""]
    d = results.drain
    if not d:
        return [*title, *_not_measured(results, "drain-pro")]
    ratio = d["seconds"] / d["minimum_seconds"]
    rows = _run_medians(results.drain_runs.get("professional", []))
    return [
        *title,
        f"The stand-in limited reads to a burst of {PROFESSIONAL.burst} and {PROFESSIONAL.per_minute:.0f} requests "
        f"a minute. BATCH_SIZE={DRAINS['drain-pro'].batch_size}, CONCURRENT_CALLS={CONCURRENCY}, one run triggered; "
        "follow-up runs started themselves.",
        "",
        "| Measure | Value | Target |",
        "|---|---|---|",
        f"| Backlog | {d['events']:,.0f} events | - |",
        f"| Time to drain (delivered and committed) | {d['seconds'] / 60:.1f} min | at most 1.2 x the minimum |",
        f"| Minimum the rate limit allows | {d['minimum_seconds'] / 60:.1f} min | - |",
        f"| Ratio | {ratio:.2f} x | <= {PROFESSIONAL_RATIO_TARGET} x: {verdict(ratio <= PROFESSIONAL_RATIO_TARGET)} |",
        f"| Runs | {d['runs']:.0f} | - |",
        *[f"| {label} | {value} | - |" for label, value in rows],
        f"| Requests answered 429 | {d['rate_limited']:.0f} | - |",
        f"| Auth0 requests | {d['auth0_requests']:.0f}, {d['requests_per_1000']:.1f} per 1,000 events "
        f"| <= {REQUESTS_PER_1000_TARGET} per 1,000: {verdict(d['requests_per_1000'] <= REQUESTS_PER_1000_TARGET)} |",
        "",
        *_caveats(results, "drain-pro"),
        *_drain_analysis(d),
    ]


def _streams_section(results: Results) -> list[str]:
    title = ["## Two streams catching up at once under Professional read limits", ""]
    s = results.stream_drain
    if not s:
        return [*title, *_not_measured(results, STREAMS_DRAIN)]
    ratio = s["seconds"] / s["minimum_seconds"]
    each = ", ".join(f"{name}: {seconds / 60:.1f} min" for name, seconds in sorted(s["stream_seconds"].items()))
    delivered = ", ".join(f"{name}: {count:,}" for name, count in sorted(s["delivered"].items()))
    runs = ", ".join(f"{name}: {count}" for name, count in sorted(s["runs"].items()))
    return [
        *title,
        f"A streams file with {s['streams']} streams, each its own DAG and receiver, both taking every event "
        f"(`sapi`, BATCH_SIZE=100), catch up on the same backlog of {s['events_per_stream']:,.0f} events: each "
        f"reads it all, {s['events_per_stream'] / MAX_TAKE:,.0f} pages. The stand-in limited reads to a burst of "
        f"{s['burst']} and {s['per_minute']:.0f} requests a minute for both together; the streams read the tenant "
        "in turns in the one-slot pool `auth0_reads__auth0_default`. One run of each DAG triggered; follow-up "
        "runs started themselves.",
        "",
        "| Measure | Value | Target |",
        "|---|---|---|",
        f"| Time until both delivered and committed everything | {s['seconds'] / 60:.1f} min "
        f"| at most {STREAMS_RATIO_TARGET} x the minimum |",
        f"| Each stream's time | {each} | - |",
        f"| Minimum the rate limit allows for both | {s['minimum_seconds'] / 60:.1f} min | - |",
        f"| Ratio | {ratio:.2f} x | <= {STREAMS_RATIO_TARGET} x: {verdict(ratio <= STREAMS_RATIO_TARGET)} |",
        f"| Requests answered 429 | {s['rate_limited']} | 0: {verdict(s['rate_limited'] == 0)} |",
        f"| Auth0 requests | {s['auth0_requests']:,} | - |",
        f"| Events delivered, distinct | {delivered} | all |",
        f"| Runs | {runs} | - |",
        f"| Reads of the tenant (`read_logs` and `prefetch_next`), overlapping another | {s['reads']}, "
        f"{s['overlapping_reads']} | 0 overlapping |",
        f"| Time the read slot was free between reads: in all; the longest | {s['slot_free_seconds']:.0f} s; "
        f"{s['slot_free_longest']:.0f} s | - |",
        "",
        "Where the time above the minimum goes: the read pool holds one task at a time, and between two reads "
        "the slot is free while the scheduler hands it on; a pause longer than the 6 s in which the tenant's "
        "bucket refills is time nobody can read. Each stream's `read_logs` holds the slot only while it reads "
        "(and returns at once when `prefetch_next` read its events ahead); `fetch_logs` filters and plans "
        "outside the pool. A larger `max_events_per_run` makes the turns longer and the hand-overs' share "
        "smaller.",
        "",
        *_caveats(results, STREAMS_DRAIN),
    ]


def _run_medians(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The per-run figures of a drain, as table rows: the median run's events and duration."""
    if not rows:
        return []
    return [
        (
            "Events per run (median; the largest)",
            f"{statistics.median(r['events'] for r in rows):,.0f}; {max(r['events'] for r in rows):,.0f}",
        ),
        ("Run time, start to end (median)", f"{statistics.median(r['seconds'] for r in rows):.1f} s"),
    ]


def _best_enterprise(results: Results) -> tuple[str, float] | None:
    """The Enterprise drain with the lowest ratio to the minimum, and that ratio."""
    ratios = {
        plan.label: d["seconds"] / d["minimum_seconds"]
        for plan in DRAINS.values()
        if plan.limit is ENTERPRISE and (d := results.drains.get(plan.label))
    }
    return min(ratios.items(), key=lambda item: item[1]) if ratios else None


def _batch_of(label: str) -> str:
    return f"BATCH_SIZE={next(p.batch_size for p in DRAINS.values() if p.label == label)}"


def _enterprise_section(results: Results) -> list[str]:
    title = ["## Backlog drain under Auth0 Enterprise read limits", ""]
    names = [name for name, plan in DRAINS.items() if plan.limit is ENTERPRISE]
    measured = [(name, DRAINS[name]) for name in names if results.drains.get(DRAINS[name].label)]
    if not measured:
        return [*title, *(line for name in names for line in _not_measured(results, name))]
    figures = [results.drains[plan.label] for _, plan in measured]
    per_run = [dict(_run_medians(results.drain_runs.get(plan.label, []))) for _, plan in measured]

    def row(label: str, cells: list[str], target: str = "-") -> str:
        return f"| {label} | {' | '.join(cells)} | {target} |"

    best_label, best_ratio = _best_enterprise(results)
    events = figures[0]["events"]
    lines = [
        *title,
        f"The stand-in limited reads to a burst of {ENTERPRISE.burst} and {ENTERPRISE.per_minute:.0f} requests a "
        f"minute ({ENTERPRISE.per_minute / 60:.0f} a second): {events:,.0f} events are {events / MAX_TAKE:,.0f} pages "
        f"of {MAX_TAKE}, so at least {ENTERPRISE.minimum_seconds(events):.1f} s. CONCURRENT_CALLS={CONCURRENCY}, one "
        "run triggered; follow-up runs started themselves. The target is for the better batch size; "
        "BATCH_SIZE=100 is shown whatever it reaches.",
        "",
        row("Measure", [f"BATCH_SIZE={plan.batch_size}" for _, plan in measured], "Target"),
        "|---|" + "---|" * len(measured) + "---|",
        row("Backlog", [f"{d['events']:,.0f} events" for d in figures]),
        row("Time to drain (delivered and committed)", [f"{d['seconds']:.1f} s" for d in figures]),
        row("Minimum the rate limit allows", [f"{d['minimum_seconds']:.1f} s" for d in figures]),
        row(
            "Ratio",
            [f"{d['seconds'] / d['minimum_seconds']:.2f} x" for d in figures],
            f"<= {ENTERPRISE_RATIO_TARGET} x for the best",
        ),
        row("Runs", [f"{d['runs']:.0f}" for d in figures]),
        *[
            row(label, [runs.get(label, "-") for runs in per_run])
            for label in dict.fromkeys(label for runs in per_run for label in runs)
        ],
        row("Requests answered 429", [f"{d['rate_limited']:.0f}" for d in figures]),
        row(
            "Auth0 requests per 1,000 events",
            [f"{d['requests_per_1000']:.1f} ({d['auth0_requests']:.0f} in all)" for d in figures],
            f"<= {REQUESTS_PER_1000_TARGET}, as for Professional",
        ),
        row("Reading (fetch and read-ahead tasks)", [f"{d['read_seconds']:.1f} s" for d in figures]),
        "",
        f"Best: {_batch_of(best_label)}, **{best_ratio:.2f} x the minimum** (target: at most "
        f"{ENTERPRISE_RATIO_TARGET} x; {verdict(best_ratio <= ENTERPRISE_RATIO_TARGET)}).",
        "",
    ]
    for name, plan in measured:
        lines += _caveats(results, name, f"BATCH_SIZE={plan.batch_size}:")
    for name in names:
        if name not in dict(measured):
            not_yet = _not_measured(results, name)[0].replace("Not measured", "not measured", 1)
            lines += [f"BATCH_SIZE={DRAINS[name].batch_size} is {not_yet}", ""]
    return lines


def _tokens_section(results: Results) -> list[str]:
    if not results.simulated_days:
        return ["## Tokens", "", *_not_measured(results, "throughput")]
    return [
        "## Tokens",
        "",
        f"{results.tokens_per_day:.1f} tokens per simulated day at a 5-minute schedule "
        f"({results.simulated_days} days, 288 runs a day, a fresh hook per run sharing the token store; "
        f"24 h token lifetime). Target: at most 2; {verdict(results.tokens_per_day <= TOKENS_PER_DAY_TARGET)}.",
        "",
    ]


def _api_call_table(api_ms: dict[str, dict[str, float]], mapped_input_bytes: int, events: int) -> list[str]:
    """Each execution-API call of a BATCH_SIZE=1 delivery beside the HTTP floor's no-op task."""
    if not api_ms:
        return []
    ours, floor = api_ms["batch 1"], api_ms["floor http"]
    rows = []
    for call, label in API_CALLS.items():
        mine, theirs = ours.get(call, 0.0), floor.get(call, 0.0)
        rows.append(f"| {label} | {mine:.0f} | {theirs:.0f} | {mine - theirs:+.0f} |")
    total_ours, total_floor = sum(ours.values()), sum(floor.values())
    return [
        "### What a task instance waits for",
        "",
        "Every task instance asks Airflow's api-server for its context, its input and its label, and reports "
        "its end there. The time each call took, per mapped task instance, averaged over the BATCH_SIZE=1 "
        "runs and the HTTP floor's runs above (the api-server's access log, matched to task instances through "
        "Airflow's database):",
        "",
        "| Call | BATCH_SIZE=1 `deliver` (ms) | floor `noop`, HTTP imported (ms) | Difference (ms) |",
        "|---|---|---|---|",
        *rows,
        f"| all calls | {total_ours:.0f} | {total_floor:.0f} | {total_ours - total_floor:+.0f} |",
        "",
        "A delivery's input is one item of the fetch task's list, but Airflow pulls the whole list for each "
        f"instance, so that list holds only a reference per delivery: here {events} deliveries, "
        f"{mapped_input_bytes / 1e3:.0f} KB a pull. The delivery itself comes from the one XCom page that holds "
        "it (up to 64 KB), a second pull. The delivery task has no template fields, so it stores no rendered "
        "fields. The label is the log id, type and path the UI shows for each instance, sent as soon as it "
        "starts. A delivery's finish also writes its receipt, an asset event, in the same transaction. "
        f"{CONCURRENCY} instances run at a time, so 10 ms more per instance add about 2 s to a run of 1,000 "
        "deliveries.",
        "",
    ]


def _own_cost(ms: float) -> str:
    """What our code adds per task instance over the HTTP floor (fetch, commit and drain included)."""
    if ms >= 1:
        return f"{ms:.0f} ms per task instance are our own code (fetch, commit and drain tasks included)"
    return f"our own code adds no measurable cost per task instance ({ms:+.0f} ms, within the noise between runs)"


def _drain_analysis(d: dict[str, float]) -> list[str]:
    """Where the drain's time went: reading (one read at a time, paced by the limit) and the rest."""
    if "read_seconds" not in d:
        return []
    return [
        f"Reading took {d['read_seconds'] / 60:.1f} of the {d['seconds'] / 60:.1f} min: the fetch and read-ahead "
        "tasks, one at a time, paced by the rate limit. Each run delivered the chunk read ahead for it while "
        "its own read-ahead task read the next one, so deliveries overlapped the reading. The other "
        f"{(d['seconds'] - d['read_seconds']) / 60:.1f} min are the first run's start, the hand-over from one "
        "run to the next, and the last chunk's deliveries.",
        "",
    ]


def chart(results: Results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = results.events
    labels = [f"BATCH_SIZE={b}" for b in BATCH_SIZES] + ["Airflow floor\n(no-op tasks)", "floor with\nHTTP import"]
    values = [results.rate(f"batch {b}", n) for b in BATCH_SIZES] + [
        results.rate(scenario, n) for scenario in ("floor", "floor http")
    ]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    bars = ax.bar(labels, values, color=["#eb5424", "#eb5424", "#eb5424", "#888888", "#aaaaaa"])
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("events per second (floor: task instances per second)")
    ax.set_title(f"{n} events, CONCURRENT_CALLS={CONCURRENCY}, median of {results.repeats} runs")
    ax.axhline(100 * 100 / 60, color="#16214d", linestyle="--", linewidth=1)
    ax.text(4.4, 100 * 100 / 60, " Auth0 Professional read ceiling (167/s)", va="bottom", ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS / "benchmarks.png")


def chart_scaling(results: Results) -> bool:
    """docs/benchmarks-scaling.png: run time against events per run at BATCH_SIZE=1, with its least-squares
    line and the runs of 1 MB events; beside it, each drain run. False, and nothing drawn, without two
    distinct event counts."""
    points = scaling_points(results)
    if (fit := linear_fit(points)) is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if results.drain_runs else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.5), dpi=100, squeeze=False)
    ax = axes[0][0]
    slope, intercept, r2 = fit
    ax.scatter(*zip(*points, strict=True), color="#eb5424", zorder=3, label="BATCH_SIZE=1 runs")
    right = max(x for x, _ in points) * 1.05
    ax.plot(
        [0, right],
        [intercept, intercept + slope * right],
        color="#16214d",
        linestyle="--",
        linewidth=1,
        label=f"least squares: {intercept:.1f} s + {slope:.3f} s/event\nR² = {r2:.4f}",
    )
    if results.big_runs:
        ax.scatter(
            [run["events"] for run in results.big_runs],
            [run["seconds"] for run in results.big_runs],
            marker="D",
            color="#888888",
            zorder=3,
            label=f"{results.big_events} events of 1 MB",
        )
    ax.set_xlim(0, right)
    ax.set_ylim(0)
    ax.set_xlabel("events in the run (one delivery each)")
    ax.set_ylabel("seconds, trigger to commit")
    ax.set_title(f"Run time against events per run, CONCURRENT_CALLS={CONCURRENCY}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    if panels == 2:
        ax = axes[0][1]
        for (label, rows), color in zip(results.drain_runs.items(), ("#16214d", "#eb5424", "#888888"), strict=False):
            batch = next((p.batch_size for p in DRAINS.values() if p.label == label), "?")
            ax.scatter(
                [r["events"] for r in rows],
                [r["seconds"] for r in rows],
                color=color,
                alpha=0.7,
                label=f"{label.split()[0].capitalize()} drain, BATCH_SIZE={batch}",
            )
        ax.set_xlim(0)
        ax.set_ylim(0)
        ax.set_xlabel("events the run delivered")
        ax.set_ylabel("seconds, run start to end")
        ax.set_title("Backlog drains: each run", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(DOCS / "benchmarks-scaling.png")
    plt.close(fig)
    return True


def settings_option(values: list[str] | None, defaults: dict[str, str]) -> dict[str, str]:
    """``KEY=VALUE`` options over ``defaults``, keys as running() takes them: AUTH0_WEBHOOKS_ left out,
    lower case."""
    settings = {k.upper().removeprefix("AUTH0_WEBHOOKS_").lower(): v for k, v in defaults.items()}
    for value in values or []:
        key, sep, setting = value.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
        settings[key.strip().upper().removeprefix("AUTH0_WEBHOOKS_").lower()] = setting.strip()
    return settings


def chosen_scenarios(only: list[str] | None) -> list[str]:
    """The scenario names ``--only`` gives, aliases expanded, in SCENARIOS order; all without it."""
    if not only:
        return list(SCENARIOS)
    wanted = set()
    for name in (n.strip() for value in only for n in value.split(",") if n.strip()):
        if name not in SCENARIOS and name not in ALIASES:
            raise argparse.ArgumentTypeError(f"unknown scenario {name!r}: {', '.join((*SCENARIOS, *ALIASES))}")
        wanted.update(ALIASES.get(name, (name,)))
    return [name for name in SCENARIOS if name in wanted]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200, help="events per throughput run")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (one run varies by about 5%%)")
    parser.add_argument("--cap-repeats", type=int, default=2, help=f"runs of {CAP_DELIVERIES} deliveries")
    parser.add_argument(
        "--scaling-points", default="50,500", help="events of the single BATCH_SIZE=1 runs drawn beside the others"
    )
    parser.add_argument(
        "--parse-rounds", type=int, default=7, help="parses of each kind in the parse scenario (about 2 s each)"
    )
    parser.add_argument("--big-events", type=int, default=100, help="events of 1 MB in each run")
    parser.add_argument("--big-repeats", type=int, default=3)
    parser.add_argument("--drain-events", type=int, default=100_000, help="the backlog of each drain")
    parser.add_argument(
        "--stream-drain-events", type=int, default=50_000, help=f"the backlog each stream drains in {STREAMS_DRAIN}"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help=f"measure only these (repeatable or comma-separated; keeps the other figures): "
        f"{', '.join((*SCENARIOS, *ALIASES))}",
    )
    parser.add_argument("--drain-only", action="store_true", help="the same as --only drain-pro")
    parser.add_argument(
        "--drain-settings",
        action="append",
        metavar="KEY=VALUE",
        help="AUTH0_WEBHOOKS_<KEY> for the drains, beyond DRAIN_SETTINGS (e.g. MAX_EVENTS_PER_RUN=20000)",
    )
    parser.add_argument(
        "--run-settings",
        action="append",
        metavar="KEY=VALUE",
        help="AUTH0_WEBHOOKS_<KEY> for the other scenarios, beyond RUN_SETTINGS (e.g. MAX_BYTES_PER_RUN=32MB)",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite docs/ from docs/benchmarks.json")
    args = parser.parse_args()
    try:
        chosen = chosen_scenarios([*(args.only or []), *(["drain-pro"] if args.drain_only else [])])
        args.drain_settings = settings_option(args.drain_settings, DRAIN_SETTINGS)
        args.run_settings = settings_option(args.run_settings, RUN_SETTINGS)
        args.scaling_points = [int(n) for n in args.scaling_points.split(",") if n.strip()]
    except (argparse.ArgumentTypeError, ValueError) as exc:
        parser.error(str(exc))
    if args.report_only:
        write_report(Results.load())
        return 0
    # A whole run starts afresh; a partial one keeps the figures it does not measure.
    partial = chosen != list(SCENARIOS)
    results = Results.load() if partial and SAVED.exists() else Results(machine=machine())
    failed = []
    with tempfile.TemporaryDirectory(prefix="auth0-webhooks-bench-") as tmp:
        for name in chosen:
            if not attempt(results, name, args, Path(tmp) / name):
                failed.append(name)
    write_report(results)
    print(f"Wrote {DOCS / 'benchmarks.md'} and the charts beside it", flush=True)
    if failed:
        print(f"Failed: {', '.join(failed)}; measure again with --only {','.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
