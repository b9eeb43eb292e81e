"""Pure: what Pinterest made of each list, run after run, and the warnings it calls for.

Pinterest never says who is in a list; its only feedback on matching is an audience's
``size`` and ``status`` (spec, ``Audience``) and a list's ``status`` (``TOO_SMALL``: fewer than
100 matched users). Sizes lag 24 to 48 h (Hightouch, Braze; third-party): a null size is
pending, a known 0 is 0. The store keeps one observation per list per run, so a share that
falls (an identifier Pinterest stops matching) shows up as a change, and a share that was
never there (the lowercase IDFAs of issue 24) as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping, Sequence

#: Pinterest's threshold for a usable audience (spec, ``Audience.status`` and ``CustomerList.status``).
MIN_MATCHED = 100
TOO_SMALL = "TOO_SMALL"
#: A share under this, of at least LOW_SHARE_MIN_MEMBERS members held, is almost certainly
#: identifiers Pinterest cannot match (a normalisation problem), not a small audience.
LOW_SHARE = 0.02
LOW_SHARE_MIN_MEMBERS = 1_000
#: A share that fell below this fraction of its previous value: something broke since.
SHARE_DROP = 0.5
NO_AUDIENCE = "no audience"
PENDING = "pending"


@dataclass(frozen=True)
class Observation:
    """One list at the end of one real run: what the store held and what Pinterest said."""

    run_id: int
    recorded_at: dt.datetime
    ad_account_id: str
    name: str
    list_id: str
    list_type: str
    members_held: int
    uploaded: int | None
    removed: int | None
    list_status: str | None
    audience_id: str | None
    audience_size: int | None
    audience_status: str | None

    @property
    def share(self) -> float | None:
        """Matched share: audience size over members held, once Pinterest has a size."""
        if self.audience_id is None or self.audience_size is None or self.members_held <= 0:
            return None
        return self.audience_size / self.members_held


@dataclass
class Matching:
    """A list's line in the report: the observation, its change and its warnings."""

    observation: Observation
    previous_share: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        """Share now minus the share of the last run that had one."""
        share = self.observation.share
        if share is None or self.previous_share is None:
            return None
        return share - self.previous_share

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (report_path)."""
        seen = self.observation
        return {
            "name": seen.name,
            "id": seen.list_id,
            "list_type": seen.list_type,
            "members_held": seen.members_held,
            "list_status": seen.list_status,
            "audience_id": seen.audience_id,
            "audience_size": seen.audience_size,
            "audience_status": seen.audience_status,
            "audience": audience_text(seen),
            "share_matched": _rounded(seen.share),
            "previous_share": _rounded(self.previous_share),
            "share_change": _rounded(self.change),
            "uploaded_user_records": seen.uploaded,
            "removed_user_records": seen.removed,
            "warnings": list(self.warnings),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def list_audiences(audiences: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The CUSTOMER_LIST audience of each list id, from the account's audience pages.

    An audience names its list in its rule; the oldest (lowest id) of several wins.
    """
    found: dict[str, Mapping[str, Any]] = {}
    for audience in sorted(audiences, key=lambda item: int(str(item.get("id") or 0))):
        rule = audience.get("rule")
        list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
        if list_id is not None:
            found.setdefault(str(list_id), audience)
    return found


def observe(  # noqa: PLR0913 - one observation is made of all of these
    *,
    run_id: int,
    now: dt.datetime,
    ad_account_id: str,
    lists: Iterable[tuple[str, str, str]],
    members_held: Mapping[str, int],
    pages: Mapping[str, Mapping[str, Any]],
    audiences: Mapping[str, Mapping[str, Any]],
) -> list[Observation]:
    """An observation per list the store knows: ``lists`` are (name, list id, list type).

    ``pages`` are the account's customer lists by id, ``audiences`` the audience of each list
    id (:func:`list_audiences`). A list missing from the pages is left out (the caller makes it
    again first).
    """
    found = []
    for name, list_id, list_type in lists:
        item = pages.get(list_id)
        if item is None:
            continue
        audience = audiences.get(list_id)
        found.append(
            Observation(
                run_id=run_id,
                recorded_at=now,
                ad_account_id=ad_account_id,
                name=name,
                list_id=list_id,
                list_type=list_type,
                members_held=members_held.get(list_id, 0),
                uploaded=_int(item.get("num_uploaded_user_records")),
                removed=_int(item.get("num_removed_user_records")),
                list_status=_str(item.get("status")),
                audience_id=_str(audience.get("id")) if audience is not None else None,
                audience_size=_int(audience.get("size")) if audience is not None else None,
                audience_status=_str(audience.get("status")) if audience is not None else None,
            )
        )
    return found


def previous_share(history: Sequence[Observation], name: str, run_id: int) -> float | None:
    """The share of the last earlier run that had one for this list (history oldest first)."""
    for seen in reversed(history):
        if seen.name == name and seen.run_id < run_id and seen.share is not None:
            return seen.share
    return None


def warnings_for(seen: Observation, before: float | None, *, added: int = 0, removed: int = 0) -> list[str]:
    """The contract's warnings for one list (Output, "Matching"); ``added``/``removed``: this run's."""
    found = []
    if seen.audience_status == TOO_SMALL:
        found.append(
            f"audience of '{seen.name}' is TOO_SMALL: fewer than {MIN_MATCHED} matched Pinterest users, so it cannot be"
            " targeted yet"
        )
    held_before = seen.members_held - added + removed
    if removed and seen.members_held < MIN_MATCHED <= held_before:
        found.append(
            f"this run's removals took '{seen.name}' from {held_before} to {seen.members_held} members, below the"
            f" {MIN_MATCHED} Pinterest needs to target it"
        )
    share = seen.share
    if share is not None and seen.members_held >= LOW_SHARE_MIN_MEMBERS and share < LOW_SHARE:
        found.append(
            f"Pinterest matched {share:.1%} of the {seen.members_held} members of '{seen.name}' (under"
            f" {LOW_SHARE:.0%}): its identifiers are probably not what Pinterest matches (check their normalisation)"
        )
    if share is not None and before is not None and share < before * SHARE_DROP:
        found.append(
            f"the matched share of '{seen.name}' fell from {before:.1%} to {share:.1%}, under half: check what changed"
            " in its identifiers"
        )
    return found


def audience_text(seen: Observation) -> str:
    """The audience cell: its size, pending while Pinterest has none, or "no audience"."""
    if seen.audience_id is None:
        return NO_AUDIENCE
    if seen.audience_size is None:
        return PENDING
    return str(seen.audience_size)


def share_text(seen: Observation) -> str:
    """The share cell: a percentage, pending, or "-" without an audience."""
    if seen.audience_id is None:
        return "-"
    share = seen.share
    return PENDING if share is None else f"{share:.1%}"


def change_text(matching: Matching) -> str:
    """The change cell, in percentage points; "-" without two known shares."""
    change = matching.change
    return "-" if change is None else f"{change * 100:+.1f} pt"
