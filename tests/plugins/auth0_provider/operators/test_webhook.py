"""WebhookDeliveryOperator's own decisions: how long to wait before a retry, and no deferrable mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import RetryAction

from auth0_provider.exceptions import WebhookDeliveryError, WebhookRetryLater
from auth0_provider.names import DELIVER_TASK
from auth0_provider.operators.webhook import RetryAfterPolicy, WebhookDeliveryOperator


def decide(exception: BaseException):
    return RetryAfterPolicy().evaluate(exception, try_number=1, max_tries=4)


def test_a_retry_after_sets_the_next_delay():
    decision = decide(WebhookRetryLater("429", retry_after=42))
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, timedelta(seconds=42))


def test_a_retry_after_beyond_15_minutes_fails_now_and_says_how_to_resume():
    decision = decide(WebhookRetryLater("503", retry_after=3600))
    assert decision.action == RetryAction.FAIL
    assert "clear the task in the UI" in decision.reason


def test_other_failures_keep_the_usual_backoff():
    assert decide(WebhookDeliveryError("500")).action == RetryAction.DEFAULT


def test_the_policy_is_the_default_even_through_partial():
    op = WebhookDeliveryOperator(task_id=DELIVER_TASK, retry_policy=None)
    assert isinstance(op.retry_policy, RetryAfterPolicy)


def test_deferrable_mode_is_refused_because_the_triggerer_would_send_unsigned():
    with pytest.raises(ValueError, match="cannot be deferrable"):
        WebhookDeliveryOperator(task_id=DELIVER_TASK, deferrable=True)
    assert WebhookDeliveryOperator(task_id=DELIVER_TASK).deferrable is False
