"""Query parameters, path ids and bookmark pages, as Pinterest's list endpoints take them.

Why: the target pages through every list of an account by bookmark; the emulator must hand
out pages and bookmarks the way Pinterest's spec describes them, and refuse what it refuses.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pinterest_emulator.errors import invalid

MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 25
_MAX_ID_LENGTH = 18
ID = re.compile(r"\d+")


def check_id(value: str, what: str) -> str:
    """The path id as given, or a 400 when it is not digits only, at most 18 of them (the spec)."""
    if not ID.fullmatch(value) or len(value) > _MAX_ID_LENGTH:
        msg = f"Invalid {what}: must match ^\\d+$ with at most {_MAX_ID_LENGTH} digits"
        raise invalid(msg)
    return value


def one(query: dict[str, list[str]], name: str) -> str | None:
    """The last value of a query parameter (a repeated one counts once), or None."""
    values = query.get(name)
    return values[-1] if values else None


def _encode_bookmark(last_id: str) -> str:
    # Assumption: a bookmark is an opaque string that stays valid while lists are added
    # between pages, and a bookmark Pinterest never gave is a 400 code 1 (undocumented: the
    # spec says only "Cursor used to fetch the next page of items"; null ends the pages).
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_bookmark(bookmark: str) -> int:
    try:
        text = base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, last = text.partition(":")
    if prefix != "after" or not ID.fullmatch(last):
        msg = "Invalid bookmark"
        raise invalid(msg)
    return int(last)


def paginate(items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    """Bookmark pagination by id, stable while items are added between pages."""
    raw_size = one(query, "page_size")
    try:
        page_size = DEFAULT_PAGE_SIZE if raw_size is None else int(raw_size)
    except ValueError:
        page_size = 0
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"Invalid page_size: must be an integer from 1 to {MAX_PAGE_SIZE}"
        raise invalid(msg)
    order = one(query, "order") or "ASCENDING"
    if order not in {"ASCENDING", "DESCENDING"}:
        msg = "Invalid order: must be ASCENDING or DESCENDING"
        raise invalid(msg)
    descending = order == "DESCENDING"  # by id, newest last by default ([spec] query_order)
    ordered = sorted(items, key=lambda item: int(item["id"]), reverse=descending)
    bookmark = one(query, "bookmark")
    if bookmark:
        after = _decode_bookmark(bookmark)
        ordered = [item for item in ordered if (int(item["id"]) < after if descending else int(item["id"]) > after)]
    page = ordered[:page_size]
    more = len(ordered) > page_size
    return {"items": page, "bookmark": _encode_bookmark(page[-1]["id"]) if more else None}
