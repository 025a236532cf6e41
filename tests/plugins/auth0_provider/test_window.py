"""Which window a run replays: a backfill's data interval, or the conf of a manual run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pendulum
import pytest

from auth0_provider.events import LogEvent
from auth0_provider.exceptions import ReplayWindowError
from auth0_provider.window import GRACE, ReplayWindow

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def context(run_type: str = "manual", conf: dict | None = None, interval: timedelta = timedelta(minutes=5)) -> dict:
    return {
        "dag_run": SimpleNamespace(run_type=run_type, conf=conf or {}),
        "data_interval_start": START,
        "data_interval_end": START + interval,
    }


def event(moment: str) -> LogEvent:
    return LogEvent.from_raw(f'{{"log_id":"900","date":"{moment}"}}')


def test_a_backfill_run_replays_its_data_interval():
    assert ReplayWindow.of_run(context("backfill")) == ReplayWindow(START, START + timedelta(minutes=5))


def test_a_data_interval_from_airflow_works_past_its_end():
    """Airflow hands pendulum datetimes, whose zone is lost when a timedelta is added to them."""
    ctx = context("backfill") | {
        "data_interval_start": pendulum.instance(START),
        "data_interval_end": pendulum.instance(START + timedelta(minutes=5)),
    }
    assert ReplayWindow.of_run(ctx).passed(event("2026-11-24T10:08:00.000Z"))


@pytest.mark.parametrize("run_type", ["scheduled", "manual"])
def test_other_runs_go_on_from_the_watermark(run_type):
    assert ReplayWindow.of_run(context(run_type)) is None
    assert ReplayWindow.of_run(context(run_type, {"replay_from": None, "replay_to": None})) is None  # empty UI form


def test_a_conf_window_wins_and_carries_where_to_go_on():
    conf = {"replay_from": "2026-11-24T10:00:00Z", "replay_to": "2026-11-24T14:00:00+00:00", "replay_after": "901"}
    window = ReplayWindow.of_run(context("manual", conf))
    assert window == ReplayWindow(START, START + timedelta(hours=4), "901")
    assert ReplayWindow.of_run(context("manual", window.to_conf(after="902"))).after == "902"
    assert ReplayWindow.from_conf(window.to_conf(after=window.after)) == window  # as the checkpoint carries it


@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({"replay_from": "2026-11-24T10:00:00Z"}, "Conf 'replay_to' is None"),
        ({"replay_from": "tuesday", "replay_to": "2026-11-24T10:00:00Z"}, "Conf 'replay_from' is 'tuesday'"),
        ({"replay_from": "2026-11-24T10:00:00Z", "replay_to": "2026-11-24T09:00:00Z"}, "replay_to must be after"),
    ],
)
def test_a_bad_window_names_the_conf_key_and_the_form_it_takes(conf, named):
    with pytest.raises(ReplayWindowError, match=named):
        ReplayWindow.of_run(context("manual", conf))


def test_the_window_holds_its_start_not_its_end_and_is_passed_only_after_the_grace():
    window = ReplayWindow(START, START + timedelta(minutes=5))
    assert window.contains(event("2026-11-24T10:00:00.000Z"))
    assert not window.contains(event("2026-11-24T10:05:00.000Z"))
    assert not window.contains(event("not a date"))
    assert not window.passed(event("2026-11-24T10:06:00.000Z"))
    assert window.passed(event((START + timedelta(minutes=5) + GRACE).isoformat()))


def logged(log_id: str, moment: datetime) -> LogEvent:
    return LogEvent.from_raw(f'{{"log_id":"{log_id}","date":"{moment.isoformat().replace("+00:00", "Z")}"}}')


def test_a_window_whose_first_log_comes_on_time_costs_no_retention_check():
    window = ReplayWindow(START, START + timedelta(hours=1))
    assert not window.may_predate_retention(logged("901", START + GRACE))
    assert window.may_predate_retention(logged("901", START + GRACE + timedelta(seconds=1)))
    assert window.may_predate_retention(None)


def test_what_retention_took_of_a_window():
    window = ReplayWindow(START, START + timedelta(hours=1))
    kept_before = logged("900", START - timedelta(days=1))
    kept_inside = logged("905", START + timedelta(minutes=20))
    kept_after = logged("909", START + timedelta(hours=2))
    assert window.lost_to_retention(None, kept_before) == "none"  # the tenant was quiet
    assert window.lost_to_retention(None, None) == "none"  # an empty tenant: nothing to lose
    assert window.lost_to_retention(None, kept_after) == "all"
    assert window.lost_to_retention(kept_inside, kept_inside) == "part"  # the first kept log is the window's first
    assert window.lost_to_retention(kept_inside, logged("904", START + timedelta(minutes=10))) == "none"
