"""A clock the scheduler tests can move: put this folder on PYTHONPATH of the Airflow processes.

Python imports ``sitecustomize`` at start-up, so every Airflow process the tests start (and every
task process forked from them) signs webhooks with ``time.time()`` plus the number of seconds
written in the file named by AUTH0_TEST_CLOCK_FILE. Only the signing clock moves: the scheduler,
JWTs and logs keep real time. That lets a test make a first try happen "10 minutes ago" without
waiting 10 minutes.
"""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("AUTH0_TEST_CLOCK_FILE")

if _PATH:
    from auth0_provider import signing

    def _shifted_clock(path: str = _PATH) -> float:
        try:
            with open(path) as file:
                offset = float(file.read().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return time.time() + offset

    signing.clock = _shifted_clock
