"""How a run accounts for its deliveries: the plan a resumed run makes, and the commit's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth0_provider.receipts import CLOCK_MARGIN, Plan, attempt_for, judge, missing_message, receipts_since
from auth0_provider.records import Attempt, Delivery, PlannedDelivery, Receipt
from auth0_provider.watermark import Watermark

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
W1 = Watermark("900001")


def delivery(n: int) -> Delivery:
    log_id = f"90{n:04d}"
    return Delivery(log_id, (log_id,), "{}", log_id)


def receipt(d: Delivery | PlannedDelivery, status: int = 200) -> Receipt:
    return Receipt(d.key, tuple(d.log_ids), status, NOW)


def planned(*indexes: int | None) -> tuple[PlannedDelivery, ...]:
    return tuple(PlannedDelivery(f"k{n}", (f"90{n}",), index) for n, index in enumerate(indexes))


def test_a_run_from_a_new_watermark_begins_an_attempt_and_one_from_the_same_resumes_it():
    first, resumed = attempt_for(None, W1, NOW)
    assert (first, resumed) == (Attempt(W1.log_id, NOW), False)
    later = NOW + timedelta(hours=3)
    assert attempt_for(first, W1, later) == (first, True)
    assert attempt_for(first, Watermark("900002"), later) == (Attempt("900002", later), False)
    assert attempt_for(first, None, later) == (Attempt(None, later), False)  # the watermark was deleted
    assert attempt_for(Attempt(None, NOW), None, later) == (Attempt(None, NOW), True)  # no watermark yet, again


def test_receipts_are_looked_for_a_clock_margin_before_the_attempt_began():
    assert receipts_since(NOW) == NOW - CLOCK_MARGIN


def test_a_resumed_run_plans_every_delivery_but_sends_only_those_without_a_receipt():
    deliveries = [delivery(n) for n in range(6)]
    plan = Plan.of(deliveries, [receipt(deliveries[n]) for n in (0, 2, 3, 5)])
    assert plan.to_send == (deliveries[1], deliveries[4])
    assert [p.map_index for p in plan.planned] == [None, 0, None, None, 1, None]
    assert [p.key for p in plan.planned] == [d.key for d in deliveries]
    assert plan.already_delivered == 4


def test_a_receipt_for_the_same_key_but_other_events_does_not_count():
    batch = Delivery("batch_a", ("901", "902"), "[]", "901..902")
    grown = Receipt("batch_a", ("901", "902", "903"), 200, NOW)
    assert Plan.of([batch], [grown]).to_send == (batch,)


def test_without_receipts_a_plan_sends_everything_in_order():
    deliveries = [delivery(n) for n in range(3)]
    plan = Plan.of(deliveries)
    assert plan.to_send == tuple(deliveries)
    assert [p.map_index for p in plan.planned] == [0, 1, 2]


def test_a_receipt_wins_over_any_task_state():
    plan = planned(0, 1, None)
    verdict = judge(plan, [receipt(p) for p in plan], {0: "failed", 1: "skipped"})
    assert verdict.delivered == plan and not verdict.missing and not verdict.skipped_by_hand


def test_no_receipt_and_success_means_marked_success_by_hand():
    plan = planned(0, 1)
    verdict = judge(plan, [receipt(plan[0])], {0: "success", 1: "success"})
    assert verdict.skipped_by_hand == (plan[1],)
    assert verdict.skipped_log_ids == ["901"]


def test_no_receipt_and_any_other_state_holds_the_watermark():
    plan = planned(0, 1, 2, 3, 4, None)
    states = {0: "skipped", 1: "removed", 2: "upstream_failed", 3: "failed"}  # 4: no task instance at all
    verdict = judge(plan, [], states)
    assert [state for _, state in verdict.missing] == [
        "skipped",
        "removed",
        "upstream_failed",
        "failed",
        "no state",
        "no state",
    ]
    assert not verdict.delivered and not verdict.skipped_by_hand


def test_the_refusal_counts_names_and_says_how_to_send_or_skip():
    plan = planned(0, 1, 2)
    verdict = judge(plan, [receipt(plan[0])], {1: "skipped", 2: "skipped"})
    text = missing_message(verdict, len(plan), W1, replay=False)
    assert text.startswith("2 of 3 deliveries have no receipt (2 skipped)")
    assert "The watermark stays at 900001" in text
    assert "deliver[1] log id(s) 901 (skipped)" in text and "deliver[2] log id(s) 902 (skipped)" in text
    assert "clear those deliver instances" in text and "untick 'Only failed'" in text and "mark them success" in text
    assert "rest of its window waits" in missing_message(verdict, len(plan), None, replay=True)


def test_a_long_refusal_names_twenty_and_counts_the_rest():
    plan = planned(*range(25))
    text = missing_message(judge(plan, [], {}), len(plan), None, replay=False)
    assert text.count("(no state)") == 20 and "and 5 more" in text
    assert "none (no watermark yet)" in text
