"""The schema 7 upgrade's clean-up: IDFA entries an older version hashed from the lowercase id.

Pinterest hashes the uppercase IDFA, so those entries match nobody. The store knows each of
them: the first real run after the upgrade removes them from Pinterest through the journal
(stored before sent, so a killed run's removals are sent again by the next one), in every
sync mode and whatever ``max_removal_fraction`` says, before reading any input, so before
any add to the list. An entry a tap sent already hashed (the hash of the uppercase id) goes
too: the full refresh the report asks for adds it back after its removal, never before.

Two processes on one store clean a list once: each list is cleaned under the store's claim
on its name, and a list another process finished meanwhile is left alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from target_pinterest_audiences.pinterest.client import PinterestError
from target_pinterest_audiences.report import full_refresh_line
from target_pinterest_audiences.store import Write
from target_pinterest_audiences.write.lists import ListGoneError
from target_pinterest_audiences.write.plan import REMOVE

if TYPE_CHECKING:
    from target_pinterest_audiences.store import StoredList
    from target_pinterest_audiences.write.send import Writer

logger = logging.getLogger(__name__)


def clean_lowercase_idfa(writer: Writer) -> set[str]:
    """Remove the old entries of every IDFA list waiting for it; return the lists' names.

    A dry run sends nothing and says what the clean-up would remove; its planning then treats
    the lists as empty (their known members are the entries that go).
    """
    options, store, report = writer.options, writer.store, writer.report
    names = set()
    for stored in store.lowercase_idfa_lists(options.ad_account_id):
        row = report.list_report(stored.name, stored.audience or "", stored.list_type)
        row.id = stored.list_id
        if writer.client is None:
            removed = store.member_count(stored.list_id)
        else:
            with store.claim(options.ad_account_id, stored.name):
                if not store.is_lowercase_idfa(stored):
                    continue  # another process on this store cleaned it meanwhile
                removed = _remove_all(writer, stored)
                store.cleaned(stored)
        names.add(stored.name)
        row.full_refresh = True
        report.count(row, removed=removed)
        logger.warning(
            "%s", full_refresh_line(stored.name, stored.audience or "", removed, dry_run=writer.client is None)
        )
    return names


def _remove_all(writer: Writer, stored: StoredList) -> int:
    """REMOVE every member the store holds for the list, a request at a time; how many went.

    Each confirmed removal leaves the store, so the first page is always what is left.
    """
    assert writer.client is not None  # noqa: S101 - not in dry runs
    assert writer.journal is not None  # noqa: S101
    client, journal, options, store = writer.client, writer.journal, writer.options, writer.store
    row = writer.report.list_report(stored.name, stored.audience or "", stored.list_type)
    removed = 0
    while page := store.unseen_members(stored.list_id, None, options.records_per_request):
        write = Write.to(stored, REMOVE, page, list_id=stored.list_id)
        try:
            with client.counting() as calls:
                try:
                    journal.write(write, lambda intent: writer.patch(stored, intent))
                finally:
                    writer.report.count(row, requests=calls.requests, retries=calls.retries)
        except ListGoneError:
            # Deleted in Ads Manager: its entries went with it; the next member makes it anew.
            store.forget_list(stored)
            return removed + len(page)
        except PinterestError as exc:
            if not options.too_large(exc, page):
                raise
            continue  # the next page is smaller
        removed += len(page)
    return removed
