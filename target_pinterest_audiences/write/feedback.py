"""Pinterest's feedback at the end of a real run: every known list's status, audience size and status.

Read from the account's paginated listings (customer lists, then audiences; 250 a page), so
a run with hundreds of lists spends a handful of reads on them, not one GET per list. A list
the store knows that is missing from the pages (deleted in Ads Manager) and that input spoke of
since the last feedback (this run, or one cut short after its STATE passed those records: see
``Store.note_spoken``) is confirmed gone and made again with every member the store knows, as a
write that finds it gone does; one the input did not speak of is left deleted until it does.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from target_pinterest_audiences.matching import Matching, list_audiences, observe, previous_share, warnings_for

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_pinterest_audiences.write.send import Writer

logger = logging.getLogger(__name__)


def read_feedback(writer: Writer) -> list[Matching]:
    """Read the feedback, keep it in the store's history, and set each report row's list status."""
    client, store, report = writer.client, writer.store, writer.report
    if client is None or store.run_id is None:
        return []
    account = writer.options.ad_account_id
    known = store.lists_in_account(account)
    if not known:
        return []  # no list to ask about: no request
    with client.counting() as calls:
        pages = {str(item.get("id")): item for item in client.customer_lists(account)}
    reads = calls.requests
    spoken = store.spoken(account) | set(report.lists)
    for stored in known:
        # A list already marked gone (a rebuild cut short) is finished here too.
        if stored.list_id not in pages and stored.name in spoken:
            # Deleted in Ads Manager, and spoken of by this run: made again now. One the run did
            # not speak of stays deleted until the input speaks of it again.
            _made_again(writer, stored.name, pages)
    known = store.lists_in_account(account)
    with client.counting() as calls:
        audiences = list_audiences(client.audiences(account))
    report.feedback_requests = reads + calls.requests
    for row in report.lists.values():
        item = pages.get(row.id or "")
        if item is not None:
            row.status = str(item.get("status") or "") or None
    history = store.history(account)
    observations = observe(
        run_id=store.run_id,
        now=dt.datetime.now(tz=dt.timezone.utc),
        ad_account_id=account,
        lists=[(stored.name, stored.list_id, stored.list_type) for stored in known],
        members_held=store.member_counts(account),
        pages=pages,
        audiences=audiences,
    )
    store.add_history(observations)
    store.forget_spoken(account)
    found = []
    for seen in observations:
        before = previous_share(history, seen.name, seen.run_id)
        done = report.lists.get(seen.name)
        added, removed = (done.added, done.removed) if done is not None else (0, 0)
        found.append(Matching(seen, before, warnings_for(seen, before, added=added, removed=removed)))
    return found


def _made_again(writer: Writer, name: str, pages: dict[str, Mapping[str, Any]]) -> None:
    """A known list missing from the account's pages: when Pinterest confirms it gone, make it again."""
    assert writer.client is not None  # noqa: S101 - only with a client
    store, lists, account = writer.store, writer.lists, writer.options.ad_account_id
    stored = store.get_list(account, name)
    if stored is None or not lists.is_gone(stored):
        return
    store.mark_gone(stored)
    made = lists.make_again(stored)
    row = writer.report.lists.get(name)
    if row is not None:
        row.id = made.list_id if made is not None else None
    if made is not None:
        pages[made.list_id] = writer.client.get_customer_list(account, made.list_id, made.name)
