"""Pending membership signals to Pinterest writes: find or create lists, ADD and REMOVE.

One :class:`ListSync` serves every sink of a run, so lists are shared across streams: a
lock per list name makes sure one name never becomes two lists, and the store is only
told what Pinterest accepted, after it accepted it.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from target_pinterest_audiences.pinterest.client import CallStats, PinterestError
from target_pinterest_audiences.store import Accepted, Store, StoredList

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from target_pinterest_audiences.pinterest.client import PinterestClient
    from target_pinterest_audiences.report import ListReport, RunReport

logger = logging.getLogger(__name__)

ADD = "ADD"
REMOVE = "REMOVE"

#: Accepted members held before the store records them in one transaction. Members are
#: random keys, so a commit writes a page of the table for nearly every member in it; the
#: more a commit holds, the more members share a page. A state, a flush or a failure records
#: them sooner; until then lookups see them through ListSync's overlay.
RECORD_EVERY = 100_000

#: Pinterest's answer to a body it finds too large (RFC 9110 section 15.5.14).
HTTP_TOO_LARGE = 413
HTTP_NOT_FOUND = 404

#: Pending signals of a batch: (audience, list type) -> {hashed identifier: is a member}.
Pending = dict[tuple[str, str], dict[str, bool]]


class SyncError(Exception):
    """A run cannot go on; ``str()`` is the one line the user sees."""


class ListGoneError(Exception):
    """A list id the store knew is unknown to Pinterest (deleted in Ads Manager)."""

    def __init__(self, list_id: str) -> None:
        """Keep the id that is gone."""
        super().__init__(list_id)
        self.list_id = list_id


class MirrorRefusedError(SyncError):
    """A mirror snapshot would remove too large a share of a list: likely a truncated input."""


@dataclass(frozen=True)
class SyncOptions:
    """The settings that shape writes."""

    ad_account_id: str
    list_name_template: str
    records_per_request: int
    sync_mode: str = "changes"
    create_audience: bool = True
    max_removal_fraction: float = 0.5
    parallel_requests: int = 4

    @property
    def mirror(self) -> bool:
        """Each snapshot of an audience is its whole membership."""
        return self.sync_mode == "mirror"

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


@dataclass
class _Carry:
    """A list's adds and removes that waited for a fuller request (ordered sets)."""

    audience: str
    list_type: str
    adds: dict[str, None] = field(default_factory=dict)
    removes: dict[str, None] = field(default_factory=dict)

    def merge(
        self, planned: tuple[list[str], list[str], set[str]], signals: Mapping[str, bool]
    ) -> tuple[list[str], list[str], set[str]]:
        """The carried changes the new signals do not overrule, then the newly planned ones."""
        adds, removes, known = planned
        if self.adds:
            adds = [member for member in self.adds if member not in signals] + adds
        if self.removes:
            removes = [member for member in self.removes if member not in signals] + removes
        return adds, removes, known


class ListSync:
    """Applies pending signals to Pinterest customer lists; shared by all sinks of a run.

    Mirror mode marks every member a snapshot contains with the snapshot's number (``seen``
    in the store); when the snapshot ends, the members of its audiences' lists that carry
    an older mark (marks only grow) are the ones to remove. The diff is paged out of the store by key, so a
    million-member list mirrors in bounded memory.
    """

    def __init__(
        self,
        options: SyncOptions,
        store: Store,
        client: PinterestClient | None,
        report: RunReport,
        run_id: int | None = None,
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
        # Mirror snapshots: a number per audience, unique across runs of one store.
        self._mark_base = (run_id or 0) * 1_000_000
        self._marks: dict[str, int] = {}
        self._mark_count = 0
        self._dry_seen: dict[str, set[str]] = {}
        self.chunk_size = options.records_per_request
        self._pool: ThreadPoolExecutor | None = None
        self._carry: dict[str, _Carry] = {}
        # One batch waits while the sender works on another: reading stays one batch ahead.
        self._batches: queue.Queue[Pending | None] = queue.Queue(maxsize=1)
        self._sender: threading.Thread | None = None
        self._failure: BaseException | None = None
        # Requests Pinterest accepted that the store has not recorded yet (see _each_list),
        # and per list id what they say of each member (True: added, False: removed).
        self._accepted: list[Accepted] = []
        self._accepted_members = 0
        self._overlay: dict[str, dict[str, bool]] = {}
        self._recording = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def mark(self, audience: str) -> int:
        """The number of the audience's current mirror snapshot."""
        with self._locks_guard:
            if audience not in self._marks:
                self._mark_count += 1
                self._marks[audience] = self._mark_base + self._mark_count
            return self._marks[audience]

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

    def _known_list(self, name: str, list_type: str, audience: str) -> StoredList | None:
        """The list of this name from the store, or the account (then remembered)."""
        stored = self.store.get_list(self.options.ad_account_id, name)
        if stored is None and self.client is not None:
            found = self._remote_list(name)
            if found is not None:
                # Found, not made here: members added before the store saw the list are unknown.
                stored = self._remember(name, audience, list_type, str(found["id"]), members_known=False)
        if stored is not None and stored.list_type != list_type:
            raise SyncError(
                f"list_name_template gives the {stored.list_type} and {list_type} lists the one"
                f" name '{name}'; put {{list_type}} in list_name_template"
            )
        return stored

    def _remember(self, name: str, audience: str, list_type: str, list_id: str, *, members_known: bool) -> StoredList:
        """Keep a list's id in the store."""
        stored = StoredList(
            ad_account_id=self.options.ad_account_id,
            name=name,
            list_id=list_id,
            list_type=list_type,
            audience_id=None,
            members_known=members_known,
            audience=audience,
        )
        self.store.save_list(stored)
        return stored

    def submit(self, pending: Pending) -> None:
        """Hand a batch to the sender thread and go back to reading input.

        Reading and classifying the next batch overlaps with this one's requests and store
        writes. Batches are applied one after another, in order, so the last signal still
        wins. :meth:`wait` (before any state leaves the target) returns only when every
        submitted batch was accepted, and raises the first failure.
        """
        self._raise_failure()
        with self._locks_guard:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_batches, name="sender", daemon=True)
                self._sender.start()
        self._batches.put(pending)

    def wait(self) -> None:
        """Return when every submitted batch was accepted; raise the first failure."""
        self._batches.join()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _send_batches(self) -> None:
        while True:
            try:
                pending = self._batches.get_nowait()
            except queue.Empty:
                self._idle()
                pending = self._batches.get()
            try:
                if pending is None:
                    return
                if self._failure is None:
                    self.apply(pending)
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread by wait()
                self._failure = exc
            finally:
                self._batches.task_done()

    def _idle(self) -> None:
        """No batch waits: record what Pinterest accepted, and copy the store's WAL back.

        Both would otherwise wait for the flush after the input's last line and for the end
        of the run, when nothing else can go on meanwhile.
        """
        if self._failure is None and self._accepted:
            try:
                self._record_accepted()
                self.store.checkpoint()
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread by wait()
                self._failure = exc

    def apply(self, pending: Pending) -> None:
        """Send every list's pending changes; return only when Pinterest accepted them all.

        Lists go in parallel (``parallel_requests`` at once), each on its thread's keep-alive
        session, so network latency overlaps; pacing still bounds the total rate.
        """
        work = [(audience, kind, signals, False) for (audience, kind), signals in sorted(pending.items())]
        self._each_list(work, record=False)

    def flush(self, audiences: set[str] | None = None) -> None:
        """Send what batches left over (less than a request's worth), for these audiences or all.

        Called before any state leaves the target and before a mirror snapshot ends, so a
        state never runs ahead of a change that waited for fuller requests.
        """
        self.wait()
        with self._locks_guard:
            waiting = sorted(
                (carry.audience, carry.list_type)
                for carry in self._carry.values()
                if audiences is None or carry.audience in audiences
            )
        self._each_list([(audience, kind, {}, True) for audience, kind in waiting], record=True)

    def _each_list(self, work: Sequence[tuple[str, str, Mapping[str, bool], bool]], *, record: bool) -> None:
        """Apply each list's signals; then record what Pinterest accepted, in one transaction.

        The store records the accepted requests when ``record`` says so (a flush: before any
        state leaves), when they add up to RECORD_EVERY members, and when a list failed.
        """
        try:
            self._apply_each(work)
        except BaseException:
            self._record_accepted()
            raise
        self._record_accepted(force=record)

    def _apply_each(self, work: Sequence[tuple[str, str, Mapping[str, bool], bool]]) -> None:
        if self.client is None or self.options.parallel_requests < 2 or len(work) < 2:  # noqa: PLR2004
            for audience, list_type, signals, final in work:
                self.apply_list(audience, list_type, signals, final=final)
            return
        with self._locks_guard:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.options.parallel_requests, thread_name_prefix="lists")
        futures = [self._pool.submit(self.apply_list, a, k, s, final=f) for a, k, s, f in work]
        wait(futures)
        for future in futures:
            future.result()  # the first failure, once every list had its chance

    def _record_accepted(self, *, force: bool = True) -> None:
        """Record the accepted requests in the store (unless too few wait and not ``force``).

        The sender may do it while it is idle, when a flush looks members up at the same
        time: the requests leave the overlay only after the store holds them, one recording
        at a time, and _known reads the overlay before it asks the store.
        """
        with self._recording:
            with self._locks_guard:
                if not force and self._accepted_members < RECORD_EVERY:
                    return
                accepted = list(self._accepted)
            if not accepted:
                return
            self.store.record_all(accepted)
            recorded = {id(item) for item in accepted}
            with self._locks_guard:
                self._hold_only([item for item in self._accepted if id(item) not in recorded])

    def _hold(self, accepted: Accepted) -> None:
        """Keep an accepted request until the store records it; lookups see it meanwhile.

        Call under ``_locks_guard``.
        """
        self._accepted.append(accepted)
        self._accepted_members += len(accepted.members)
        self._overlay.setdefault(accepted.list_id, {}).update(
            dict.fromkeys(accepted.members, accepted.operation_type == ADD)
        )

    def _hold_only(self, accepted: list[Accepted]) -> None:
        """Keep just these unrecorded requests, in order (under ``_locks_guard``)."""
        self._accepted, self._accepted_members, self._overlay = [], 0, {}
        for item in accepted:
            self._hold(item)

    def close(self, *, wait: bool = True) -> None:
        """Stop the sender and the list threads; a failed run does not wait for them."""
        if self._sender is not None and wait:
            self._batches.put(None)
            self._sender.join()
            self._record_accepted()
        self._sender = None
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None

    def apply_list(self, audience: str, list_type: str, signals: Mapping[str, bool], *, final: bool = True) -> None:
        """Bring one list in step with its signals; unless ``final``, keep a partial request back."""
        name = self.options.list_name(audience, list_type)
        row = self.report.list_report(name, audience, list_type)
        counting = self.client.counting() if self.client is not None else nullcontext(CallStats())
        with self._lock(name), counting as calls:
            try:
                before = replace(row)
                try:
                    self._apply_list(name, audience, list_type, signals, row, final=final)
                except ListGoneError as gone:
                    # Deleted in Ads Manager since the store learnt its id: forget it, start over.
                    logger.warning("Customer list '%s' (id %s) is gone; it is made again.", name, gone.list_id)
                    with self._recording, self._locks_guard:  # forget_list drops their journal rows too
                        self.store.forget_list(self.options.ad_account_id, name, gone.list_id)
                        self._hold_only([item for item in self._accepted if item.list_id != gone.list_id])
                    self._lists.pop(name, None)
                    with self._remote_lock:
                        if self._remote is not None:
                            self._remote.pop(name, None)
                    self.report.restore(row, before)
                    self._apply_list(name, audience, list_type, signals, row, final=final)
            finally:
                self.report.count(row, requests=calls.requests, retries=calls.retries)

    def _apply_list(  # noqa: PLR0913
        self, name: str, audience: str, list_type: str, signals: Mapping[str, bool], row: ListReport, *, final: bool
    ) -> None:
        """Plan the signals together with what earlier batches left over, send full requests.

        Unless ``final``, adds and removes short of a whole request wait for the next batch
        (or the flush before the next state), so each list and operation takes no more
        requests than its identifiers need.
        """
        mark = self.mark(audience) if self.options.mirror else None
        carried = self._carry.get(name) or _Carry(audience, list_type)
        stored = self._lists.get(name)
        if stored is None:
            # Find or create under a lock that other processes sharing the store respect too.
            with self.store.list_lock(self.options.ad_account_id, name):
                stored = self._known_list(name, list_type, audience)
                adds, removes, known = carried.merge(self._plan(stored, signals, row), signals)
                if stored is None:
                    if not final and len(adds) < self.chunk_size:
                        self._keep(name, _Carry(audience, list_type, dict.fromkeys(adds)))
                        return
                    if not adds:
                        self._keep(name, None)
                        return
                    stored, adds = self._create(name, audience, list_type, adds, row=row, mark=mark)
                else:
                    stored = self._ensure_audience(stored)
                self._lists[name] = stored
        else:
            adds, removes, known = carried.merge(self._plan(stored, signals, row), signals)
        row.id = stored.list_id or None
        if mark is not None:
            self._note_seen(stored, [member for member in known if signals[member]], mark)
        adds, kept_adds = self._whole_requests(adds, final=final)
        removes, kept_removes = self._whole_requests(removes, final=final)
        self._update(stored, ADD, adds, row, mark)
        self._update(stored, REMOVE, removes, row, None)
        self._keep(name, _Carry(audience, list_type, kept_adds, kept_removes) if kept_adds or kept_removes else None)

    def _whole_requests(self, members: list[str], *, final: bool) -> tuple[list[str], dict[str, None]]:
        """What fills whole requests now, and the rest to keep (nothing kept when ``final``)."""
        if final:
            return members, {}
        cut = len(members) - len(members) % self.chunk_size
        return members[:cut], dict.fromkeys(members[cut:])

    def _keep(self, name: str, carry: _Carry | None) -> None:
        with self._locks_guard:
            if carry is None:
                self._carry.pop(name, None)
            else:
                self._carry[name] = carry

    def _plan(
        self, stored: StoredList | None, signals: Mapping[str, bool], row: ListReport
    ) -> tuple[list[str], list[str], set[str]]:
        """What to add and remove, counting the rest as unchanged; also the known members."""
        known = self._known(stored.list_id, signals) if stored else set()
        adds, removes, unchanged = plan(signals, known, members_known=stored.members_known if stored else True)
        if stored is None:
            # A removal from a list that does not exist changes nothing.
            unchanged, removes = unchanged + len(removes), []
        elif self.options.sync_mode == "add_only":
            self.report.count(row, removals_not_sent=len(removes))
            removes = []
        self.report.count(row, unchanged=unchanged)
        return adds, removes, known

    def _note_seen(self, stored: StoredList, members: list[str], mark: int) -> None:
        if self.client is None:
            self._dry_seen.setdefault(stored.name, set()).update(members)
        else:
            self.store.mark_seen(stored.list_id, members, mark)

    def _create(  # noqa: PLR0913
        self, name: str, audience: str, list_type: str, adds: list[str], *, row: ListReport, mark: int | None
    ) -> tuple[StoredList, list[str]]:
        """Create a list with its first ADD records; return it and the adds still to send."""
        row.created = True
        while True:
            first, rest = adds[: self.chunk_size], adds[self.chunk_size :]
            if self.client is None:
                logger.info("Dry run: would create customer list '%s' (%s).", name, list_type)
                stored = StoredList(
                    self.options.ad_account_id, name, "", list_type, None, members_known=True, audience=audience
                )
                break
            try:
                created = self.client.create_customer_list(self.options.ad_account_id, name, list_type, first)
            except PinterestError as exc:
                if not self._too_large(exc, first):
                    raise
                continue
            stored = self._remember(name, audience, list_type, str(created["id"]), members_known=True)
            self._accept(stored.list_id, ADD, first, mark)
            logger.info("Created customer list '%s' (%s), id %s.", name, list_type, stored.list_id)
            stored = self._ensure_audience(stored, search=False)
            break
        self.report.count(row, added=len(first))
        return stored, rest

    def _ensure_audience(self, stored: StoredList, *, search: bool = True) -> StoredList:
        """Give a list its CUSTOMER_LIST audience when create_audience asks for one.

        Also mends a list whose audience was never made (a run killed between the two calls):
        an existing audience on the list is found first, so none is made twice.
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

    def _update(
        self, stored: StoredList, operation: str, members: list[str], row: ListReport, mark: int | None
    ) -> None:
        key = "added" if operation == ADD else "removed"
        for chunk in chunked(members, self.chunk_size):
            if self.client is not None:
                self._send(stored, operation, chunk, mark)
            self.report.count(row, **{key: len(chunk)})

    def _send(self, stored: StoredList, operation: str, chunk: list[str], mark: int | None) -> None:
        """One ADD or REMOVE; a request Pinterest finds too large is split in two and sent again."""
        assert self.client is not None  # noqa: S101 - only called outside dry runs
        try:
            self.client.update_customer_list(self.options.ad_account_id, stored.list_id, operation, chunk, stored.name)
        except PinterestError as exc:
            if exc.status == HTTP_NOT_FOUND:
                raise ListGoneError(stored.list_id) from exc
            if not self._too_large(exc, chunk):
                raise
            half = len(chunk) // 2
            self._send(stored, operation, chunk[:half], mark)
            self._send(stored, operation, chunk[half:], mark)
            return
        self._accept(stored.list_id, operation, chunk, mark)

    def _accept(self, list_id: str, operation: str, members: list[str], mark: int | None) -> None:
        """Note a request Pinterest accepted: in the store's journal now, its members later.

        The journal row is one append, so a run killed before _record_accepted loses nothing:
        the next run records the journal first.
        """
        accepted = self.store.journal(Accepted(list_id, operation, members, mark))
        with self._locks_guard:
            self._hold(accepted)

    def _known(self, list_id: str, candidates: Mapping[str, bool]) -> set[str]:
        """Which candidates are members: the store's answer, then what it has yet to record.

        The overlay is read first: a request that leaves it meanwhile is in the store by then.
        """
        with self._locks_guard:
            overlay = self._overlay.get(list_id)
            unrecorded = {member: overlay[member] for member in candidates if member in overlay} if overlay else {}
        known = self.store.members_among(list_id, candidates)
        for member, added in unrecorded.items():
            if added:
                known.add(member)
            else:
                known.discard(member)
        return known

    def _too_large(self, exc: PinterestError, chunk: list[str]) -> bool:
        """Whether a refusal means "too large" and splitting can help; later chunks shrink too."""
        if exc.status != HTTP_TOO_LARGE or len(chunk) < 2:  # noqa: PLR2004
            return False
        with self._locks_guard:
            self.chunk_size = min(self.chunk_size, len(chunk) // 2)
        logger.warning(
            "Pinterest refused %d records in one request as too large; sending at most %d per request from now on.",
            len(chunk),
            self.chunk_size,
        )
        return True

    # -- mirror ---------------------------------------------------------------------------

    def finish_snapshots(self, audiences: set[str] | None = None) -> None:
        """End the mirror snapshots of these audiences (all open ones by default).

        Every list of each audience loses the members the snapshot did not contain. All
        lists are checked against ``max_removal_fraction`` first: a refusal removes nothing.
        An audience absent from the run has no snapshot and is left alone.
        """
        if not self.options.mirror:
            return
        self.flush(audiences)  # the snapshot's waiting adds carry its mark into the store first
        with self._locks_guard:
            chosen = set(self._marks) if audiences is None else set(audiences) & set(self._marks)
            marks = {audience: self._marks.pop(audience) for audience in sorted(chosen)}
        work = []
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
                    work.append((audience, stored, mark))
        for audience, stored, mark in work:
            self._remove_unseen(audience, stored, mark)

    def _unseen_count(self, stored: StoredList, mark: int) -> int:
        if self.client is not None:
            return self.store.unseen_count(stored.list_id, mark)
        return sum(len(page) for page in self._dry_unseen_pages(stored))

    def _dry_unseen_pages(self, stored: StoredList) -> Iterator[list[str]]:
        seen = self._dry_seen.get(stored.name, set())
        after = ""
        while page := self.store.unseen_members(stored.list_id, None, self.options.records_per_request, after):
            after = page[-1]
            yield [member for member in page if member not in seen]

    def _remove_unseen(self, audience: str, stored: StoredList, mark: int) -> None:
        row = self.report.list_report(stored.name, audience, stored.list_type)
        row.id = stored.list_id
        if self.client is None:
            for page in self._dry_unseen_pages(stored):
                self.report.count(row, removed=len(page))
            return
        with self.client.counting() as calls:
            try:
                after = ""
                while page := self.store.unseen_members(stored.list_id, mark, self.chunk_size, after):
                    after = page[-1]  # the next page starts after this one, recorded or not
                    self._update(stored, REMOVE, page, row, None)
                    self._record_accepted(force=False)  # as any batch: once RECORD_EVERY members wait
            finally:
                self._record_accepted()
                self.report.count(row, requests=calls.requests, retries=calls.retries)

    def read_statuses(self) -> None:
        """Ask Pinterest for the status of every list the run touched (for TOO_SMALL)."""
        if self.client is None:
            return
        for row in self.report.lists.values():
            if row.id:
                found = self.client.get_customer_list(self.options.ad_account_id, row.id, row.name)
                status = found.get("status")
                row.status = str(status) if status else None
