"""Pending membership signals to Pinterest writes: find or create lists, ADD and REMOVE.

One :class:`ListSync` serves every sink of a run, so lists are shared across streams: a
lock per list name makes sure one name never becomes two lists, and the store is only
told what Pinterest accepted, after it accepted it.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from target_pinterest_audiences.client import CallStats
from target_pinterest_audiences.store import Store, StoredList

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from target_pinterest_audiences.client import PinterestClient
    from target_pinterest_audiences.report import ListReport, RunReport

logger = logging.getLogger(__name__)

ADD = "ADD"
REMOVE = "REMOVE"

#: Pending signals of a batch: (audience, list type) -> {hashed identifier: is a member}.
Pending = dict[tuple[str, str], dict[str, bool]]


class SyncError(Exception):
    """A run cannot go on; ``str()`` is the one line the user sees."""


@dataclass(frozen=True)
class SyncOptions:
    """The settings that shape writes."""

    ad_account_id: str
    list_name_template: str
    records_per_request: int
    sync_mode: str = "changes"
    create_audience: bool = True
    dry_run: bool = False

    def list_name(self, audience: str, list_type: str) -> str:
        """The customer list name of an audience's list of one type."""
        return self.list_name_template.format(audience=audience, list_type=list_type)


def chunked(items: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan(signals: Mapping[str, bool], known: set[str], *, members_known: bool) -> tuple[list[str], list[str], int]:
    """Split a list's signals into what to add, what to remove, and how many are unchanged.

    ``known`` are the signalled identifiers the store holds as members. Where the store saw
    every member (``members_known``), a removal of an identifier it does not hold changes
    nothing; for a list found in the account, earlier members are unknown, so removals go.
    """
    adds: list[str] = []
    removes: list[str] = []
    unchanged = 0
    for member, wanted in signals.items():
        if wanted:
            if member in known:
                unchanged += 1
            else:
                adds.append(member)
        elif member in known or not members_known:
            removes.append(member)
        else:
            unchanged += 1
    return adds, removes, unchanged


class ListSync:
    """Applies pending signals to Pinterest customer lists; shared by all sinks of a run."""

    def __init__(
        self,
        options: SyncOptions,
        store: Store,
        client: PinterestClient | None,
        report: RunReport,
    ) -> None:
        """``client`` is None in a dry run: nothing is sent."""
        self.options = options
        self.store = store
        self.client = client
        self.report = report
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._remote: dict[str, Mapping[str, object]] | None = None
        self._remote_lock = threading.Lock()
        self._lists: dict[str, StoredList] = {}

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def _remote_list(self, name: str) -> Mapping[str, object] | None:
        """The account's list of this name: all pages are read once per run, then cached."""
        assert self.client is not None  # noqa: S101 - not called in dry runs
        with self._remote_lock:
            if self._remote is None:
                self._remote = {}
                for item in self.client.customer_lists(self.options.ad_account_id):
                    # The oldest of several same-named lists wins, as Pinterest lists them.
                    self._remote.setdefault(str(item.get("name")), item)
            return self._remote.get(name)

    def _known_list(self, name: str, list_type: str) -> StoredList | None:
        """The list of this name from the run's cache, the store, or the account."""
        stored = self._lists.get(name) or self.store.get_list(self.options.ad_account_id, name)
        if stored is None and self.client is not None:
            found = self._remote_list(name)
            if found is not None:
                stored = StoredList(
                    ad_account_id=self.options.ad_account_id,
                    name=name,
                    list_id=str(found["id"]),
                    list_type=list_type,
                    audience_id=None,
                    members_known=False,
                )
                self.store.save_list(stored)
        if stored is not None:
            if stored.list_type != list_type:
                raise SyncError(
                    f"list_name_template gives the {stored.list_type} and {list_type} lists the one"
                    f" name '{name}'; put {{list_type}} in list_name_template"
                )
            self._lists[name] = stored
        return stored

    def apply(self, pending: Pending) -> None:
        """Send every list's pending changes; return only when Pinterest accepted them all."""
        for (audience, list_type), signals in sorted(pending.items()):
            self.apply_list(audience, list_type, signals)

    def apply_list(self, audience: str, list_type: str, signals: Mapping[str, bool]) -> None:
        """Bring one list in step with its signals."""
        name = self.options.list_name(audience, list_type)
        row = self.report.list_report(name, audience, list_type)
        counting = self.client.counting() if self.client is not None else nullcontext(CallStats())
        with self._lock(name), counting as calls:
            try:
                self._apply_list(name, list_type, signals, row)
            finally:
                self.report.count(row, requests=calls.requests, retries=calls.retries)

    def _apply_list(self, name: str, list_type: str, signals: Mapping[str, bool], row: ListReport) -> None:
        stored = self._known_list(name, list_type)
        known = self.store.members_among(stored.list_id, signals) if stored else set()
        adds, removes, unchanged = plan(signals, known, members_known=stored.members_known if stored else True)
        self.report.count(row, unchanged=unchanged)
        if self.options.sync_mode == "add_only":
            self.report.count(row, removals_not_sent=len(removes))
            removes = []
        if stored is None:
            # A removal from a list that does not exist changes nothing.
            self.report.count(row, unchanged=len(removes))
            removes = []
            if not adds:
                return
            stored, adds = self._create(name, list_type, adds, row)
        row.id = stored.list_id
        self._update(stored, ADD, adds, row)
        self._update(stored, REMOVE, removes, row)

    def _create(self, name: str, list_type: str, adds: list[str], row: ListReport) -> tuple[StoredList, list[str]]:
        """Create a list with its first ADD records; return it and the adds still to send."""
        first, rest = (
            adds[: self.options.records_per_request],
            adds[self.options.records_per_request :],
        )
        row.created = True
        self.report.count(row, added=len(first))
        if self.client is None:
            logger.info("Dry run: would create customer list '%s' (%s).", name, list_type)
            placeholder = StoredList(self.options.ad_account_id, name, "", list_type, None, members_known=True)
            self._lists[name] = placeholder
            return placeholder, rest
        created = self.client.create_customer_list(self.options.ad_account_id, name, list_type, first)
        stored = StoredList(
            ad_account_id=self.options.ad_account_id,
            name=name,
            list_id=str(created["id"]),
            list_type=list_type,
            audience_id=None,
            members_known=True,
        )
        self.store.save_list(stored)
        self.store.record_accepted(stored.list_id, ADD, first)
        logger.info("Created customer list '%s' (%s), id %s.", name, list_type, stored.list_id)
        if self.options.create_audience:
            audience = self.client.create_audience(self.options.ad_account_id, name, stored.list_id)
            stored = StoredList(**{**stored.__dict__, "audience_id": str(audience.get("id") or "") or None})
            self.store.save_list(stored)
            logger.info("Created audience '%s' on customer list %s.", name, stored.list_id)
        self._lists[name] = stored
        return stored, rest

    def _update(self, stored: StoredList, operation: str, members: list[str], row: ListReport) -> None:
        key = "added" if operation == ADD else "removed"
        for chunk in chunked(members, self.options.records_per_request):
            if self.client is not None:
                self.client.update_customer_list(
                    self.options.ad_account_id, stored.list_id, operation, chunk, stored.name
                )
                self.store.record_accepted(stored.list_id, operation, chunk)
            self.report.count(row, **{key: len(chunk)})

    def read_statuses(self) -> None:
        """Ask Pinterest for the status of every list the run touched (for TOO_SMALL)."""
        if self.client is None:
            return
        for row in self.report.lists.values():
            if row.id:
                found = self.client.get_customer_list(self.options.ad_account_id, row.id, row.name)
                status = found.get("status")
                row.status = str(status) if status else None
