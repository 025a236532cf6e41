"""The local Airflow's environment (``make run`` and the scheduler tests)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import local_airflow

HELD = 15  # seconds a writer holds the lock: past SQLite's default 5 s wait, after Airflow's import


def test_airflow_waits_out_a_writer_that_holds_sqlite_longer_than_the_default_5_s(tmp_path):
    """The api-server, scheduler and task runners all write to one SQLite file; a busy moment must make
    a write wait, not fail with "database is locked" (a UI trigger answered 500, a backfill refused). Its time
    is bounded from below only (it did wait for the writer): a busy machine makes that longer, never shorter."""
    env = local_airflow.airflow_env(tmp_path, local_airflow.free_port())
    writer = sqlite3.connect(tmp_path / "airflow.db", isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")  # as Airflow keeps it
    writer.execute("CREATE TABLE probe (x INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(HELD, writer.execute, ["COMMIT"])
    release.start()
    started = time.monotonic()
    try:
        script = (
            "import sqlalchemy\nfrom airflow import settings\n"
            "with settings.engine.begin() as db:\n    db.execute(sqlalchemy.text('INSERT INTO probe VALUES (1)'))"
        )
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    finally:
        release.join()
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - started >= HELD  # it did wait for the writer
    assert writer.execute("SELECT x FROM probe").fetchall() == [(1,)]
    writer.close()
