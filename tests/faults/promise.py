"""The promise every fault test checks, and the docs/reliability.md row that reports it.

At least once, nothing lost, the watermark never past an undelivered event. ``Promise`` counts what
arrived against what should have, checks the watermark after every run, and at the end compares the
figures with the test's row in docs/reliability.md, so the table cannot drift from the tests.

A person may give an event up (mark its delivery success): ``skip`` takes it out of what must
arrive and counts it in the "Skipped by hand" column that the tables of UI operations have. An
event the receiver refuses for good may be parked as a dead letter: ``park`` lets the watermark pass
it, as long as the dead-letter store holds it, and counts it in the "Parked" column.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from auth0_provider.events import log_id_key

RELIABILITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
FIGURES = ("Delivered", "Duplicates", "Lost", "Skipped by hand", "Parked")


@dataclass(frozen=True)
class Tally:
    delivered: int  # distinct expected events that arrived at least once
    duplicates: int  # arrivals of an expected event beyond its first
    lost: int  # expected events that never arrived
    skipped_by_hand: int = 0  # events a person gave up; the watermark may pass them
    parked: int = 0  # events kept in the dead-letter store; the watermark may pass them


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented_rows(doc: Path = RELIABILITY_DOC) -> dict[str, dict[str, str]]:
    """Every row of the document's tables, by the test it names, keyed by its table's own headers."""
    rows: dict[str, dict[str, str]] = {}
    lines = doc.read_text().splitlines()
    header: list[str] = []
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if not line.startswith("|"):
            header = []
            continue
        if following.startswith("|---"):
            header = _cells(line)
            continue
        cells = _cells(line)
        test = re.fullmatch(r"`(test_\w+)`", cells[-1])
        if header and len(cells) == len(header) and test:
            rows[test.group(1)] = dict(zip(header, cells, strict=True))
    return rows


class Promise:
    """What one fault test expects to arrive, and how the watermark may move meanwhile."""

    def __init__(self, test_name: str, arrived: Callable[[], list[str]], watermark: Callable[[], str | None]):
        self.test_name = test_name
        self._arrived = arrived
        self._watermark = watermark
        self.expected: list[str] = []
        self.skipped: list[str] = []
        self.parked: list[str] = []

    def expect(self, log_ids: Iterable[str]) -> None:
        """These events must reach the webhook (each at least once)."""
        self.expected += [log_id for log_id in log_ids if log_id not in self.expected]

    def skip(self, log_ids: Iterable[str]) -> None:
        """A person gave these up: they need not arrive, and the watermark may pass them."""
        given_up = set(log_ids)
        self.expected = [log_id for log_id in self.expected if log_id not in given_up]
        self.skipped += [log_id for log_id in given_up if log_id not in self.skipped]

    def park(self, log_ids: Iterable[str]) -> None:
        """The receiver refuses these: the watermark may pass them once they are parked (the test checks the
        store). They still count as expected, so a test that redelivers them proves they arrive."""
        self.parked += [log_id for log_id in log_ids if log_id not in self.parked]

    def check_watermark(self) -> None:
        """The watermark is never past an expected event that has not arrived yet."""
        mark = self._watermark()
        if mark is None:
            return
        arrived = set(self._arrived())
        waiting = [i for i in self.expected if i not in arrived and i not in self.parked]
        behind = [i for i in waiting if log_id_key(i) <= log_id_key(mark)]
        assert not behind, f"watermark {mark} is past {len(behind)} undelivered event(s): {behind[:5]}"

    def tally(self) -> Tally:
        counts = Counter(log_id for log_id in self._arrived() if log_id in self.expected)
        kept = [log_id for log_id in self.parked if log_id not in counts]  # in the dead-letter store
        return Tally(
            delivered=len(counts),
            duplicates=sum(counts.values()) - len(counts),
            lost=len(self.expected) - len(counts) - len(kept),
            skipped_by_hand=len(self.skipped),
            parked=len(self.parked),
        )

    def settle(self, duplicates: int = 0) -> Tally:
        """Nothing lost, these many duplicates, the watermark behind deliveries, and the doc row agreeing."""
        self.check_watermark()
        tally = self.tally()
        missing = sorted(set(self.expected) - set(self._arrived()) - set(self.parked))
        assert tally.lost == 0, f"{tally.lost} event(s) lost: {missing[:5]}"
        assert tally.duplicates == duplicates, tally
        assert self.expected, "a fault test must expect some events"
        row = documented_rows().get(self.test_name)
        assert row is not None, f"docs/reliability.md has no row for {self.test_name}"
        documented = Tally(*(int(row.get(column, "0")) for column in FIGURES))
        assert documented == tally, f"docs/reliability.md says {documented}, the test saw {tally}"
        return tally
