"""WebhookDeliveryOperator: the HttpOperator that POSTs one delivery to the user's webhook."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import RetryDecision, RetryPolicy

from auth0_provider import metrics
from auth0_provider.dead_letters import dead_letter, park_decision
from auth0_provider.exceptions import WebhookGone, WebhookRejected, WebhookRetryLater
from auth0_provider.hooks.webhook import WebhookHook
from auth0_provider.ledger import StreamLedger
from auth0_provider.masking import redacted_excerpt
from auth0_provider.names import CHECKPOINT_XCOM_KEY, FAILURE_XCOM_KEY, FETCH_TASK, STREAM, stream_of
from auth0_provider.receipts import receipt_for
from auth0_provider.records import PARKED, Checkpoint, DeadLetter, Delivery, DeliveryRef, Failure, Receipt, Rejection
from auth0_provider.staging import staged_delivery

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context
    from requests import Response

MAX_RETRY_AFTER = timedelta(minutes=15)
# One try at most: above the largest connect + read timeout a connection may set (300 s each), so
# it only ends a receiver that trickles its answer forever. It bounds how long a run can take.
DELIVERY_TRY_TIMEOUT = timedelta(minutes=11)
MAX_REASON = 300  # characters of a failed try's error kept for the status page


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
    """HttpOperator that sends one ``records.Delivery`` through a WebhookHook, and leaves a receipt.

    Event content comes from Auth0 users and admins. Airflow renders the template fields of a task
    mapped with ``expand_kwargs`` even when the values come from XCom, so a stock HttpOperator
    would evaluate ``{{ conn.x.password }}`` written into a user's name and send the result. Here
    the body and headers come from ``delivery``, which is not a template field.

    Mapped over the fetch task's output, each instance is given a ``delivery_ref``
    (``records.DeliveryRef``): its key, its label and the XCom page of the fetch task that holds its
    delivery, which it pulls when it starts (``staging.staged_delivery``). So an instance reads only
    its own page, whatever the size of the run.

    When the webhook answers 2xx, the task's success carries a receipt (``records.Receipt``) as the
    extra of an event of the ``stream`` asset (``StreamLedger.issue``). The stream is not declared
    among the task's outlets: a task with inlets or outlets costs one more call to the API server
    before it starts, and a delivery is the one task that runs a thousand times a run. Some other task
    of the DAG must declare it (the fetch and the commit have it among their inlets), so that the asset
    is active. A task instance run again after it delivered (cleared, or retried after its success was
    marked failed) finds its receipt and does not send again.

    A delivery whose content the receiver refuses (``WebhookRejected``) is recorded as a
    ``records.Rejection``; once refused for ``dead_letter_after`` while other deliveries succeed, and
    while the store holds fewer than ``dead_letter_max`` (``dead_letters.park_decision``), it is
    parked: a batch is cut in halves, each sent under its own key, until only the refused events are
    left, and those are kept in the dead-letter store. The task then succeeds, its receipt naming the
    parked log ids, so the watermark moves on.

    Sending always goes through WebhookHook (signing, timeouts, status handling), whatever the
    connection's type, and never in deferrable mode: the triggerer would send it unsigned.

    :param delivery: the delivery as ``Delivery.to_json()`` gives it, to send it as it is.
    :param delivery_ref: where to find the delivery instead (the fetch task's output, mapped).
    :param source_task_id: the task whose XCom pages ``delivery_ref`` points into.
    :param dead_letter_after: how long a delivery is refused before it is parked; None never parks.
    :param dead_letter_max: how many events the dead-letter store holds before parking stops; None: no bound.
    """

    # Nothing is rendered: not the body, which is event content, and not the connection id or endpoint,
    # which the DAG sets once. A task without template fields also skips the call that stores them,
    # one of the few calls each of a run's thousand deliveries makes to the API server.
    template_fields = ()

    def __init__(
        self,
        *,
        delivery: Mapping[str, Any] | None = None,
        delivery_ref: Mapping[str, Any] | None = None,
        source_task_id: str = FETCH_TASK,
        stream: Asset = STREAM,
        dead_letter_after: timedelta | None = None,
        dead_letter_max: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("http_conn_id", WebhookHook.default_conn_name)
        kwargs.setdefault("method", "POST")
        kwargs.setdefault("do_xcom_push", False)
        if kwargs.get("retry_policy") is None:  # .partial() passes None explicitly
            kwargs["retry_policy"] = RetryAfterPolicy()
        if kwargs.get("deferrable"):
            raise ValueError("WebhookDeliveryOperator cannot be deferrable: the triggerer would send unsigned.")
        kwargs["deferrable"] = False  # also when [operators] default_deferrable is on
        self.delivery = Delivery.from_json(delivery) if delivery is not None else None
        self.delivery_ref = DeliveryRef.from_json(delivery_ref) if delivery_ref is not None else None
        if self.delivery is not None:
            kwargs.update(data=self.delivery.body, headers=self.delivery.headers)
        super().__init__(**kwargs)
        self.source_task_id = source_task_id
        self.stream = stream
        self.dead_letter_after = dead_letter_after
        self.dead_letter_max = dead_letter_max

    @property
    def delivery_label(self) -> str:
        """What the Airflow UI shows for this mapped instance (log id, type, API path)."""
        if self.delivery is not None:
            return self.delivery.label
        return self.delivery_ref.label if self.delivery_ref is not None else ""

    def execute(self, context: Context) -> Any:
        if self.delivery is None and self.delivery_ref is not None:
            self.delivery = staged_delivery(context["ti"], self.delivery_ref, self.source_task_id)
            self.data, self.headers = self.delivery.body, self.delivery.headers
        if self.delivery is None:
            raise ValueError(f"{self.task_id}: no delivery to send (the fetch task's output gives each one)")
        if context["ti"].try_number > 1:  # only a task instance that ran before can have delivered
            earlier = self._earlier_receipt(context)
            if earlier is not None:
                self.log.info(
                    "Already delivered: the webhook answered %d at %s (run %s); not sent again",
                    earlier.status,
                    earlier.at.isoformat(),
                    earlier.run_id,
                )
                StreamLedger(context, self.stream).issue(earlier)
                return None
        try:
            return self._send(context)
        except BaseException as exc:
            self._note_failure(context, exc)
            raise

    def _send(self, context: Context) -> None:
        try:
            return super().execute(context)
        except WebhookRejected as exc:
            refused = exc
        except WebhookGone:
            raise
        except Exception:
            self._endpoint_trouble(context)
            raise
        return self._refused(context, refused)

    def _note_failure(self, context: Context, error: BaseException) -> None:
        """Count the failed try, and keep it (``records.Failure``) for the status page: never in the way."""
        try:
            metrics.delivery_failed()
            status = getattr(error, "status", None)
            reason = redacted_excerpt(str(error), MAX_REASON)
            failure = Failure(self.delivery.label, len(self.delivery.log_ids), status, reason, datetime.now(UTC))
            context["ti"].xcom_push(key=FAILURE_XCOM_KEY, value=failure.to_json())
            StreamLedger(context, self.stream).note_failure(failure)
        except Exception:
            self.log.warning("Could not record this failed try for the status page", exc_info=True)

    def process_response(self, context: Context, response: Response | list[Response]) -> Any:
        """The hook only returns 2xx answers: record this one as the delivery's receipt."""
        status = response.status_code if not isinstance(response, list) else response[-1].status_code
        receipt = Receipt(self.delivery.key, self.delivery.log_ids, status, datetime.now(UTC))
        ledger = StreamLedger(context, self.stream)
        if self.delivery.redelivery:
            for log_id in self.delivery.log_ids:
                ledger.discard(log_id)
        ledger.issue(receipt)
        metrics.delivered(len(self.delivery.log_ids))
        self.log.info("Delivered: the webhook answered %d to %s", status, self.delivery.key)
        return None

    def _refused(self, context: Context, refused: WebhookRejected) -> None:
        """Count this refusal; park the delivery if it is due (``dead_letters``), or fail the try."""
        if self.delivery.redelivery:
            self.log.warning("Refused again: %s stays in the dead-letter store", ", ".join(self.delivery.log_ids))
            raise refused
        ledger, now = StreamLedger(context, self.stream), datetime.now(UTC)
        key, run_id = self.delivery.key, context["run_id"]
        rejection = Rejection.after(ledger.rejection(key), key, refused.status, refused.excerpt, now, run_id)
        ledger.record_rejection(rejection)
        park, why = park_decision(
            rejection,
            self.dead_letter_after,
            now,
            lambda: ledger.receipts(self._receipts_from(context, rejection)),
            stream_of(self.dag_id).setting,
            lambda: len(ledger.index()),
            self.dead_letter_max,
        )
        if not park:
            self.log.warning("Not parked: %s", why)
            raise refused
        self.log.warning("Parking: %s", why)
        try:
            parked = self._parked_parts(rejection)
        except Exception:
            self._endpoint_trouble(context)
            raise
        letters = [
            letter
            for part, refusal in parked
            for letter in dead_letter(part, refusal, PARKED, context["run_id"], context["ti"].map_index, now)
        ]
        if letters:
            self._keep(ledger, letters)
        else:
            self.log.info("Cut into parts, the delivery was accepted whole: nothing parked")
        ledger.forget_rejection(self.delivery.key)
        parked_ids = tuple(letter.log_id for letter in letters)
        metrics.delivered(len(self.delivery.log_ids) - len(parked_ids))
        ledger.issue(Receipt(self.delivery.key, self.delivery.log_ids, refused.status, now, parked=parked_ids))
        return None

    def _parked_parts(self, rejection: Rejection) -> list[tuple[Delivery, Rejection]]:
        """The parts of this delivery the receiver still refuses, the rest delivered: halves, then quarters...

        At most 2n - 2 more POSTs for n events; endpoint trouble on any of them fails the try.
        """
        if len(self.delivery.parts) < 2:
            return [(self.delivery, rejection)]
        parked: list[tuple[Delivery, Rejection]] = []
        pending = list(self.delivery.halves())
        while pending:
            part = pending.pop(0)
            try:
                self.hook.run(self.endpoint, part.body, part.headers, self.extra_options)
                self.log.info("Delivered part %s (%d events)", part.key, len(part.log_ids))
            except WebhookRejected as exc:
                if len(part.parts) < 2:
                    refusal = rejection.of_part(part.key, exc.status, exc.excerpt, datetime.now(UTC))
                    parked.append((part, refusal))
                else:
                    pending[0:0] = part.halves()
        return parked

    def _keep(self, ledger: StreamLedger, letters: list[DeadLetter]) -> None:
        ledger.keep(letters)
        metrics.parked(len(letters))
        self.log.warning(
            "Parked %d of %d event(s) in the dead-letter store, refused by the webhook: log id(s) %s. The watermark "
            'moves past them. To send them again, trigger the DAG with conf {"redeliver": "all"} (README: '
            '"When a delivery keeps failing").',
            len(letters),
            len(self.delivery.log_ids),
            ", ".join(letter.log_id for letter in letters),
        )

    def _endpoint_trouble(self, context: Context) -> None:
        """A failure that is not a refusal: a delivery refused before starts its count again."""
        if self.dead_letter_after is None or self.delivery.redelivery:
            return
        try:
            StreamLedger(context, self.stream).forget_rejection(self.delivery.key)
        except Exception:
            self.log.warning("Could not reset this delivery's refusals", exc_info=True)

    def _receipts_from(self, context: Context, rejection: Rejection) -> datetime:
        """Where the receipts that may let a delivery be parked begin: its first refusal, or the attempt this run
        resumes, when earlier, so that the receipts of the run that first refused it (its neighbours, accepted
        before it) are among them."""
        if rejection.run_id is None:
            return rejection.first_at
        try:
            checkpoint = context["ti"].xcom_pull(task_ids=self.source_task_id, key=CHECKPOINT_XCOM_KEY)
            return min(rejection.first_at, Checkpoint.from_json(checkpoint).receipts_since)
        except Exception:
            self.log.warning("Could not read this run's checkpoint: counting receipts since the first refusal")
            return rejection.first_at

    def _earlier_receipt(self, context: Context) -> Receipt | None:
        """This delivery's receipt from an earlier try; unreadable, it costs a duplicate, never an event."""
        try:
            checkpoint = context["ti"].xcom_pull(task_ids=self.source_task_id, key=CHECKPOINT_XCOM_KEY)
            since = Checkpoint.from_json(checkpoint).receipts_since
            return receipt_for(self.delivery, StreamLedger(context, self.stream).receipts(since))
        except Exception:
            self.log.warning("Could not look for an earlier receipt: sending again", exc_info=True)
            return None

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
