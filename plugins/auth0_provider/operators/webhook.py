"""WebhookDeliveryOperator: the HttpOperator that POSTs one delivery to the user's webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import RetryDecision, RetryPolicy

from auth0_provider.hooks.webhook import WebhookHook, WebhookRetryLater

MAX_RETRY_AFTER = timedelta(minutes=15)


class RetryAfterPolicy(RetryPolicy):
    """Retry when the receiver said to (its Retry-After), not on the task's usual backoff.

    A wait longer than ``max_wait`` fails the task instead: retrying sooner would ignore the
    receiver, and holding the run that long blocks the next ones. Clearing it from the UI resumes.
    """

    def __init__(self, max_wait: timedelta = MAX_RETRY_AFTER) -> None:
        self.max_wait = max_wait

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        if not isinstance(exception, WebhookRetryLater):
            return RetryDecision.default()
        wait = timedelta(seconds=exception.retry_after)
        if wait > self.max_wait:
            return RetryDecision.fail(
                f"{exception}, more than the {self.max_wait} a run waits: clear the task in the UI once "
                "the receiver is ready"
            )
        return RetryDecision.retry(wait, reason=str(exception))


class WebhookDeliveryOperator(HttpOperator):
    """HttpOperator whose body and headers are data, never Jinja templates, sent by a WebhookHook.

    Event content comes from Auth0 users and admins. Airflow renders the template fields of a task
    mapped with ``expand_kwargs`` even when the values come from XCom, so a stock HttpOperator
    would evaluate ``{{ conn.x.password }}`` written into a user's name and send the result. Here
    ``data`` and ``headers`` are simply not template fields.

    Sending always goes through WebhookHook (signing, timeouts, status handling), whatever the
    connection's type, and never in deferrable mode: the triggerer would send it unsigned.

    :param delivery_label: what the Airflow UI shows for this mapped instance (log id, type, API path).
    """

    template_fields = ("endpoint", "http_conn_id")

    def __init__(self, *, delivery_label: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("http_conn_id", WebhookHook.default_conn_name)
        kwargs.setdefault("method", "POST")
        kwargs.setdefault("do_xcom_push", False)
        if kwargs.get("retry_policy") is None:  # .partial() passes None explicitly
            kwargs["retry_policy"] = RetryAfterPolicy()
        if kwargs.get("deferrable"):
            raise ValueError("WebhookDeliveryOperator cannot be deferrable: the triggerer would send unsigned.")
        kwargs["deferrable"] = False  # also when [operators] default_deferrable is on
        super().__init__(**kwargs)
        self.delivery_label = delivery_label

    @property
    def hook(self) -> WebhookHook:
        return WebhookHook(
            http_conn_id=self.http_conn_id,
            method=self.method,
            tcp_keep_alive=self.tcp_keep_alive,
            tcp_keep_alive_idle=self.tcp_keep_alive_idle,
            tcp_keep_alive_count=self.tcp_keep_alive_count,
            tcp_keep_alive_interval=self.tcp_keep_alive_interval,
        )
