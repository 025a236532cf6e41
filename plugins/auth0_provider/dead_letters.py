"""When a rejected delivery is parked, and what the dead-letter store holds: pure decisions.

A receiver that refuses one event for good (a 400 or 422: its schema does not take it) would hold the
watermark forever. A delivery is parked, counted as handled so the watermark moves on, when:

- the receiver has refused its content (``WebhookRejected``) since at least ``DEAD_LETTER_AFTER``;
- other deliveries to the same receiver succeeded meanwhile, so the endpoint works;
- its failures meanwhile were all rejections: endpoint trouble (5xx, 401, 403, 404, 408, 429, a
  redirect, a timeout, a refused connection) starts the count again, so it never parks anything.

A batch is cut in halves, each sent under its own key, until only the refused events are parked and
their neighbours are delivered. Each parked event is kept whole in the dead-letter store, with
the events a person skipped by marking their delivery success, until a redelivery run sends it.

The store is the stream asset's state store: ``dead/<log id>`` per event, and ``dead-letters``, the
index of their log ids in the order they were parked, which only the commit task writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from auth0_provider.exceptions import DeadLetterStoreFull, RedeliveryError
from auth0_provider.names import LEGACY
from auth0_provider.records import DeadLetter, Delivery, Receipt, Rejection

REDELIVER_ALL = "all"


def park_decision(
    rejection: Rejection,
    after: timedelta | None,
    now: datetime,
    receipts: Callable[[], Iterable[Receipt]],
    setting: Callable[[str], str] = LEGACY.setting,
) -> tuple[bool, str]:
    """Whether to park the delivery refused as ``rejection`` now, and why (or why not), for the log.

    ``receipts`` gives the stream's receipts since the first refusal; it is only called once that is
    ``after`` ago, so a refusal before then costs no read.
    """
    if after is None:
        return False, f"parking is off ({setting('DEAD_LETTER_AFTER')}=never)"
    refused_for = now - rejection.first_at
    if refused_for < after:
        return False, (
            f"refused {rejection.attempts} time(s) since {rejection.first_at.isoformat()}; parked once refused "
            f"for {setting('DEAD_LETTER_AFTER')} ({after}) while other deliveries succeed"
        )
    others = [r for r in receipts() if r.key != rejection.key and r.at >= rejection.first_at and not r.parked]
    if not others:
        return False, (
            f"refused for {refused_for}, but no other delivery succeeded since {rejection.first_at.isoformat()}: "
            "the receiver may refuse everything, so the stream waits"
        )
    return True, f"refused {rejection.attempts} time(s) over {refused_for} while {len(others)} other(s) succeeded"


def dead_letter(
    delivery: Delivery, rejection: Rejection | None, reason: str, run_id: str, map_index: int | None, now: datetime
) -> list[DeadLetter]:
    """One dead letter per event of ``delivery``, each the event alone, as a redelivery sends it.

    Without a ``rejection`` (skipped by hand) the receiver never answered: no status, no attempts.
    """
    status, excerpt, attempts, first_at, last_at = (
        (rejection.status, rejection.excerpt, rejection.attempts, rejection.first_at, rejection.last_at)
        if rejection
        else (None, "", 0, now, now)
    )
    return [
        DeadLetter(
            alone.log_ids[0],
            alone.key,
            alone.body,
            reason,
            status,
            excerpt,
            attempts,
            first_at,
            last_at,
            run_id,
            map_index,
        )
        for alone in delivery.singles()
    ]


def index_with(
    index: Sequence[str], log_ids: Iterable[str], bound: int, setting: Callable[[str], str] = LEGACY.setting
) -> list[str]:
    """The index with ``log_ids`` added, or DeadLetterStoreFull: the stream blocks rather than drop one."""
    merged = list(dict.fromkeys([*index, *log_ids]))
    if len(merged) > bound:
        raise DeadLetterStoreFull(
            f"The dead-letter store holds {len(index)} event(s) and this run would add {len(merged) - len(index)}, "
            f"more than {setting('DEAD_LETTER_MAX')} ({bound}). Nothing was dropped: the watermark stays where it "
            "is and the stream waits. Redeliver what the receiver now accepts (trigger the DAG with conf "
            f'{{"redeliver": "all"}}), or raise {setting("DEAD_LETTER_MAX")}; then clear this task.'
        )
    return merged


def index_from(value: Any) -> list[str]:
    return [str(log_id) for log_id in value] if isinstance(value, list) else []


def to_redeliver(asked: Any, index: Sequence[str]) -> list[str]:
    """The log ids a run's conf ``redeliver`` names: ``"all"`` or a list of log ids, each in the store."""
    if asked == REDELIVER_ALL:
        return list(index)
    if not isinstance(asked, list) or not asked or not all(isinstance(log_id, str) for log_id in asked):
        raise RedeliveryError(
            f'conf "redeliver" is {asked!r}. Use "all", or a list of the log ids to send again, for example '
            '{"redeliver": ["90020231123..."]}.'
        )
    unknown = [log_id for log_id in asked if log_id not in index]
    if unknown:
        raise RedeliveryError(
            f'conf "redeliver" names {len(unknown)} log id(s) that are not in the dead-letter store: '
            f"{', '.join(unknown[:20])}. The store holds {len(index)}; see the asset 'auth0_webhooks', "
            "Asset State Store tab, key 'dead-letters'."
        )
    return list(dict.fromkeys(asked))
