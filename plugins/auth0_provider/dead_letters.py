"""When a rejected delivery is parked, and what the dead-letter store holds: pure decisions.

A receiver that refuses one event for good (a 400 or 422: its schema does not take it) would hold the
watermark forever. A delivery is parked, counted as handled so the watermark moves on, when:

- the receiver has refused its content (``WebhookRejected``) since at least ``DEAD_LETTER_AFTER``;
- other deliveries to the same receiver succeeded meanwhile, so the endpoint works;
- another delivery to the same receiver was accepted: since its first refusal, or in the run that
  first refused it (its neighbours, accepted before it was refused: a poison last in a run whose backlog
  fills every run to its cap is sent alone by every later run, so nothing else succeeds after it);
- its failures meanwhile were all rejections: endpoint trouble (5xx, 401, 403, 404, 408, 429, a
  redirect, a timeout, a refused connection) starts the count again, so it never parks anything;
- the store holds fewer than ``DEAD_LETTER_MAX`` events. A full store parks nothing more: refused
  deliveries hold the stream, as with parking off, until a redelivery empties it or the bound is raised.

A batch is cut in halves, each sent under its own key, until only the refused events are parked and
their neighbours are delivered. Each parked event is kept whole in the dead-letter store, with
the events a person skipped by marking their delivery success, until a redelivery run sends it.

The store is the stream asset's state store: ``dead/<log id>`` per event, and the index of their log ids
in the order they were parked, which only the commit task writes. The commit never refuses to index
what its run parked or a person skipped, so every event in the store can be redelivered; one run may
take the store past its bound (by what it parks at once), never the index past what it can hold. The
index is split over keys of ``INDEX_PAGE`` ids each (a state store value is at most 64 KB):
``dead-letters``, then ``dead-letters/2``, ``dead-letters/3``...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from auth0_provider.exceptions import RedeliveryError
from auth0_provider.names import DAG_ID, DEAD_LETTER_INDEX, LEGACY
from auth0_provider.records import DeadLetter, Delivery, Receipt, Rejection

REDELIVER_ALL = "all"
# Log ids per key of the index: 500 ids of up to 64 characters, quoted, fit well within the state store's
# 64 KB limit on one value ([state_store] max_value_storage_bytes).
INDEX_PAGE = 500
MAX_INDEX_PAGES = 10_000  # a bound on the reading loop only: far beyond DEAD_LETTER_MAX plus one run's parkings


def park_decision(
    rejection: Rejection,
    after: timedelta | None,
    now: datetime,
    receipts: Callable[[], Iterable[Receipt]],
    setting: Callable[[str], str] = LEGACY.setting,
    held: Callable[[], int] = lambda: 0,
    bound: int | None = None,
) -> tuple[bool, str]:
    """Whether to park the delivery refused as ``rejection`` now, and why (or why not), for the log.

    ``receipts`` gives the stream's receipts since the first refusal, and those of the run that first
    refused it; ``held`` how many events the store holds, at most ``bound``. Each is only called once
    the delivery has been refused for ``after``, so a refusal before then costs no read.
    """
    if after is None:
        return False, f"parking is off ({setting('DEAD_LETTER_AFTER')}=never)"
    refused_for = now - rejection.first_at
    if refused_for < after:
        return False, (
            f"refused {rejection.attempts} time(s) since {rejection.first_at.isoformat()}; parked once refused "
            f"for {setting('DEAD_LETTER_AFTER')} ({after}) while other deliveries succeed"
        )
    others = [r for r in receipts() if r.key != rejection.key and not r.parked and _beside(r, rejection)]
    if not others:
        return False, (
            f"refused for {refused_for}, but no other delivery succeeded since {rejection.first_at.isoformat()}, "
            "nor in the run that first refused it: the receiver may refuse everything, so the stream waits"
        )
    if bound is not None and (count := held()) >= bound:
        return False, (
            f"the dead-letter store is full: it holds {count} event(s), {setting('DEAD_LETTER_MAX')} is {bound}. "
            "Nothing more is parked, so the stream waits on this delivery; nothing is dropped. Redeliver what "
            'the receiver now accepts (the status page, or trigger the DAG with conf {"redeliver": "all"}), or '
            f"raise {setting('DEAD_LETTER_MAX')}; the next run or retry parks it, or delivers it once accepted"
        )
    return True, f"refused {rejection.attempts} time(s) over {refused_for} while {len(others)} other(s) succeeded"


def _beside(receipt: Receipt, rejection: Rejection) -> bool:
    """Accepted since the first refusal, or by the run that first refused it (its neighbours, before it)."""
    return receipt.at >= rejection.first_at or (rejection.run_id is not None and receipt.run_id == rejection.run_id)


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


def index_with(index: Sequence[str], log_ids: Iterable[str]) -> list[str]:
    """The index with ``log_ids`` added, each once, in the order they came."""
    return list(dict.fromkeys([*index, *log_ids]))


def index_from(value: Any) -> list[str]:
    return [str(log_id) for log_id in value] if isinstance(value, list) else []


def index_key(page: int) -> str:
    """The state store key of the index's ``page`` (0, 1, ...): ``dead-letters``, ``dead-letters/2``..."""
    return DEAD_LETTER_INDEX if page == 0 else f"{DEAD_LETTER_INDEX}/{page + 1}"


def read_index(get: Callable[[str], Any]) -> list[str]:
    """The whole index, page after page, ``get`` reading one key of the state store (None when absent)."""
    index: list[str] = []
    for page in range(MAX_INDEX_PAGES):
        ids = index_from(get(index_key(page)))
        if not ids:
            break
        index += ids
    return index


def index_pages(index: Sequence[str]) -> list[list[str]]:
    """The index cut into the pages its keys hold, in order."""
    return [list(index[start : start + INDEX_PAGE]) for start in range(0, len(index), INDEX_PAGE)]


def to_redeliver(asked: Any, index: Sequence[str], stream: str = DAG_ID) -> list[str]:
    """The log ids a run's conf ``redeliver`` names: ``"all"`` or a list of log ids, each in ``stream``'s store."""
    if asked == REDELIVER_ALL:
        return list(index)
    if not isinstance(asked, list) or not asked or not all(isinstance(log_id, str) for log_id in asked):
        raise RedeliveryError(
            f'conf "redeliver" is {asked!r}. Use "all", or a list of the log ids to send again, for example '
            '{"redeliver": ["90020231123..."]}.'
        )
    held = set(index)
    unknown = [log_id for log_id in asked if log_id not in held]
    if unknown:
        raise RedeliveryError(
            f'conf "redeliver" names {len(unknown)} log id(s) that are not in the dead-letter store: '
            f"{', '.join(unknown[:20])}. The store holds {len(index)}: see the status page of {stream!r}, or "
            f"the asset {stream!r}, Asset State Store tab, key 'dead-letters'."
        )
    return list(dict.fromkeys(asked))
