"""Every error the provider raises inside a task, sorted by what Airflow does with it.

- ``AirflowFailException`` subclasses fail the task at once, without its retries: retrying cannot help
  until a person changes something, and the message says what.
- ``AirflowException`` subclasses fail the try; Airflow retries the task as configured.

Errors raised outside a task live with the pure code that raises them: ``settings.SettingsError`` (a
DAG import error), ``signing.SigningSecretError`` and ``events.MalformedLogPage`` (turned into the
errors below by the hooks).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException

# -- fail the task, no retry: a person must act ------------------------------------------------


class Auth0ConfigError(AirflowFailException):
    """The Auth0 connection or application is misconfigured."""


class WebhookConfigError(AirflowFailException):
    """The webhook connection is unusable as configured."""


class WebhookGone(AirflowFailException):
    """The receiver answered 410 Gone: it asked us to stop sending."""

    status = 410


class WatermarkError(AirflowFailException):
    """The stored watermark cannot be read or written as we need."""


class RetentionGapError(AirflowFailException):
    """Logs after the watermark were deleted by Auth0's retention before they were delivered."""


class ReplayWindowError(AirflowFailException):
    """The run's conf asks for a replay that cannot be done, or Auth0 no longer keeps its logs."""


class MissingReceiptsError(AirflowFailException):
    """Some planned deliveries have no receipt and were not marked success: the watermark must not move."""


class CheckpointError(AirflowFailException):
    """The run's checkpoint cannot be read: written by an earlier version of the provider, or edited."""


class RedeliveryError(AirflowFailException):
    """The run's conf asks to redeliver what the dead-letter store does not hold."""


class AlertConfigError(AirflowFailException):
    """The alert connection is missing, of a type that cannot send alerts, or lacks what it needs."""


class ClearedWithoutDeliveriesError(AirflowFailException):
    """fetch_logs was cleared alone, while its deliveries still hold results for what it read before."""


# -- fail the try, Airflow retries -----------------------------------------------------------


class Auth0Error(AirflowException):
    """Auth0 could not be reached, or answered in a way a retry of the task may fix."""


class AlertDeliveryError(AirflowException):
    """The alert channel did not take the alert (unreachable, refused, timed out): another try may get through."""


class WebhookDeliveryError(AirflowException):
    """The receiver did not accept the delivery; a retry may."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the receiver's answer, None when none came


class WebhookRetryLater(WebhookDeliveryError):
    """The receiver asked, with Retry-After, to be retried no sooner than ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float, status: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class WebhookRejected(WebhookDeliveryError):
    """The receiver refused this delivery's content (a 4xx that is not about the endpoint or our credentials).

    Retried like any failed delivery; one rejected for ``AUTH0_WEBHOOKS_DEAD_LETTER_AFTER`` while other
    deliveries succeed is parked in the dead-letter store (``dead_letters``).
    """

    def __init__(self, message: str, status: int, excerpt: str) -> None:
        super().__init__(message, status)
        self.excerpt = excerpt
