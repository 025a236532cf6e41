"""WebhookDeliveryOperator: the HttpOperator that POSTs one delivery to the user's webhook."""

from __future__ import annotations

from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk.exceptions import AirflowException
from requests import Response

DEFAULT_TIMEOUT = (10.0, 30.0)  # connect, read: a hung receiver must not hold a worker slot forever


class WebhookDeliveryOperator(HttpOperator):
    """HttpOperator whose body and headers are data, never Jinja templates.

    Event content comes from Auth0 users and admins. Airflow renders the template fields of a task
    mapped with ``expand_kwargs`` even when the values come from XCom, so a stock HttpOperator
    would evaluate ``{{ conn.x.password }}`` written into a user's name and send the result. Here
    ``data`` and ``headers`` are simply not template fields.

    :param delivery_label: what the Airflow UI shows for this mapped instance (log id, type, API path).
    """

    template_fields = ("endpoint", "http_conn_id")

    def __init__(self, *, delivery_label: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("method", "POST")
        kwargs.setdefault("response_check", require_2xx)
        kwargs.setdefault("extra_options", {"timeout": DEFAULT_TIMEOUT, "allow_redirects": False})
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(**kwargs)
        self.delivery_label = delivery_label


def require_2xx(response: Response) -> bool:
    """Only a 2xx is a delivery. A redirect is not followed: requests would replay a POST as a GET."""
    if 200 <= response.status_code < 300:
        return True
    if 300 <= response.status_code < 400:
        raise AirflowException(
            f"Webhook answered {response.status_code} {response.reason} (redirect to "
            f"{response.headers.get('Location', 'nowhere')}); the event was not delivered. Point the "
            "auth0_webhook connection at the final URL."
        )
    raise AirflowException(f"Webhook answered {response.status_code} {response.reason}")
