"""``make run``: the DAG in an embedded Airflow, fed by the Auth0 stand-in, delivering to a demo receiver.

Everything listens on 127.0.0.1. Set AIRFLOW_CONN_AUTH0_DEFAULT to use a real tenant instead of the
stand-in, and AIRFLOW_CONN_AUTH0_WEBHOOK to deliver to a real webhook instead of the demo receiver.
Ctrl-C stops everything this started; once stopping has begun, no further Ctrl-C, SIGTERM or hang-up
cuts it short. MAKE_RUN_HOME and MAKE_RUN_PORT choose another Airflow home (default .airflow/) and UI port
(default 8080, or any free port when 8080 is taken).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from auth0_provider.names import STATUS_URL_PREFIX
from auth0_provider.signing import generate_signing_secret
from auth0_standin import ActivityGenerator, Auth0StandIn
from example_receiver import ExampleReceiver, print_event
from local_airflow import (
    REPO,
    admin_password,
    airflow_env,
    become_subreaper,
    free_port,
    reap_orphans,
    start,
    stop,
    wait_for,
)

HOME = Path(os.environ.get("MAKE_RUN_HOME") or REPO / ".airflow").absolute()
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL: everything is gone well within 30 s
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stopping = False


def _interrupt(signum: int, frame: object) -> None:
    """The first Ctrl-C, SIGTERM or hang-up stops everything; a later one must not abandon that.

    GNU make passes its SIGTERM on to this process, so a SIGTERM to the group (timeout, a supervisor, a
    container stop) arrives twice, and an impatient user presses Ctrl-C again: raising a second
    KeyboardInterrupt in the middle of stop() would leave Airflow running.
    """
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise KeyboardInterrupt


def main() -> int:
    global _stopping
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)
    become_subreaper()  # a component's orphans stay this process's descendants, for stop() to find
    started: list = []
    processes = []
    extra = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    try:
        if os.environ.get("AIRFLOW_CONN_AUTH0_DEFAULT"):
            print("Auth0: the tenant in AIRFLOW_CONN_AUTH0_DEFAULT")
        else:
            tenant = Auth0StandIn(port=free_port(8089)).start()
            started.append(tenant)
            seeded = tenant.seed_fixtures()
            started.append(ActivityGenerator(tenant, every_seconds=10).start())
            extra["AIRFLOW_CONN_AUTH0_DEFAULT"] = tenant.connection_uri()
            print(f"Auth0: local stand-in at {tenant.base_url} ({seeded} real events, new activity every 10 s)")
        if os.environ.get("AIRFLOW_CONN_AUTH0_WEBHOOK"):
            print("Webhook: the URL in AIRFLOW_CONN_AUTH0_WEBHOOK")
        else:
            secret = generate_signing_secret()
            receiver = ExampleReceiver(secret, print_event, port=free_port(8090)).start()
            started.append(receiver)
            extra["AIRFLOW_CONN_AUTH0_WEBHOOK"] = json.dumps(
                {"conn_type": "auth0_webhook", "host": receiver.url, "password": secret}
            )
            print(f"Webhook: demo receiver at {receiver.url} (verifies signatures, prints every event below)")

        port = int(os.environ.get("MAKE_RUN_PORT") or free_port(8080))
        env = airflow_env(HOME, port, extra)
        log_path = HOME / "standalone.log"
        print(f"Starting Airflow (standalone) in {HOME}; its log: {log_path}", flush=True)
        with open(log_path, "a") as log:
            processes.append(start(["standalone"], env, log))
            wait_for(f"http://127.0.0.1:{port}/api/v2/monitor/health", 300, processes)
        print(
            f"\nAirflow UI: http://127.0.0.1:{port}   login: admin / {admin_password(HOME)}\n"
            f"Status page: http://127.0.0.1:{port}{STATUS_URL_PREFIX}/   (in the UI: Browse > Auth0 webhooks)\n"
            "DAG auth0_webhooks is unpaused and runs every 5 minutes; the first run starts once the DAG is "
            "parsed.\nPress Ctrl-C to stop everything.\n",
            flush=True,
        )
        while processes[0].poll() is None:
            reap_orphans(processes)
            time.sleep(1)
        print(f"airflow standalone exited with {processes[0].returncode}; see {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        _stopping = True  # first, before any call: from here on a signal changes nothing
        stop(processes, STOP_GRACE, reaper=os.getpid())
        for thing in reversed(started):
            thing.stop()


if __name__ == "__main__":
    sys.exit(main())
