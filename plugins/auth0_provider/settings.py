"""The user-facing settings, read from the environment when the DAG file is parsed.

Validation happens at parse time on purpose: a bad value then shows up as a DAG import error in the
Airflow UI, naming the setting and what it accepts, instead of as a failed run at 3 a.m.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from auth0_provider.log_types import KNOWN_LOG_TYPES
from auth0_provider.payloads import PAYLOAD_FORMATS
from auth0_provider.staging import DEFAULT_MAX_BYTES, MIB, parse_size, size_text

PREFIX = "AUTH0_WEBHOOKS_"
START_FROM_KEYWORDS = ("oldest", "now")
ON_GAP_CHOICES = ("fail", "continue")
_LOG_ID = re.compile(r"^[0-9A-Za-z]{16,64}$")
_ENDPOINT = re.compile(r"^[a-z0-9][a-z0-9_\-/]*$")
MAX_CONCURRENT_CALLS = 100
MAX_DELIVERY_RETRIES = 20
MAX_BATCH_SIZE = 1000
# The dead-letter store's index is split over state store keys (dead_letters.INDEX_PAGE ids each), so its
# bound is a choice, not the 64 KB limit of one value: past it, refused deliveries are no longer parked.
DEFAULT_DEAD_LETTER_MAX = 1000
MAX_DEAD_LETTERS = 100_000
MAX_EVENTS_PER_RUN = 1_000_000
# A run holds its events in the fetch task's memory a few times over (read, cut into deliveries, paged).
MAX_BYTES_PER_RUN = (1 * MIB, 512 * MIB)
_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


# every setting's name, as AUTH0_WEBHOOKS_<name> and, lower-case, as a key of a stream in the streams file
NAMES = (
    "API_ENDPOINTS",
    "LOG_TYPES",
    "CONCURRENT_CALLS",
    "START_FROM",
    "DELIVERY_RETRIES",
    "PAYLOAD",
    "BATCH_SIZE",
    "ON_GAP",
    "DEAD_LETTER_AFTER",
    "DEAD_LETTER_MAX",
    "MAX_EVENTS_PER_RUN",
    "MAX_BYTES_PER_RUN",
    "ALERT_CONN_ID",
    "ALERT_AFTER",
)


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it and what it accepts."""


@dataclass(frozen=True)
class Settings:
    """Everything the DAG needs to know beyond its two connections."""

    api_endpoints: tuple[str, ...] = ()
    log_types: frozenset[str] = frozenset({"sapi", "fapi"})
    concurrent_calls: int = 5
    start_from: str = "oldest"
    delivery_retries: int = 3
    payload: str = "event"
    batch_size: int = 1
    on_gap: str = "fail"
    dead_letter_after: timedelta | None = timedelta(hours=1)  # None: never park
    dead_letter_max: int = DEFAULT_DEAD_LETTER_MAX
    max_events_per_run: int | None = None  # None: staging.default_max_events(batch_size)
    max_bytes_per_run: int = DEFAULT_MAX_BYTES
    alert_conn_id: str | None = None  # None: no alerts
    alert_after: timedelta = timedelta(minutes=30)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``AUTH0_WEBHOOKS_*`` environment variables: the single DAG's."""
        env = os.environ if environ is None else environ
        values = {name: env[PREFIX + name] for name in NAMES if PREFIX + name in env}
        return cls.from_values(values, lambda name: PREFIX + name)

    @classmethod
    def from_values(cls, values: Mapping[str, str], where: Callable[[str], str]) -> Settings:
        """The settings from text values by setting name (``BATCH_SIZE``); absent or empty: the default.

        ``where(name)`` is how an error names the setting: ``AUTH0_WEBHOOKS_BATCH_SIZE``, or the streams
        file's key. Every error is a ``SettingsError`` that starts with it.
        """

        def raw(name: str) -> str | None:
            value = values.get(name)
            return None if value is None else value.strip()

        defaults = cls()
        return cls(
            api_endpoints=_endpoints(where("API_ENDPOINTS"), raw("API_ENDPOINTS")),
            log_types=_log_types(where("LOG_TYPES"), raw("LOG_TYPES"), defaults.log_types),
            concurrent_calls=_int_in_range(
                where("CONCURRENT_CALLS"), raw("CONCURRENT_CALLS"), defaults.concurrent_calls, 1, MAX_CONCURRENT_CALLS
            ),
            start_from=_start_from(where("START_FROM"), raw("START_FROM"), defaults.start_from),
            delivery_retries=_int_in_range(
                where("DELIVERY_RETRIES"), raw("DELIVERY_RETRIES"), defaults.delivery_retries, 0, MAX_DELIVERY_RETRIES
            ),
            payload=_choice(
                where("PAYLOAD"),
                raw("PAYLOAD"),
                defaults.payload,
                PAYLOAD_FORMATS,
                "'event' (the Auth0 log event as returned, the default), 'legacy' ({date, request, response}, as "
                'the old auth0-webhooks sent) or \'log_stream\' ([{"log_id", "data"}], as Auth0 Log Streams send)',
            ),
            batch_size=_int_in_range(where("BATCH_SIZE"), raw("BATCH_SIZE"), defaults.batch_size, 1, MAX_BATCH_SIZE),
            on_gap=_choice(
                where("ON_GAP"),
                raw("ON_GAP"),
                defaults.on_gap,
                ON_GAP_CHOICES,
                "'fail' (the default: a run that finds logs lost to Auth0's retention fails and says so) or "
                "'continue' (accept the gap, say so in the run's log, and go on from the oldest log Auth0 keeps)",
            ),
            dead_letter_after=_duration_or_never(
                where("DEAD_LETTER_AFTER"), raw("DEAD_LETTER_AFTER"), defaults.dead_letter_after
            ),
            dead_letter_max=_int_in_range(
                where("DEAD_LETTER_MAX"), raw("DEAD_LETTER_MAX"), defaults.dead_letter_max, 1, MAX_DEAD_LETTERS
            ),
            max_events_per_run=_int_in_range(
                where("MAX_EVENTS_PER_RUN"),
                raw("MAX_EVENTS_PER_RUN"),
                defaults.max_events_per_run,
                1,
                MAX_EVENTS_PER_RUN,
            ),
            max_bytes_per_run=_size(where("MAX_BYTES_PER_RUN"), raw("MAX_BYTES_PER_RUN"), defaults.max_bytes_per_run),
            alert_conn_id=_conn_id(where("ALERT_CONN_ID"), raw("ALERT_CONN_ID")),
            alert_after=_duration(where("ALERT_AFTER"), raw("ALERT_AFTER"), defaults.alert_after),
        )


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _endpoints(where: str, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    names = []
    for part in _split(value):
        name = part.lower().strip("/")
        if name.startswith("api/v2/"):
            name = name[len("api/v2/") :]
        if not _ENDPOINT.match(name):
            raise SettingsError(
                f"{where}: {part!r} is not a Management API endpoint name. Use comma-separated "
                "names such as 'users, connections' (each matches /api/v2/<name> and paths below it), "
                "or leave it empty for all endpoints."
            )
        names.append(name)
    return tuple(dict.fromkeys(names))


def _log_types(where: str, value: str | None, default: frozenset[str]) -> frozenset[str]:
    if value is None or value == "":
        return default
    codes = _split(value)
    unknown = [code for code in codes if code not in KNOWN_LOG_TYPES]
    if unknown or not codes:
        named = ", ".join(map(repr, unknown)) or repr(value)
        raise SettingsError(
            f"{where}: unknown Auth0 log type code(s) {named}. "
            f"Use a comma-separated list of Auth0 event type codes, for example 'sapi,fapi' (the default) "
            f"or 'sapi,fapi,s,ss,sdu'. Known codes: {', '.join(sorted(KNOWN_LOG_TYPES))}."
        )
    return frozenset(codes)


def _int_in_range(where: str, value: str | None, default: int | None, low: int, high: int) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise SettingsError(f"{where}: {value!r} is not allowed. Use a whole number from {low} to {high}.")
    return number


def _size(where: str, value: str | None, default: int) -> int:
    """A size in bytes, with an optional unit: ``64MB``, ``512KB``, ``1GB``."""
    if value is None or value == "":
        return default
    low, high = MAX_BYTES_PER_RUN
    try:
        size = parse_size(value)
    except ValueError:
        size = None
    if size is None or not low <= size <= high:
        raise SettingsError(
            f"{where}: {value!r} is not allowed. Use a size from {size_text(low)} to {size_text(high)}, "
            "a whole number with KB, MB or GB (for example '64MB')."
        )
    return size


def _start_from(where: str, value: str | None, default: str) -> str:
    if value is None or value == "":
        return default
    if value.lower() in START_FROM_KEYWORDS:
        return value.lower()
    if _LOG_ID.match(value):
        return value
    raise SettingsError(
        f"{where}: {value!r} is not allowed. Use 'oldest' (every log Auth0 still keeps), "
        "'now' (only logs written from now on), or an Auth0 log id such as "
        "'90020211103020611966106762909211229137199648175879618642'."
    )


def _choice(where: str, value: str | None, default: str, choices: tuple[str, ...], explained: str) -> str:
    """One of ``choices``, case-insensitive; anything else names the setting and explains each choice."""
    if value is None or value == "":
        return default
    if value.lower() in choices:
        return value.lower()
    raise SettingsError(f"{where}: {value!r} is not allowed. Use {explained}.")


def _duration_or_never(where: str, value: str | None, default: timedelta | None) -> timedelta | None:
    """A number and a unit (``90s``, ``15m``, ``1h``, ``2d``), or ``never``."""
    if value is not None and value.lower() == "never":
        return None
    return _duration(where, value, default, ", or 'never' to turn parking off")


def _duration(where: str, value: str | None, default: timedelta | None, besides: str = "") -> timedelta | None:
    """A number and a unit: ``90s``, ``15m``, ``1h``, ``2d``."""
    if value is None or value == "":
        return default
    match = _DURATION.match(value.lower())
    if match is None or int(match.group(1)) == 0:
        raise SettingsError(
            f"{where}: {value!r} is not allowed. Use a whole number above 0 and a unit, s, m, h or d "
            f"(for example '90s', '15m', '1h' or '2d'){besides}."
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _conn_id(where: str, value: str | None) -> str | None:
    """An Airflow connection id, or None when unset."""
    if value is None or value == "":
        return None
    if not _CONN_ID.match(value):
        raise SettingsError(
            f"{where}: {value!r} is not an Airflow connection id. Use the id of a connection you made "
            "(letters, digits, '_', '-' and '.'), for example 'auth0_alerts'."
        )
    return value
