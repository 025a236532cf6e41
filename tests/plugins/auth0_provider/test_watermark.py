from __future__ import annotations

import pytest

from auth0_provider.exceptions import WatermarkError
from auth0_provider.watermark import Watermark, WatermarkStore, plan_commit

W1 = Watermark("90020261126085807000000000000000000000000000000000000001", "2026-11-26T08:58:07.999Z")
W2 = Watermark("90020261126085807000000000000000000000000000000000000002", "2026-11-26T08:58:08.000Z")
W3 = Watermark("90020261126085807000000000000000000000000000000000000003", "2026-11-26T08:58:09.000Z")


def test_first_commit_and_normal_commit():
    assert plan_commit(None, W1, None)[0] is True
    write, reason = plan_commit(W1, W2, W1)
    assert write is True
    assert W1.log_id in reason and W2.log_id in reason


def test_nothing_new_is_not_written():
    assert plan_commit(W1, W1, W1) == (False, f"Nothing new was read; the watermark stays at {W1.log_id}")
    assert plan_commit(W1, None, W1)[0] is False
    assert plan_commit(None, None, None)[0] is False


def test_a_stale_run_never_overwrites_a_newer_commit():
    # run started at W1 and read up to W2, but a newer run has since committed W3
    write, reason = plan_commit(W1, W2, W3)
    assert write is False
    assert "moved since this run started" in reason and W3.log_id in reason


def test_a_run_never_writes_over_a_watermark_changed_by_hand():
    assert plan_commit(W2, W3, W1)[0] is False  # someone rewound it: leave the operator's choice alone
    assert plan_commit(None, W2, W1)[0] is False  # someone set one while the first run was running


def test_watermark_json_round_trip_and_validation():
    assert Watermark.from_json(W1.to_json()) == W1
    assert Watermark.from_json(None) is None
    assert Watermark.from_json({"log_id": "123"}) == Watermark("123", None)
    for bad in ({"date": "x"}, {"log_id": ""}, "900", ["900"]):
        with pytest.raises(ValueError):
            Watermark.from_json(bad)


def test_ordering_is_by_log_id():
    assert W2.is_after(W1) and not W1.is_after(W2) and W1.is_after(None)


def test_a_watermark_shadowed_by_an_environment_variable_is_refused(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_AUTH0_WEBHOOKS_WATERMARK", '{"log_id": "1"}')
    with pytest.raises(WatermarkError, match="AIRFLOW_VAR_AUTH0_WEBHOOKS_WATERMARK shadows"):
        WatermarkStore().read()
