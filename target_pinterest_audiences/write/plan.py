"""Pure planning: pending signals and what the store knows become ADD and REMOVE requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ADD = "ADD"
REMOVE = "REMOVE"

#: Signals of a batch: (audience, list type) -> {hashed identifier: is a member}.
Changes = dict[tuple[str, str], dict[str, bool]]


class Pending:
    """The run's signals not sent yet, shared by every stream's sink.

    One map for all streams, filled in input order: the last signal for an identifier wins
    whichever stream carried it, and a drain (by any sink) takes all of it at once.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._changes: Changes = {}

    def add(self, audience: str, list_type: str, member: str, wanted: bool) -> None:  # noqa: FBT001
        """Note the newest signal for one identifier of one list."""
        signals = self._changes.get((audience, list_type))
        if signals is None:
            signals = self._changes[(audience, list_type)] = {}
        signals[member] = wanted

    def take(self) -> Changes:
        """Everything pending, leaving nothing behind (the run takes it one drain at a time)."""
        changes, self._changes = self._changes, {}
        return changes

    def __len__(self) -> int:
        """How many signals wait."""
        return sum(len(signals) for signals in self._changes.values())


@dataclass
class Plan:
    """What one list's signals need: the writes, and what needs none."""

    adds: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    unchanged: int = 0
    """Signals that would not change the list (a member again, a non-member leaving)."""
    removals_no_list: int = 0
    """Leaves for a list that does not exist yet: nothing to send, counted apart."""
    removals_not_sent: int = 0
    """Removals ``add_only`` keeps back."""
    seen: list[str] = field(default_factory=list)
    """Known members signalled again: a mirror snapshot marks them without a write."""


def plan(  # noqa: PLR0913 - what a list's signals are planned against
    signals: Mapping[str, bool],
    known: set[str],
    *,
    list_exists: bool,
    members_known: bool,
    add_only: bool = False,
    removed: set[str] | None = None,
) -> Plan:
    """Split a list's signals into adds and removes against the members the store knows.

    ``known`` are the signalled identifiers the store holds as members. Where the store saw
    every member (``members_known``: the list was made here), removing an identifier it
    does not hold changes nothing; for a list found in the account, earlier members are
    unknown, so removals go, except those already sent (``removed``, the store's tombstones).
    A removal from a list that does not exist changes nothing.
    """
    removed = removed or set()
    result = Plan()
    for member, wanted in signals.items():
        if wanted:
            if member in known:
                result.unchanged += 1
                result.seen.append(member)
            else:
                result.adds.append(member)
        elif not list_exists:
            result.removals_no_list += 1
        elif member in known or (not members_known and member not in removed):
            if add_only:
                result.removals_not_sent += 1
            else:
                result.removes.append(member)
        else:
            result.unchanged += 1
    return result


def hold_back(planned: Plan, per_request: int) -> dict[str, bool]:
    """Take the adds and removes that do not fill a whole request out of ``planned``.

    Returns them as signals (True: to add), to wait for the next batch.
    """
    held: dict[str, bool] = {}
    for members, wanted in ((planned.adds, True), (planned.removes, False)):
        cut = len(members) - len(members) % per_request
        held.update(dict.fromkeys(members[cut:], wanted))
        del members[cut:]
    return held


def chunked(items: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
