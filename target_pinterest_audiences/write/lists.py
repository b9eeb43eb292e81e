"""Customer lists by name: found in the store or the account, made with their first records.

One name is one list, also across parallel streams, runs and processes sharing a store:
finding and making happen under the store's claim on the name. A list Pinterest says is
gone (a 404 for it, confirmed by reading it and the ad account) is made again with every
member the store knows, which stay under the old id until the new list holds them all.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from target_pinterest_audiences.pinterest.client import HTTP_NOT_FOUND, PinterestError
from target_pinterest_audiences.store import StoredList, Write
from target_pinterest_audiences.write.plan import ADD

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_pinterest_audiences.pinterest.client import PinterestClient
    from target_pinterest_audiences.report import ListReport, RunReport
    from target_pinterest_audiences.store import Intent, Store
    from target_pinterest_audiences.write.journal import Journal
    from target_pinterest_audiences.write.send import WriteOptions

logger = logging.getLogger(__name__)


class WriteError(Exception):
    """A run cannot go on; ``str()`` is the one line the user sees."""


class StopRequestedError(Exception):
    """The run was asked to stop (SIGINT/SIGTERM): no further write starts."""


class ListGoneError(Exception):
    """Pinterest confirmed a list gone; the write that found out is recorded as wanted."""

    def __init__(self, stored: StoredList) -> None:
        """Keep the list that is gone."""
        super().__init__(stored.name)
        self.stored = stored


class Lists:
    """Finds, makes, and makes again the run's customer lists."""

    def __init__(
        self,
        options: WriteOptions,
        store: Store,
        client: PinterestClient | None,
        journal: Journal | None,
        report: RunReport,
    ) -> None:
        """``client`` and ``journal`` are None in a dry run: nothing is looked up or made."""
        self.options = options
        self.store = store
        self.client = client
        self.journal = journal
        self.report = report
        self._account: dict[str, Mapping[str, Any]] | None = None
        self._account_lock = threading.Lock()
        self.stopping = threading.Event()
        #: Known lists this run spoke of, noted in the store once each (see Store.note_spoken).
        self._spoken: set[str] = set()

    def check_stop(self) -> None:
        """Raise when the run was asked to stop: no further write starts."""
        if self.stopping.is_set():
            raise StopRequestedError

    def account_list(self, name: str, *, fresh: bool = False) -> Mapping[str, Any] | None:
        """The account's list of this name: every page is read once per run (again when ``fresh``)."""
        assert self.client is not None  # noqa: S101 - never called in dry runs
        with self._account_lock:
            if self._account is None or fresh:
                found: dict[str, Mapping[str, Any]] = {}
                for item in self.client.customer_lists(self.options.ad_account_id):
                    # The oldest of several same-named lists wins, as Pinterest lists them.
                    found.setdefault(str(item.get("name")), item)
                self._account = found
            return self._account.get(name)

    def resolve(  # noqa: PLR0913 - what a list is made of
        self, name: str, audience: str, list_type: str, *, first: list[str], mark: int | None, row: ListReport
    ) -> tuple[StoredList | None, int]:
        """The list of this name, made with ``first`` records when it exists nowhere.

        Returns the list (None when it exists nowhere and ``first`` is empty, or in a dry
        run) and how many of ``first`` its creation took.
        """
        # A list the store knows is not read back first (issue 24: one GET per list per run):
        # a write to a list deleted in Ads Manager answers 404, which is confirmed and makes it
        # again (write/send.py), and the end of the run finds it missing from the account's pages.
        stored = self.store.get_list(self.options.ad_account_id, name)
        if stored is not None and name not in self._spoken:
            self._spoken.add(name)
            self.store.note_spoken(self.options.ad_account_id, name)
        if stored is not None and stored.gone and self.client is not None:
            stored = self.make_again(stored)
        if stored is None and self.client is not None:
            with self.store.claim(self.options.ad_account_id, name):
                stored = self.store.get_list(self.options.ad_account_id, name)
                if stored is None:
                    found = self.account_list(name)
                    if found is not None:
                        # Found, not made here: members added before the store saw it are unknown.
                        stored = StoredList(
                            self.options.ad_account_id,
                            name,
                            str(found["id"]),
                            list_type,
                            audience_id=None,
                            members_known=False,
                            audience=audience,
                        )
                        self.store.save_list(stored)
                    elif first:
                        return self._create(name, audience, list_type, first=first, mark=mark, row=row)
        if stored is None:
            return None, 0
        if stored.list_type != list_type:
            raise WriteError(
                f"list_name_template gives the {stored.list_type} and {list_type} lists the one"
                f" name '{name}'; put {{list_type}} in list_name_template"
            )
        return self.ensure_audience(stored), 0

    def _create(  # noqa: PLR0913 - what a list is made of
        self, name: str, audience: str, list_type: str, *, first: list[str], mark: int | None, row: ListReport
    ) -> tuple[StoredList, int]:
        """Make the list with its first records (under the caller's claim on the name)."""
        assert self.client is not None  # noqa: S101 - not in dry runs
        assert self.journal is not None  # noqa: S101
        client = self.client
        size = min(len(first), self.options.records_per_request)
        while True:
            chunk = first[:size]
            try:
                with client.counting() as calls:
                    write = Write(self.options.ad_account_id, name, audience, list_type, None, ADD, tuple(chunk), mark)
                    self.journal.write(write, self.create_remote)
            except PinterestError as exc:
                if not self.options.too_large(exc, chunk):
                    raise
                size = self.options.records_per_request
                continue
            finally:
                self.report.count(row, requests=calls.requests, retries=calls.retries)
            break
        stored = self.store.get_list(self.options.ad_account_id, name)
        assert stored is not None  # noqa: S101 - the confirmation saved it
        logger.info("Created customer list '%s' (%s), id %s.", name, list_type, stored.list_id)
        row.created = True
        self.report.count(row, added=len(chunk))
        return self.ensure_audience(stored, search=False), len(chunk)

    def create_remote(self, intent: Intent) -> str:
        """POST a new list with the intent's records; a lost answer is looked up, never repeated."""
        assert self.client is not None  # noqa: S101 - not in dry runs
        created = self.client.create_customer_list(
            intent.ad_account_id, intent.name, intent.list_type, list(intent.members)
        )
        return str(created["id"])

    def ensure_audience(self, stored: StoredList, *, search: bool = True) -> StoredList:
        """Give a list its CUSTOMER_LIST audience when create_audience asks for one.

        Also mends a list whose audience was never made (a run killed between the two calls):
        an existing audience on the list is found first, so none is made twice. A list just
        made has none: ``search`` False skips the look.
        """
        if self.client is None or not self.options.create_audience or stored.audience_id:
            return stored
        found = self.client.find_list_audience(stored.ad_account_id, stored.list_id) if search else None
        made = found or self.client.create_audience(stored.ad_account_id, stored.name, stored.list_id)
        if found is None:
            logger.info("Created audience '%s' on customer list %s.", stored.name, stored.list_id)
        stored = replace(stored, audience_id=str(made.get("id") or "") or None)
        self.store.save_list(stored)
        return stored

    def is_gone(self, stored: StoredList) -> bool:
        """Whether Pinterest really lost a list: a 404 reading it, and no such id in the account.

        One 404 may pass (Pinterest answered one for a live list), so the account's list pages
        have the last word; they answer 404 (code 2) themselves when it is the ad account that
        is unknown, which stops the run.
        """
        assert self.client is not None  # noqa: S101 - not in dry runs
        try:
            self.client.get_customer_list(stored.ad_account_id, stored.list_id, stored.name)
        except PinterestError as exc:
            if exc.status != HTTP_NOT_FOUND:
                raise
            self.account_list(stored.name, fresh=True)
            assert self._account is not None  # noqa: S101 - just read
            return all(str(item.get("id")) != stored.list_id for item in self._account.values())
        return False

    def make_again(self, gone: StoredList) -> StoredList | None:
        """Make a gone list again with every member the store knows, through the journal.

        Safe to repeat after a kill: the store says "gone" until the new list holds every
        member, so a later run sends them all again; a list of the name made by an earlier
        try is found first. Each write is an intent like any other, and a stop ends the
        rebuild between writes. None when there was no member to put back: the next member
        makes the list as new.
        """
        assert self.client is not None  # noqa: S101 - not in dry runs
        assert self.journal is not None  # noqa: S101
        options = self.options
        with self.store.claim(options.ad_account_id, gone.name):
            current = self.store.get_list(options.ad_account_id, gone.name)
            if current is None or not current.gone:
                return current
            found = self.account_list(gone.name, fresh=True)
            count, after = 0, ""
            if found is None:
                first = self.store.unseen_members(current.list_id, None, options.records_per_request)
                if not first:
                    # Nothing to put back: the next member makes the list as new.
                    self.store.forget_list(current)
                    logger.warning("Customer list '%s' (id %s) is gone at Pinterest.", gone.name, gone.list_id)
                    return None
                self.check_stop()
                write = Write.to(current, ADD, first, list_id=None)
                new_id = self.journal.write(write, self.create_remote)
                count, after = len(first), first[-1]
            else:
                new_id = str(found["id"])
                self.store.move_members(current, new_id)
            while page := self.store.unseen_members(new_id, None, options.records_per_request, after):
                after = page[-1]
                self.check_stop()
                write = Write.to(current, ADD, page, list_id=new_id)
                self.journal.write(write, partial(self._add_to, new_id))
                count += len(page)
            self.store.replace_list(replace(current, list_id=new_id), new_id)
        logger.warning(
            "Customer list '%s' (id %s) is gone at Pinterest; made it again as id %s with the %d members the store"
            " knows.",
            gone.name,
            gone.list_id,
            new_id,
            count,
        )
        stored = self.store.get_list(options.ad_account_id, gone.name)
        assert stored is not None  # noqa: S101 - replace_list kept it
        return self.ensure_audience(stored)

    def _add_to(self, list_id: str, intent: Intent) -> str:
        """PATCH a rebuild's ADD to the new list."""
        assert self.client is not None  # noqa: S101 - not in dry runs
        self.client.update_customer_list(intent.ad_account_id, list_id, ADD, list(intent.members), intent.name)
        return list_id
