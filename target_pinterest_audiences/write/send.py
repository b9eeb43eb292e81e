"""Requests out: each list's planned writes through the journal, lists in parallel.

One batch at a time, and a batch returns only when Pinterest accepted every write in it:
the SDK emits a STATE only after the drain that sent it returns. Lists go in parallel
threads (``parallel_requests``), each on its thread's keep-alive session, so Pinterest's
latency overlaps; the client's pacing bounds the total rate.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from target_pinterest_audiences.pinterest.client import HTTP_NOT_FOUND, PinterestError
from target_pinterest_audiences.store import StoredList, Write
from target_pinterest_audiences.write.cleanup import clean_lowercase_idfa
from target_pinterest_audiences.write.feedback import read_feedback
from target_pinterest_audiences.write.journal import CrashPoints, Journal
from target_pinterest_audiences.write.lists import ListGoneError, Lists, StopRequestedError, WriteError
from target_pinterest_audiences.write.plan import ADD, REMOVE, chunked, hold_back, plan

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_pinterest_audiences.pinterest.client import PinterestClient
    from target_pinterest_audiences.report import ListReport, RunReport
    from target_pinterest_audiences.store import Intent, Store
    from target_pinterest_audiences.write.plan import Changes

logger = logging.getLogger(__name__)

#: Pinterest's answer to a body it finds too large (RFC 9110 section 15.5.14).
HTTP_TOO_LARGE = 413
#: Times a PATCH answered 404 for a list that reads back fine is sent again before the run stops.
SPURIOUS_404_TRIES = 3


class MirrorRefusedError(WriteError):
    """A mirror snapshot would remove too large a share of a list: likely a truncated input."""


@dataclass
class WriteOptions:
    """The settings that shape writes; ``records_per_request`` shrinks after a 413."""

    ad_account_id: str
    list_name_template: str
    records_per_request: int
    sync_mode: str = "changes"
    create_audience: bool = True
    max_removal_fraction: float = 0.5
    parallel_requests: int = 4
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mirror(self) -> bool:
        """Each snapshot of an audience is its whole membership."""
        return self.sync_mode == "mirror"

    def list_name(self, audience: str, list_type: str) -> str:
        """The customer list name of an audience's list of one type."""
        return self.list_name_template.format(audience=audience, list_type=list_type)

    def too_large(self, exc: PinterestError, chunk: list[str]) -> bool:
        """Whether a refusal means "too large" and splitting helps; later requests shrink too."""
        if exc.status != HTTP_TOO_LARGE or len(chunk) < 2:  # noqa: PLR2004
            return False
        with self._lock:
            self.records_per_request = min(self.records_per_request, len(chunk) // 2)
        logger.warning(
            "Pinterest refused %d records in one request as too large; sending at most %d per request from now on.",
            len(chunk),
            self.records_per_request,
        )
        return True


class Writer:
    """Brings Pinterest's lists in step with the run's signals, one batch at a time."""

    def __init__(
        self,
        options: WriteOptions,
        store: Store,
        client: PinterestClient | None,
        report: RunReport,
        *,
        crash: CrashPoints | None = None,
    ) -> None:
        """``client`` is None in a dry run: nothing is sent and the store is not written."""
        self.options = options
        self.store = store
        self.client = client
        self.report = report
        self.journal = Journal(store, crash) if client is not None else None
        self.lists = Lists(options, store, client, self.journal, report)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = self.lists.stopping
        # Mirror snapshots: a number per audience, growing across runs of one store.
        self._mark_base = (store.run_id or 0) * 1_000_000
        self._marks: dict[str, int] = {}
        self._snapshots = 0
        # Planned writes short of a whole request, per (audience, list type): True adds.
        self._held: dict[tuple[str, str], dict[str, bool]] = {}
        self._dry_seen: dict[str, set[str]] = {}
        # A dry run's lists whose old IDFA entries the upgrade would remove: planned as empty.
        self._emptied: set[str] = set()

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _mark(self, audience: str) -> int:
        with self._guard:
            if audience not in self._marks:
                self._snapshots += 1  # a later snapshot of the audience gets a greater mark
                self._marks[audience] = self._mark_base + self._snapshots
            return self._marks[audience]

    # -- recovery -------------------------------------------------------------------------

    def settle(self) -> int:
        """Send again the writes of runs that are gone whose answer never came; return how many.

        Runs before anything else: a write that may have taken effect is made sure of, and
        recorded, before this run plans against the store. Then the lists an older version
        wrote with lowercase IDFAs are cleaned (write/cleanup.py), before any add to them.
        """
        if self.journal is None:
            left = [i for i in self.store.open_intents() if i.ad_account_id == self.options.ad_account_id]
            if left:
                logger.warning(
                    "%d writes of an interrupted run are unsettled; the next real run settles them.", len(left)
                )
            self._emptied = clean_lowercase_idfa(self)
            return 0
        settled = 0
        adopted = self.journal.unsettled(self.options.ad_account_id)
        for index, intent in enumerate(adopted):
            self._settle(intent, later=adopted[index + 1 :])
            settled += 1
        if settled:
            logger.info("Settled %d writes an interrupted run had left unconfirmed.", settled)
        clean_lowercase_idfa(self)
        return settled

    def _settle(self, intent: Intent, later: list[Intent]) -> None:
        """Send an unknown write again (ADD and REMOVE are idempotent), then record it.

        Members a later unsettled write of the same list speaks of are left to that write: it
        supersedes this one for them. A create whose answer was lost is settled by finding the
        list by name and sending its records as an ADD: a list of that name says nothing about
        which records it took.
        """
        assert self.client is not None  # noqa: S101 - only with a client
        assert self.journal is not None  # noqa: S101 - only with a client
        superseded = {member for other in later if other.name == intent.name for member in other.members}
        if superseded & set(intent.members):
            remaining = tuple(member for member in intent.members if member not in superseded)
            if not remaining:
                self.store.drop_intent(intent)
                return
            intent = self.store.narrow_intent(intent, remaining)
        if intent.list_id is None:
            found = self.lists.account_list(intent.name, fresh=True)
            if found is None:
                self.store.drop_intent(intent)  # the create took no effect: no list of its name
                return
            made = StoredList(
                intent.ad_account_id,
                intent.name,
                str(found["id"]),
                intent.list_type,
                audience_id=None,
                members_known=True,
                audience=intent.audience,
            )
            with suppress(ListGoneError):  # recorded as wanted; the list is made again when next used
                self.journal.complete(intent, lambda adopted: self.patch(made, adopted), adopted=True)
            return
        stored = self.store.get_list(intent.ad_account_id, intent.name)
        if stored is None or stored.list_id != intent.list_id:
            self.store.drop_intent(intent)  # a list the store let go of since
            return
        with suppress(ListGoneError):  # recorded as wanted; the list is made again when next used
            self.journal.complete(intent, lambda adopted: self.patch(stored, adopted), adopted=True)

    # -- batches --------------------------------------------------------------------------

    def write(self, changes: Changes, *, final: bool = True) -> None:
        """Send every list's changes; return only when Pinterest accepted them all.

        Unless ``final``, each list's planned adds and removes that do not fill a whole request
        are held back (``_held``) to go with the next batch's: a list then takes no more
        requests than its identifiers need. A final write, before any STATE leaves the target
        and at the end, sends them all.
        """
        with self._guard:
            held_lists = list(self._held) if final else []
        work = sorted({key: changes.get(key, {}) for key in [*changes, *held_lists]}.items())
        if self.client is None:  # a dry run sends nothing: no thread needed
            for (audience, list_type), signals in work:
                self.apply_list(audience, list_type, signals)
            return
        # Writes run in the pool even for one list: a signal then interrupts only this wait,
        # and the write in flight is answered and confirmed (see stop()).
        with self._guard:
            if self._pool is None:
                workers = max(1, self.options.parallel_requests)
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lists")
        failed = threading.Event()

        def apply(audience: str, list_type: str, signals: Mapping[str, bool]) -> None:
            if failed.is_set():
                return  # a list failed: the run stops, no other list starts
            try:
                self.apply_list(audience, list_type, signals, final=final)
            except BaseException:
                failed.set()
                raise

        futures = [self._pool.submit(apply, audience, list_type, signals) for (audience, list_type), signals in work]
        failure: BaseException | None = None
        for future in futures:  # the lists already started finish; then the first failure
            failure = failure or future.exception()
        if failure is not None:
            raise failure

    def apply_list(self, audience: str, list_type: str, signals: Mapping[str, bool], *, final: bool = True) -> None:
        """Bring one list in step with its signals and with what an earlier batch held back."""
        options = self.options
        per_request = options.records_per_request
        name = options.list_name(audience, list_type)
        row = self.report.list_report(name, audience, list_type)
        mark = self._mark(audience) if options.mirror else None
        with self._lock(name):
            self._check_stop()
            with self._guard:
                held = self._held.pop((audience, list_type), {})
            for member in signals:
                held.pop(member, None)  # a newer signal for it: planned again below
            stored, _ = self.lists.resolve(name, audience, list_type, first=[], mark=mark, row=row)
            known = (
                self.store.members_among(stored.list_id, signals)
                if stored is not None and name not in self._emptied
                else set()
            )
            removed = (
                self.store.removed_among(stored.list_id, signals)
                if stored is not None and not stored.members_known
                else set()
            )
            planned = plan(
                signals,
                known,
                list_exists=stored is not None,
                members_known=stored.members_known if stored is not None else True,
                add_only=options.sync_mode == "add_only",
                removed=removed,
            )
            planned.adds[:0] = [member for member, wanted in held.items() if wanted]
            planned.removes[:0] = [member for member, wanted in held.items() if not wanted]
            if not final and self.client is not None:
                held = hold_back(planned, per_request)
                if held:
                    with self._guard:
                        self._held[(audience, list_type)] = held
            self.report.count(
                row,
                unchanged=planned.unchanged,
                removals_not_sent=planned.removals_not_sent,
                removals_no_list=planned.removals_no_list,
            )
            if mark is not None and planned.seen:
                self._note_seen(name, stored, planned.seen, mark)
            if stored is None and planned.adds:
                # Made with its first request (a dry run says it would be).
                stored, created = self.lists.resolve(
                    name, audience, list_type, first=planned.adds[:per_request], mark=mark, row=row
                )
                del planned.adds[:created]
            if stored is None:
                if self.client is None:
                    self._would_create(name, row, planned.adds, mark)
                return
            row.id = stored.list_id
            for chunk in chunked(planned.adds, per_request):
                stored = self._send(stored, ADD, chunk, row, mark)
            for chunk in chunked(planned.removes, per_request):
                stored = self._send(stored, REMOVE, chunk, row, None)

    def holding(self) -> bool:
        """Whether writes short of a whole request wait for a later batch."""
        with self._guard:
            return bool(self._held)

    def _would_create(self, name: str, row: ListReport, adds: list[str], mark: int | None) -> None:
        """A dry run's list that does not exist: report what its creation would add."""
        if adds:
            row.created = True
            creates = 1 + int(self.options.create_audience)  # the list with its first records, its audience
            per_request = self.options.records_per_request
            more = -(-max(0, len(adds) - per_request) // per_request)
            self.report.count(row, added=len(adds), would_send=creates + more)
            if mark is not None:
                self._dry_seen.setdefault(name, set()).update(adds)

    def _note_seen(self, name: str, stored: StoredList | None, members: list[str], mark: int) -> None:
        if self.client is None or stored is None:
            self._dry_seen.setdefault(name, set()).update(members)
        else:
            self.store.mark_seen(stored.list_id, members, mark)

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise StopRequestedError

    def _send(
        self, stored: StoredList, operation: str, chunk: list[str], row: ListReport, mark: int | None
    ) -> StoredList:
        """One ADD or REMOVE through the journal; returns the list, made again if it was gone."""
        key = "added" if operation == ADD else "removed"
        if self.client is None or self.journal is None:
            self.report.count(row, **{key: len(chunk)}, would_send=1)
            return stored
        self._check_stop()
        try:
            with self.client.counting() as calls:
                try:
                    write = Write.to(stored, operation, chunk, mark, list_id=stored.list_id)
                    self.journal.write(write, lambda intent: self.patch(stored, intent))
                finally:
                    self.report.count(row, requests=calls.requests, retries=calls.retries)
        except ListGoneError:
            # The write is recorded as wanted; the list comes back with every member known.
            made = self.lists.make_again(stored)
            if made is None:
                made, _ = self.lists.resolve(
                    stored.name, stored.audience or "", stored.list_type, first=[], mark=mark, row=row
                )
            if made is None:
                # Nothing to put back and this write removed: no list is needed.
                self.report.count(row, **{key: len(chunk)})
                return stored
            row.id = made.list_id
            self.report.count(row, **{key: len(chunk)})
            return made
        except PinterestError as exc:
            if not self.options.too_large(exc, chunk):
                raise
            half = len(chunk) // 2
            stored = self._send(stored, operation, chunk[:half], row, mark)
            return self._send(stored, operation, chunk[half:], row, mark)
        self.report.count(row, **{key: len(chunk)})
        return stored

    def patch(self, stored: StoredList, intent: Intent) -> str:
        """PATCH the intent's records; a 404 is checked before the list counts as gone."""
        assert self.client is not None  # noqa: S101 - only with a client
        for _ in range(SPURIOUS_404_TRIES):
            try:
                self.client.update_customer_list(
                    stored.ad_account_id, stored.list_id, intent.operation, list(intent.members), stored.name
                )
            except PinterestError as exc:
                if exc.status != HTTP_NOT_FOUND:
                    raise
                if self.lists.is_gone(stored):
                    self.store.confirm(intent, stored.list_id, gone=True)
                    raise ListGoneError(stored) from None
                continue  # the list is there: Pinterest's 404 was a passing one
            return stored.list_id
        raise WriteError(
            f"Pinterest answered 404 to {intent.operation} for customer list '{stored.name}' (id {stored.list_id})"
            f" {SPURIOUS_404_TRIES} times, though reading the list finds it; run again later"
        )

    # -- mirror ---------------------------------------------------------------------------

    def finish_snapshots(self, audiences: set[str] | None = None) -> None:
        """End the mirror snapshots of these audiences (all open ones by default).

        Every list of each audience loses the members the snapshot did not contain. All
        lists are checked against ``max_removal_fraction`` first: a refusal removes nothing.
        An audience absent from the run has no snapshot and is left alone.
        """
        if not self.options.mirror:
            return
        with self._guard:
            chosen = set(self._marks) if audiences is None else set(audiences) & set(self._marks)
            marks = {audience: self._marks.pop(audience) for audience in sorted(chosen)}
        work: list[tuple[StoredList, ListReport, int]] = []
        for audience, mark in marks.items():
            for stored in self.store.lists_of_audience(self.options.ad_account_id, audience):
                total = self.store.member_count(stored.list_id)
                stale = self._unseen_count(stored, mark)
                if stale > self.options.max_removal_fraction * total:
                    raise MirrorRefusedError(
                        f"Mirror refused for customer list '{stored.name}': the snapshot would remove {stale} of"
                        f" its {total} known members ({stale / total:.0%}), more than max_removal_fraction"
                        f" {self.options.max_removal_fraction:g}. Nothing was removed. If the input is complete,"
                        " raise max_removal_fraction for this run."
                    )
                if stale:
                    row = self.report.list_report(stored.name, audience, stored.list_type)
                    work.append((stored, row, mark))
        for stored, row, mark in work:
            self._remove_unseen(stored, row, mark)

    def _unseen_count(self, stored: StoredList, mark: int) -> int:
        if self.client is not None:
            return self.store.unseen_count(stored.list_id, mark)
        if stored.name in self._emptied:
            return 0  # a dry run: the upgrade would have removed every known member first
        seen = self._dry_seen.get(stored.name, set())
        count, after = 0, ""
        while page := self.store.unseen_members(stored.list_id, None, self.options.records_per_request, after):
            after = page[-1]
            count += sum(1 for member in page if member not in seen)
        return count

    def _remove_unseen(self, stored: StoredList, row: ListReport, mark: int) -> None:
        row.id = stored.list_id
        if self.client is None:
            unseen = self._unseen_count(stored, mark)
            per_request = self.options.records_per_request
            self.report.count(row, removed=unseen, would_send=-(-unseen // per_request))
            return
        after = ""
        while page := self.store.unseen_members(stored.list_id, mark, self.options.records_per_request, after):
            after = page[-1]  # the next page starts after this one, recorded or not
            stored = self._send(stored, REMOVE, page, row, None)

    # -- the end --------------------------------------------------------------------------

    def read_feedback(self) -> None:
        """Pinterest's list statuses and audience sizes for every list the store knows (write/feedback.py)."""
        self.report.matching = read_feedback(self)

    def stop(self) -> None:
        """Start no further write; wait for the ones in flight to be answered and confirmed."""
        self._stopping.set()
        if self.client is not None:
            self.client.cancel()
        self.close()

    def close(self) -> None:
        """Let the list threads go (after the writes in flight)."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
