"""Where batches are sent from: this process, or a sender process beside the reading.

Reading, checking and hashing records is Python work, and so is most of sending them
(planning, request bodies, the store's bookkeeping). In one process the two take turns on one
interpreter lock, so a big run was as slow as both together. When the input is big, the
run's :class:`ListSync` therefore lives in a child process; a small input is sent from
this process, sparing it the child's start (most of a second of imports).

"Big" is decided once, by the first batch: a full one (``batch_size_rows`` records read
before the input ended) starts the child, anything else (the end of the input, a state)
keeps the ListSync here for the whole run. A dry run sends nothing and never starts it.

The child is this interpreter run on :func:`serve` (not ``multiprocessing``, whose spawned
children import the parent's ``__main__`` again), talking pickles over its stdin and stdout
with :mod:`multiprocessing.connection` framing. This side calls the ListSync's methods
(submit, wait, flush, finish_snapshots, read_statuses, close); each is one message and one
answer that brings back the lists' report rows, the request counts and the failure, raised
here as the ListSync raised it. The child's log records come over the same pipe into this
process's logging, so they look like every other line. It ignores Ctrl-C (this side decides)
and exits when its input closes, so it never outlives the target.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import typing as t
from dataclasses import replace
from logging.handlers import QueueHandler
from multiprocessing.connection import Connection

from target_pinterest_audiences.pinterest.client import TIMEOUT, ClientSettings, PinterestClient
from target_pinterest_audiences.report import RunReport
from target_pinterest_audiences.store import Store
from target_pinterest_audiences.sync import ListSync, Pending, SyncError, SyncOptions

if t.TYPE_CHECKING:
    from target_pinterest_audiences.report import ListReport

logger = logging.getLogger(__name__)

#: Loggers whose levels the child copies from this process.
_LOGGERS = ("", "target_pinterest_audiences", "urllib3")

#: An answer: the lists' report rows, (requests, retries), and the failure if any.
Answer = tuple[list["ListReport"], tuple[int, int], BaseException | None]
#: How the child starts: this interpreter, on :func:`serve`.
CHILD = "from target_pinterest_audiences.sender import serve; serve()"


def open_client(client: ClientSettings, store: Store) -> PinterestClient:
    """The Pinterest client; rotated refresh tokens are kept in the store."""
    # Imported here: cryptography takes ~9 MB, needed only where requests are sent from.
    from target_pinterest_audiences.pinterest.tokens import follow_rotations  # noqa: PLC0415

    credentials = replace(client.credentials)  # follow_rotations changes its own copy
    follow_rotations(credentials, store)
    return PinterestClient(
        client.api_url,
        credentials,
        requests_per_second=client.requests_per_second,
        max_retry_seconds=client.max_retry_seconds,
        timeout=(TIMEOUT[0], client.request_timeout_seconds),
    )


class Sending:
    """The run's ListSync, here or in a sender process, as its first batch decides."""

    def __init__(  # noqa: PLR0913
        self,
        client: ClientSettings | None,
        options: SyncOptions,
        store: Store,
        *,
        store_url: str | None,
        report: RunReport,
        run_id: int | None,
    ) -> None:
        """``client`` is None in a dry run. Nothing starts until the first batch."""
        self.options = options
        self._client = client
        self._store = store
        self._store_url = store_url
        self._report = report
        self._run_id = run_id
        self._sync: ListSync | SenderProcess | None = None
        self._lock = threading.Lock()

    def _here(self) -> ListSync | SenderProcess:
        if self._sync is None:
            client = None if self._client is None else open_client(self._client, self._store)
            if client is not None:
                self._report.calls = client.stats.snapshot
            self._sync = ListSync(self.options, self._store, client, self._report, self._run_id)
        return self._sync

    def submit(self, pending: Pending, *, full: bool = False) -> None:
        """Hand a batch on; the first full one starts the sender process."""
        with self._lock:
            if self._sync is None and full and self._client is not None:
                logger.info("The first batch was full: sending from a separate process.")
                self._sync = SenderProcess(self._client, self._store_url, self.options, self._report, self._run_id)
            self._here().submit(pending)

    def _if_started(self, call: t.Callable[[ListSync | SenderProcess], None]) -> None:
        """Pass a call on; before the first batch there is nothing to wait for, send or close."""
        with self._lock:
            if self._sync is not None:
                call(self._sync)

    def wait(self) -> None:
        """See :meth:`ListSync.wait`."""
        self._if_started(lambda sync: sync.wait())

    def flush(self, audiences: set[str] | None = None) -> None:
        """See :meth:`ListSync.flush`."""
        self._if_started(lambda sync: sync.flush(audiences))

    def finish_snapshots(self, audiences: set[str] | None = None) -> None:
        """See :meth:`ListSync.finish_snapshots`."""
        self._if_started(lambda sync: sync.finish_snapshots(audiences))

    def read_statuses(self) -> None:
        """See :meth:`ListSync.read_statuses`."""
        self._if_started(lambda sync: sync.read_statuses())

    def close(self, *, wait: bool = True) -> None:
        """See :meth:`ListSync.close`."""
        self._if_started(lambda sync: sync.close(wait=wait))


class SenderProcess:
    """A ListSync in a child process, called as if it were here."""

    def __init__(
        self,
        client: ClientSettings,
        store_url: str | None,
        options: SyncOptions,
        report: RunReport,
        run_id: int | None,
    ) -> None:
        """Start the child at once: it imports and opens the store while the first batch is read."""
        self._report = report
        self._calls = (0, 0)
        report.calls = lambda: self._calls
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_environment()
        )
        self._to = _connection(self._process.stdin, writable=True)
        self._from = _connection(self._process.stdout, writable=False)
        levels = {name: logging.getLogger(name).getEffectiveLevel() for name in _LOGGERS}
        self._to.send((client, store_url, options, run_id, levels))
        self._answers: queue.Queue[Answer | None] = queue.Queue()
        self._listener = threading.Thread(target=self._listen, name="sender-answers", daemon=True)
        self._listener.start()
        self._unanswered = 0
        self._closed = False

    def _listen(self) -> None:
        """Log the child's records as they come; queue its answers."""
        while True:
            try:
                kind, payload = self._from.recv()
            except (EOFError, OSError):
                self._answers.put(None)
                return
            if kind == "log":
                logging.getLogger(payload.name).handle(payload)
            else:
                self._answers.put(payload)

    def _send(self, command: str, *args: object) -> None:
        with contextlib.suppress(OSError):  # the child is gone: _answer says so
            self._to.send((command, args))
        self._unanswered += 1

    def _call(self, command: str, *args: object) -> None:
        """Send one command and wait for every answer up to its own."""
        self._send(command, *args)
        while self._unanswered:
            self._answer()

    def _answer(self) -> None:
        """Take the oldest answer: report rows and request counts; raise the child's failure here."""
        answer = self._answers.get()
        if answer is None:
            self._answers.put(None)  # every later call finds the child gone as well
            raise SyncError(
                f"The sender process stopped unexpectedly (exit code {self._process.wait()}); what Pinterest"
                " accepted before is kept in the store. Run the target again."
            )
        self._unanswered -= 1
        rows, self._calls, failure = answer
        self._report.take_sent(rows)
        if failure is not None:
            raise failure

    def submit(self, pending: Pending) -> None:
        """Hand a batch over and go back to reading.

        The answer to the batch before comes first: it says the child queued that one, so
        reading stays at most two batches ahead of the one being sent, as memory allows.
        """
        while self._unanswered:
            self._answer()
        self._send("submit", pending)

    def wait(self) -> None:
        """Return when every batch was accepted; raise the first failure."""
        self._call("wait")

    def flush(self, audiences: set[str] | None = None) -> None:
        """Send what batches left over; see :meth:`ListSync.flush`."""
        self._call("flush", audiences)

    def finish_snapshots(self, audiences: set[str] | None = None) -> None:
        """End mirror snapshots; see :meth:`ListSync.finish_snapshots`."""
        self._call("finish_snapshots", audiences)

    def read_statuses(self) -> None:
        """Ask Pinterest for each list's status."""
        self._call("read_statuses")

    def close(self, *, wait: bool = True) -> None:
        """Stop the child: after it finished its work, or at once for a failed run."""
        if self._closed:
            return
        self._closed = True
        try:
            if wait and self._process.poll() is None:
                self._call("close")
        finally:
            if not wait:
                self._process.kill()
            self._to.close()  # the child exits when its input closes
            self._process.wait()
            self._listener.join()
            self._from.close()


def _child_environment() -> dict[str, str]:
    """The target's environment; glibc keeps two malloc arenas, not one per thread (unless set).

    The sender's threads (one per list written in parallel) would each get an arena that
    keeps freed memory: about 7 MB less resident at a million records.
    """
    return {"MALLOC_ARENA_MAX": "2", **os.environ}


def _connection(pipe: t.IO[bytes] | None, *, writable: bool) -> Connection:
    """A message connection over one end of a pipe (the file object is given up)."""
    assert pipe is not None  # noqa: S101 - Popen made it
    handle = os.dup(pipe.fileno())
    pipe.close()
    return Connection(handle, readable=not writable, writable=writable)


class _Outbox:
    """The child's end: answers and log records share one pipe, a lock keeps messages whole."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        with self._lock:
            self._conn.send(message)

    def put_nowait(self, record: logging.LogRecord) -> None:
        """What QueueHandler calls with a record made ready to pickle."""
        self.send(("log", record))


def serve() -> None:
    """The child: open the store and the client, then answer commands until ``close``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    commands = Connection(os.dup(0), writable=False)
    out = _Outbox(Connection(os.dup(1), readable=False))
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    client, store_url, options, run_id, levels = commands.recv()
    logging.getLogger().handlers[:] = [QueueHandler(out)]  # type: ignore[arg-type]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    inbox: queue.Queue[tuple[str, tuple[t.Any, ...]]] = queue.Queue()
    closing = threading.Event()
    threading.Thread(target=_read_commands, args=(commands, inbox, closing), name="commands", daemon=True).start()
    report = RunReport()
    sync: ListSync | Exception
    try:
        store = Store.open(store_url)
        sync = ListSync(options, store, open_client(client, store), report, run_id)
    except Exception as exc:  # noqa: BLE001 - the reading side raises it at its first call
        sync = exc
    while True:
        command, args = inbox.get()
        if command == "close":
            closing.set()
        out.send(("answer", _run(sync, command, args, report)))
        if command == "close":
            return


def _read_commands(commands: Connection, inbox: queue.Queue[t.Any], closing: threading.Event) -> None:
    """Queue commands as they come, on a thread of their own.

    Input that closes before ``close`` means the target is gone (killed, say): the child
    exits at once, even in the middle of a request.
    """
    with contextlib.suppress(EOFError, OSError):
        while True:
            inbox.put(commands.recv())
    if not closing.is_set():
        os._exit(1)


def _run(sync: ListSync | Exception, command: str, args: tuple[t.Any, ...], report: RunReport) -> Answer:
    """Run one command; answer with the report rows, the request counts and the failure."""
    if isinstance(sync, Exception):
        return list(report.lists.values()), (0, 0), _picklable(sync)
    error = None
    try:
        getattr(sync, command)(*args)
    except Exception as exc:  # noqa: BLE001 - raised again on the reading side
        error = exc
    calls = sync.client.stats.snapshot() if sync.client is not None else (0, 0)
    return list(report.lists.values()), calls, _picklable(error)


def _picklable(error: BaseException | None) -> BaseException | None:
    """The failure itself when it survives the pipe, else a SyncError with its line."""
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object, just made
    except Exception:  # noqa: BLE001 - any exception that cannot cross keeps its message
        return SyncError(str(error) or type(error).__name__)
    return error
