"""The people "on Pinterest", for matching: what an audience's size counts.

ASSUMPTION (undocumented by Pinterest, marked so in the README): Pinterest matches a list's
entries against its users' identifiers hashed the way its help centre asks advertisers to
hash them ("Audience targeting": emails lowercase, "IDFAs (iOS) must be uppercase and AAIDs
(Android) lowercase"), in each form it accepts (MD5, SHA-1, SHA-256 hex; spec,
``CustomerListRequest.records``). An entry matches when it equals one of those hashes of a
person of the list's type; an audience's size is the number of its list's entries that match.
Pinterest's real matching (and any rounding of sizes) is not public.

The file: one person's identifier a line, ``TYPE,identifier`` with TYPE ``email``, ``idfa``
or ``aaid`` (``maid`` too); blank lines and lines starting with ``#`` are skipped. Raw values
only: the emulator hashes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

#: The list type each kind of identifier is matched in.
KINDS = {"email": "EMAIL", "idfa": "IDFA", "aaid": "MAID", "maid": "MAID"}


def forms(list_type: str, raw: str) -> set[str]:
    """The hashes Pinterest would match for one raw identifier: MD5, SHA-1 and SHA-256 hex."""
    trimmed = raw.strip()
    normalised = (trimmed.upper() if list_type == "IDFA" else trimmed.lower()).encode()
    return {
        hashlib.md5(normalised).hexdigest(),  # noqa: S324 - a form Pinterest accepts, not a security use
        hashlib.sha1(normalised).hexdigest(),  # noqa: S324 - ditto
        hashlib.sha256(normalised).hexdigest(),
    }


@dataclass(frozen=True)
class Population:
    """The hashes of the people on Pinterest, by list type."""

    hashes: dict[str, frozenset[str]]
    people: int

    @classmethod
    def parse(cls, lines: Iterable[str]) -> Population:
        """Read ``TYPE,identifier`` lines; ValueError names the first bad line by number."""
        found: dict[str, set[str]] = {list_type: set() for list_type in set(KINDS.values())}
        people = 0
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            kind, _, raw = text.partition(",")
            list_type = KINDS.get(kind.strip().lower())
            if list_type is None or not raw.strip():
                msg = f"population line {number}: expected TYPE,identifier with TYPE one of {', '.join(KINDS)}"
                raise ValueError(msg)
            found[list_type] |= forms(list_type, raw)
            people += 1
        return cls({list_type: frozenset(values) for list_type, values in found.items()}, people)

    @classmethod
    def load(cls, path: Path) -> Population:
        """Read a population file."""
        with path.open(encoding="utf-8") as handle:
            return cls.parse(handle)

    def matched(self, list_type: str, members: Iterable[str]) -> int:
        """How many of a list's entries match a person."""
        known = self.hashes.get(list_type, frozenset())
        return sum(1 for member in members if member in known)
