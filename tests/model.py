"""A reference model of what Pinterest must hold, written from CONTRACT.md's rules alone.

It knows nothing of the target's code: it reads the same simple inputs the simulation
feeds the target (flat rows ``{"audience", "email", "in_audience"}`` and stream-as-audience
rows ``{"email"}``) and applies the contract's Semantics:

- one list per (audience, list type), named ``"{audience} ({list_type})"`` (the default
  ``list_name_template``); emails are trimmed, lowercased and SHA-256 hashed;
- within a run the last signal for an identifier wins, whatever its stream;
- ``changes``: true adds, false removes; a removal for a list that does not exist creates nothing;
- ``add_only``: removals are never sent;
- ``mirror``: the records of an audience in a run are its whole membership: afterwards the
  list holds the identifiers whose last signal is true; an audience absent from the run is left alone;
- a list exists only once an ADD created it; a list Pinterest says is gone is made again, when
  a run next speaks of its audience, with every member it held plus the run's changes.

One rule leaves room: in ``add_only`` an identifier that joins and then leaves within one run
may have been sent with an earlier batch (the leave is then never sent) or not at all. The
model keeps such identifiers as *uncertain*: the list may hold them or not, until a later
signal settles them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MODES = ("changes", "add_only", "mirror")
EMAIL = "EMAIL"


def hashed(email: str) -> str:
    """What Pinterest must receive for a raw email: SHA-256 hex of the trimmed, lowercase value."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def list_name(audience: str, list_type: str = EMAIL) -> str:
    """The default ``list_name_template``, ``{audience} ({list_type})``."""
    return f"{audience} ({list_type})"


@dataclass(frozen=True)
class Signal:
    """One record's word on one identifier: a member of ``audience`` or not."""

    audience: str
    email: str
    member: bool


def signal_of(stream: str, record: Mapping[str, object]) -> Signal:
    """The signal of one simulation record: a flat row (has ``audience``) or a stream-as-audience row."""
    email = str(record["email"])
    if "audience" in record:
        return Signal(str(record["audience"]), email, record.get("in_audience", True) is True)
    return Signal(stream, email, member=True)


@dataclass
class ListModel:
    """What one list must hold: ``sure`` members, and ``uncertain`` ones it may or may not hold."""

    sure: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)
    gone: bool = False
    """Deleted at Pinterest (in Ads Manager) and not spoken of since: Pinterest holds no list."""


@dataclass
class Model:
    """Per audience (EMAIL lists only), what the customer list must hold after each run."""

    lists: dict[str, ListModel] = field(default_factory=dict)
    ever_joined: set[str] = field(default_factory=set)
    """Audiences that ever had a member signal: only those may have a list (an empty one, too)."""

    def apply_run(self, mode: str, signals: Iterable[Signal]) -> None:
        """Apply one complete run's input (every signal of it, in input order)."""
        if mode not in MODES:
            msg = f"unknown mode {mode!r}"
            raise ValueError(msg)
        last: dict[str, dict[str, bool]] = {}
        joined: dict[str, set[str]] = {}
        for signal in signals:
            key = hashed(signal.email)
            finals = last.setdefault(signal.audience, {})
            finals[key] = signal.member
            if signal.member:
                joined.setdefault(signal.audience, set()).add(key)
        for audience, finals in last.items():
            self._apply_audience(mode, audience, finals, joined.get(audience, set()))

    def _apply_audience(self, mode: str, audience: str, finals: dict[str, bool], joined: set[str]) -> None:
        adds = {key for key, member in finals.items() if member}
        removes = {key for key, member in finals.items() if not member}
        if joined:
            self.ever_joined.add(audience)
        current = self.lists.get(audience)
        if current is None:
            if not adds and not (mode == "add_only" and joined):
                return  # a removal for a list that does not exist creates nothing
            current = self.lists[audience] = ListModel()
        current.gone = False  # spoken of again: made again with what it held plus the changes
        if mode == "mirror":
            current.sure = adds
            current.uncertain = set()
        elif mode == "changes":
            current.sure = (current.sure | adds) - removes
            current.uncertain -= adds | removes
        else:  # add_only: removals never sent
            current.sure |= adds
            current.uncertain -= adds
            current.uncertain |= (joined & removes) - current.sure

    def apply_cut_short_run(self, mode: str, signals: Iterable[Signal]) -> None:
        """A run cut short (failed, killed) and never resumed: each change it speaks of may or may not
        be at Pinterest, until a later signal settles it.

        Any identifier that joined anywhere in the run may have been added; one that left anywhere
        may have been removed (not in ``add_only``); in ``mirror``, so may every member the
        snapshot does not end with.
        """
        if mode not in MODES:
            msg = f"unknown mode {mode!r}"
            raise ValueError(msg)
        joined: dict[str, set[str]] = {}
        left: dict[str, set[str]] = {}
        finals: dict[str, dict[str, bool]] = {}
        for signal in signals:
            key = hashed(signal.email)
            (joined if signal.member else left).setdefault(signal.audience, set()).add(key)
            finals.setdefault(signal.audience, {})[key] = signal.member
        for audience, last in finals.items():
            came = joined.get(audience, set())
            went = left.get(audience, set())
            if came:
                self.ever_joined.add(audience)
            current = self.lists.get(audience)
            if current is None:
                if not came:
                    continue
                current = self.lists[audience] = ListModel()
            maybe_removed: set[str] = set()
            if mode == "changes":
                maybe_removed = current.sure & went
            elif mode == "mirror":
                ends_with = {key for key, member in last.items() if member}
                maybe_removed = (current.sure - ends_with) | (current.sure & went)
            current.uncertain |= maybe_removed | (came - current.sure)
            current.sure -= maybe_removed

    def delete_list(self, audience: str) -> None:
        """The list was deleted at Pinterest: it holds nothing until a run speaks of its audience."""
        if audience in self.lists:
            self.lists[audience].gone = True

    def check(self, held: Mapping[str, frozenset[str]]) -> list[str]:
        """Every way ``held`` (list name -> members, as Pinterest holds them) breaks the model."""
        names = {list_name(audience) for audience in self.ever_joined}
        problems = [
            f"{name}: a list no member signal ever asked for ({len(held[name])} members)"
            for name in sorted(set(held) - names)
        ]
        for audience in sorted(self.ever_joined):
            name = list_name(audience)
            expected = self.lists.get(audience, ListModel())
            members = held.get(name)
            if expected.gone:
                if members is not None:
                    problems.append(f"{name}: deleted and not spoken of since, yet Pinterest holds it")
                continue
            if members is None:
                if expected.sure:
                    problems.append(f"{name}: missing; it must hold {len(expected.sure)} members")
                continue
            missing = expected.sure - members
            extra = members - expected.sure - expected.uncertain
            if missing or extra:
                problems.append(f"{name}: {len(missing)} members missing, {len(extra)} members too many")
        return problems
