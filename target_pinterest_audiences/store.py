"""The target's own store: list ids, what each list holds, write intents, tokens, runs.

Pinterest's API never says who is in a customer list, so the store is the only memory of
it: it turns a repeated input into no writes at all (``changes``), and makes ``mirror``
possible. It holds hashed identifiers only. It lives behind SQLAlchemy at ``store_url``: an
embedded SQLite file by default, PostgreSQL for teams whose runs share no disk.

Every statement runs in a short transaction of its own: no connection is held while a
request to Pinterest is on its way, so processes sharing a PostgreSQL store never wait on
each other's network. What must be exclusive across processes (making a list of a name)
is a row in ``list_claims`` with a timeout, and whether a run is still alive is a lock the
run holds for its lifetime (a file lock for SQLite, an advisory lock for PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import secrets
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from target_pinterest_audiences.matching import Observation

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite runs in one process there
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_P = ParamSpec("_P")

DEFAULT_STORE_PATH = Path(".target-pinterest-audiences") / "store.db"
SCHEMA_VERSION = 7
#: The oldest schema a dry run or the report command reads as it is (they never upgrade).
OLDEST_READABLE = 6
#: The schema whose upgrade finds IDFA lists hashed from the lowercase id (issue 24).
UPPERCASE_IDFA = 7
#: The page size of a new SQLite store (an existing one keeps its own; see _sqlite_pragmas).
SQLITE_PAGE_BYTES = 32 * 1024
#: The page cache of the one connection that writes to a SQLite store (see _writing).
WRITER_CACHE_KIB = 16 * 1024
#: WAL bytes between checkpoints, and the WAL file's size kept after one (see _sqlite_pragmas).
WAL_CHECKPOINT_BYTES = 200 * 1024 * 1024
WAL_KEEP_BYTES = 64 * 1024 * 1024
#: Members per statement (passed as one JSON array or one PostgreSQL array).
CHUNK = 5_000
#: How long a run waits for another run that is making a list of the same name.
CLAIM_TIMEOUT_SECONDS = 120.0
CLAIM_POLL_SECONDS = 0.2
#: PostgreSQL: how long a statement waits for a row or table lock before it fails.
LOCK_TIMEOUT_MS = 30_000
#: The advisory lock key of schema upgrades on PostgreSQL.
_UPGRADE_LOCK = 0x7470_6100


class _Sql(NamedTuple):
    """A member statement for each database.

    The members are one value: a JSON array for SQLite (json_each, built in since SQLite
    3.38), an array for PostgreSQL. Rows go in key order, so each B-tree page is visited
    once per statement.
    """

    sqlite: str
    postgresql: str


#: ``seen`` of a tombstone: an identifier removed from a list the store did not make
#: (``members_known`` false), so the same removal is not sent again. Never a member.
REMOVED = -1
_AMONG = _Sql(
    "SELECT json_group_array(member) FROM list_members WHERE list_id = ? AND seen >= 0"
    " AND member IN (SELECT value FROM json_each(?))",
    "SELECT member FROM list_members WHERE list_id = %s AND seen >= 0 AND member = ANY(%s)",
)
_REMOVED_AMONG = _Sql(
    "SELECT json_group_array(member) FROM list_members WHERE list_id = ? AND seen < 0"
    " AND member IN (SELECT value FROM json_each(?))",
    "SELECT member FROM list_members WHERE list_id = %s AND seen < 0 AND member = ANY(%s)",
)
_ADD = _Sql(
    "INSERT INTO list_members (seen, list_id, member) SELECT ?, ?, value FROM json_each(?) WHERE true"
    " ORDER BY value ON CONFLICT (list_id, member) {on_conflict}",
    "INSERT INTO list_members (seen, list_id, member) SELECT %s, %s, value FROM unnest(%s::varchar[]) AS value"
    " ORDER BY value ON CONFLICT (list_id, member) {on_conflict}",
)
_REMOVE = _Sql(
    "DELETE FROM list_members WHERE list_id = ? AND member IN (SELECT value FROM json_each(?))",
    "DELETE FROM list_members WHERE list_id = %s AND member = ANY(%s)",
)
_SEEN = _Sql(
    "UPDATE list_members SET seen = ? WHERE list_id = ? AND member IN (SELECT value FROM json_each(?))",
    "UPDATE list_members SET seen = %s WHERE list_id = %s AND member = ANY(%s)",
)

metadata = sa.MetaData()

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
customer_lists = sa.Table(
    "customer_lists",
    metadata,
    sa.Column("ad_account_id", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("list_id", sa.String(18), nullable=False),
    sa.Column("list_type", sa.String(16), nullable=False),
    sa.Column("audience", sa.String(500)),
    sa.Column("audience_id", sa.String(32)),
    # True when every member Pinterest holds went through this store (we created the list);
    # False for a list found in the account, whose earlier members we never saw.
    sa.Column("members_known", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Pinterest confirmed the list is gone (deleted in Ads Manager): it is made again with
    # the members list_members still holds under the old id, which is kept until then.
    sa.Column("gone", sa.Boolean, nullable=False, server_default=sa.false()),
)
list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column("list_id", sa.String(18), primary_key=True),
    sa.Column("member", sa.String(64), primary_key=True),
    # The mirror snapshot that last contained the member (marks only grow, so "not in this
    # snapshot" is seen < mark); 0 = none. Not indexed: a mirror reads its list's rows in
    # key order once, while every member written would pay for an index.
    sa.Column("seen", sa.BigInteger, nullable=False, server_default="0"),
    # On SQLite the rows live in the primary key's B-tree: one random-key insert per member
    # instead of a row plus two index entries (a quarter less work, half the file).
    sqlite_with_rowid=False,
)
#: Writes to Pinterest, each stored before it is sent and deleted in the transaction that
#: records its effect (see write/journal.py). A row of a run that is gone is a write that
#: may or may not have taken effect: the next run sends it again (ADD and REMOVE are
#: idempotent) before anything else.
intents = sa.Table(
    "intents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("ad_account_id", sa.String(18), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("audience", sa.String(500), nullable=False),
    sa.Column("list_type", sa.String(16), nullable=False),
    sa.Column("list_id", sa.String(18)),  # None: the write creates the list
    sa.Column("operation", sa.String(8), nullable=False),
    sa.Column("mark", sa.BigInteger),
    sa.Column("members", sa.Text, nullable=False),  # comma-separated hashes, as Pinterest takes them
)
#: A run making a list of a name holds its row; others wait (CLAIM_TIMEOUT_SECONDS), or take
#: it over when the holder's run is gone.
list_claims = sa.Table(
    "list_claims",
    metadata,
    sa.Column("ad_account_id", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
)
refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("refresh_token", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("report", sa.Text),
    # A random name for the lock that says the run is alive (a file lock for SQLite, an
    # advisory lock for PostgreSQL): unique even when a store is made anew at the same place.
    sa.Column("owner", sa.String(64)),
)

#: IDFA lists whose entries an older version hashed from the lowercase id, which match nobody
#: (Pinterest hashes the uppercase IDFA). The schema 7 upgrade lists every IDFA list here; the
#: next real run removes their entries from Pinterest through the journal, then the row goes.
lowercase_idfa_lists = sa.Table(
    "lowercase_idfa_lists",
    metadata,
    sa.Column("ad_account_id", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
)
#: Lists a run's input spoke of since the last end-of-run feedback: one deleted in Ads Manager is
#: made again by the next feedback (write/feedback.py), also when the run that spoke of it was cut
#: short after its STATE had passed those records (a resumed run does not speak of them again).
spoken_lists = sa.Table(
    "spoken_lists",
    metadata,
    sa.Column("ad_account_id", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
)
#: Pinterest's feedback on each list, one row per list per real run (the report command's history).
list_history = sa.Table(
    "list_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ad_account_id", sa.String(18), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("list_id", sa.String(18), nullable=False),
    sa.Column("list_type", sa.String(16), nullable=False),
    sa.Column("members_held", sa.BigInteger, nullable=False),
    sa.Column("uploaded", sa.BigInteger),  # Pinterest's num_uploaded_user_records
    sa.Column("removed", sa.BigInteger),  # Pinterest's num_removed_user_records
    sa.Column("list_status", sa.String(32)),
    sa.Column("audience_id", sa.String(32)),  # None: the list has no audience
    sa.Column("audience_size", sa.BigInteger),  # None: not known yet (or no audience)
    sa.Column("audience_status", sa.String(32)),
)

#: The first version whose upgrade rewrites the member table (SQLite: VACUUM after it).
REBUILT_MEMBERS = 5
#: Steps from one schema version to the next, run in order on an older store; a step that
#: differs between the databases is an _Sql. Version 6's journal of accepted requests is
#: recorded by _upgrade before the table goes.
MIGRATIONS: dict[int, tuple[str | _Sql, ...]] = {
    2: (
        "ALTER TABLE customer_lists ADD COLUMN audience VARCHAR(500)",
        "ALTER TABLE list_members ADD COLUMN seen BIGINT",
    ),
    3: (
        "UPDATE list_members SET seen = 0 WHERE seen IS NULL",
        "CREATE INDEX IF NOT EXISTS ix_list_members_seen ON list_members (list_id, seen)",
    ),
    4: (
        (
            "CREATE TABLE accepted_requests (id INTEGER PRIMARY KEY, list_id VARCHAR(18) NOT NULL,"
            " operation_type VARCHAR(8) NOT NULL, seen BIGINT, members TEXT NOT NULL)"
        ),
    ),
    5: (
        # SQLite: list_members becomes a table without rowid (and without the seen index);
        # PostgreSQL: only the index goes.
        _Sql(
            "CREATE TABLE list_members_v5 (list_id VARCHAR(18) NOT NULL, member VARCHAR(64) NOT NULL,"
            " seen BIGINT DEFAULT '0' NOT NULL, PRIMARY KEY (list_id, member)) WITHOUT ROWID",
            "DROP INDEX IF EXISTS ix_list_members_seen",
        ),
        _Sql(
            "INSERT INTO list_members_v5 (list_id, member, seen) SELECT list_id, member, seen FROM list_members"
            " ORDER BY list_id, member",
            "",
        ),
        _Sql("DROP TABLE list_members", ""),
        _Sql("ALTER TABLE list_members_v5 RENAME TO list_members", ""),
    ),
    6: (
        "ALTER TABLE customer_lists ADD COLUMN gone BOOLEAN DEFAULT false NOT NULL",
        "DROP TABLE accepted_requests",
    ),
    # The new tables are made by create_all first; every IDFA list then waits for its clean-up.
    7: (
        (
            "INSERT INTO lowercase_idfa_lists (ad_account_id, name) SELECT ad_account_id, name FROM customer_lists"
            " WHERE list_type = 'IDFA'"
        ),
    ),
}


class StoreError(Exception):
    """The store cannot be opened or used; the message names ``store_url``."""


@dataclass(frozen=True)
class StoredList:
    """A customer list the store knows."""

    ad_account_id: str
    name: str
    list_id: str
    list_type: str
    audience_id: str | None
    members_known: bool
    audience: str | None = None
    gone: bool = False


@dataclass(frozen=True)
class Write:
    """A write to Pinterest's customer list: what an intent stores."""

    ad_account_id: str
    name: str
    audience: str
    list_type: str
    list_id: str | None
    """None: the write creates the list (POST with its first records)."""
    operation: str
    members: tuple[str, ...]
    mark: int | None
    """The mirror snapshot its ADD members belong to."""

    @classmethod
    def to(
        cls, stored: StoredList, operation: str, members: Sequence[str], mark: int | None = None, *, list_id: str | None
    ) -> Write:
        """A write to a list the store knows, under ``list_id`` (None: it creates the list again)."""
        return cls(
            stored.ad_account_id,
            stored.name,
            stored.audience or "",
            stored.list_type,
            list_id,
            operation,
            tuple(members),
            mark,
        )


@dataclass(frozen=True)
class Intent(Write):
    """A write stored before it was sent, by the run that owns it now."""

    id: int
    run_id: int


def _stored(row: sa.Row[Any]) -> StoredList:
    return StoredList(
        ad_account_id=row.ad_account_id,
        name=row.name,
        list_id=row.list_id,
        list_type=row.list_type,
        audience_id=row.audience_id,
        members_known=bool(row.members_known),
        audience=row.audience,
        gone=bool(row.gone),
    )


def _intent(row: sa.Row[Any]) -> Intent:
    return Intent(
        id=row.id,
        run_id=row.run_id,
        ad_account_id=row.ad_account_id,
        name=row.name,
        audience=row.audience,
        list_type=row.list_type,
        list_id=row.list_id,
        operation=row.operation,
        members=tuple(row.members.split(",")) if row.members else (),
        mark=row.mark,
    )


def _history_row(seen: Observation) -> dict[str, object]:
    return {
        "run_id": seen.run_id,
        "recorded_at": seen.recorded_at,
        "ad_account_id": seen.ad_account_id,
        "name": seen.name,
        "list_id": seen.list_id,
        "list_type": seen.list_type,
        "members_held": seen.members_held,
        "uploaded": seen.uploaded,
        "removed": seen.removed,
        "list_status": seen.list_status,
        "audience_id": seen.audience_id,
        "audience_size": seen.audience_size,
        "audience_status": seen.audience_status,
    }


def _observation(row: sa.Row[Any]) -> Observation:
    recorded = row.recorded_at
    if recorded.tzinfo is None:  # SQLite keeps no zone: the store writes UTC
        recorded = recorded.replace(tzinfo=dt.timezone.utc)
    return Observation(
        run_id=row.run_id,
        recorded_at=recorded,
        ad_account_id=row.ad_account_id,
        name=row.name,
        list_id=row.list_id,
        list_type=row.list_type,
        members_held=int(row.members_held),
        uploaded=row.uploaded,
        removed=row.removed,
        list_status=row.list_status,
        audience_id=row.audience_id,
        audience_size=row.audience_size,
        audience_status=row.audience_status,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(tz=dt.timezone.utc)


def default_store_url() -> str:
    """The embedded SQLite file under the working directory (a Meltano project's root)."""
    return f"sqlite:///{DEFAULT_STORE_PATH}"


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def _chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _private_file(path: Path) -> bool:
    """Create the SQLite file and its folder readable by their owner only; True when new.

    The store holds hashed identifiers (personal data) and encrypted tokens. SQLite gives
    its -wal and -shm files the database file's permissions.
    """
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    if path.exists():
        return False
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)
    return True


def _reconnecting(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run a store operation again once when the database connection was lost (a PostgreSQL restart).

    Each operation is one transaction, rolled back with the connection, so a second try is safe:
    a lost commit that did go through makes the second try find its work done (an intent
    confirmed twice records nothing the second time; an intent stored twice is sent twice, and
    ADD and REMOVE are idempotent). The pool checks connections before use (``pool_pre_ping``).
    """

    @functools.wraps(method)
    def again(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            logger.warning("The store's database connection was lost; trying the operation once more.")
            return method(*args, **kwargs)

    return again


class Store:
    """SQLAlchemy-backed store, safe to share between threads and processes."""

    def __init__(self, engine: Engine, *, read_only: bool = False, url: str = "", new: bool = False) -> None:
        """Wrap an engine; use :meth:`open` to make one from a URL."""
        self.engine = engine
        self.read_only = read_only
        self.url = url
        self.new = new
        #: The store's schema: SCHEMA_VERSION once upgraded; a read-only store keeps its own.
        self.version = SCHEMA_VERSION
        # SQLite allows one writer at a time: serialise our own threads instead of meeting
        # "database is locked". PostgreSQL handles concurrency itself.
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if self._sqlite else None
        self._writer: Connection | None = None
        self.run_id: int | None = None
        self.prepared = False
        """Opened: from here a read-only store (a dry run, the report command) refuses every write."""
        self._owner = ""
        self._alive: IO[bytes] | Connection | None = None

    @classmethod
    def open(cls, url: str | None, *, read_only: bool = False, create: bool = True) -> Store:
        """Open (and create or upgrade) the store at ``url``; ``read_only`` writes nothing.

        A read-only store whose SQLite file does not exist yet is an empty in-memory one, so
        a dry run leaves no file behind.
        """
        url = url or default_store_url()
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"store_url is not a SQLAlchemy URL: {exc}") from None
        new = False
        try:
            if parsed.get_backend_name() == "sqlite":
                database = parsed.database or ""
                if database and database != ":memory:":
                    path = Path(database)
                    if read_only and not path.exists():
                        parsed = parsed.set(database=":memory:")
                        new = True
                    elif not read_only:
                        new = _private_file(path)
                if parsed.database in (None, "", ":memory:"):
                    # One shared connection, or each thread would see its own empty database.
                    engine = sa.create_engine(
                        parsed, poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
                    )
                else:
                    engine = sa.create_engine(parsed, connect_args={"timeout": 60})
                # A read-only store (a dry run, the report command) sets nothing: WAL mode and
                # the page size would rewrite an existing file's header.
                if not read_only:
                    sa.event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # The URL's own options (?options=-csearch_path=...) are kept, the lock timeout added.
                options = " ".join([str(parsed.query.get("options") or ""), f"-c lock_timeout={LOCK_TIMEOUT_MS}"])
                engine = sa.create_engine(
                    parsed.difference_update_query(["options"]),
                    pool_pre_ping=True,
                    connect_args={"options": options.strip()},
                )
            store = cls(engine, read_only=read_only, url=url, new=new)
            store._prepare(create=create)
            store.prepared = True
        except (sa.exc.SQLAlchemyError, OSError, ImportError) as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
            if isinstance(exc, ImportError) and "psycopg2" in reason:
                reason += (
                    " (a postgresql:// URL uses psycopg2: pip install psycopg2-binary, or write"
                    " postgresql+psycopg:// for the psycopg that the postgres extra installs)"
                )
            raise StoreError(f"store_url {redact_url(url)} cannot be opened: {reason}") from None
        return store

    def describe(self) -> str:
        """One line for the start of a run: where the store is, new or not, what it knows."""
        with self.engine.connect() as conn:
            lists = conn.execute(sa.select(sa.func.count()).select_from(customer_lists)).scalar() or 0
            members = (
                conn.execute(
                    sa.select(sa.func.count()).select_from(list_members).where(list_members.c.seen >= 0)
                ).scalar()
                or 0
            )
        if self._sqlite:
            database = self.engine.url.database
            where = f"SQLite file {Path(database).resolve()}" if database and database != ":memory:" else "in memory"
        else:
            where = redact_url(self.url)
        state = "new" if self.new else "existing"
        return f"Store: {where} ({state}; knows {lists} lists, {members} members)."

    def _prepare(self, *, create: bool = True) -> None:
        if self.read_only:
            self._check_readable(create=create)
            return
        with self._schema_lock():
            version = self._upgrade()
        if version >= REBUILT_MEMBERS or not self._sqlite:
            return
        # The upgrade left the old member table's pages free: give them back to the disk.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
        logger.info("Compacted the store file after the upgrade.")

    def _check_readable(self, *, create: bool) -> None:
        """A dry run or the report command: read an older store as it is, never upgrade it.

        A store with no schema yet (a dry run's in-memory one, an empty PostgreSQL database)
        is made when ``create`` (a dry run, as before); the report command makes nothing.
        """
        with self.engine.connect() as conn:
            version = None
            if sa.inspect(conn).has_table("store_meta"):
                version = conn.execute(
                    sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")
                ).scalar()
        if version is None:
            if not create:
                raise StoreError(f"store_url {redact_url(self.url)} holds no store yet: a real run makes it")
            with self._writing() as conn:
                metadata.create_all(conn, checkfirst=True)
                self._upsert(conn, store_meta, {"key": "schema_version", "value": str(SCHEMA_VERSION)})
            return
        self.version = int(version)
        if self.version > SCHEMA_VERSION:
            raise StoreError(f"store_url holds a newer store (schema {version}); upgrade target-pinterest-audiences")
        if self.version < OLDEST_READABLE:
            raise StoreError(
                f"store_url holds a store of schema {version}, older than this version reads without upgrading it;"
                " a real run (dry_run false) upgrades it"
            )

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """SQLite: one process creates or upgrades the schema at a time (a file lock beside it).

        PostgreSQL takes a transaction-level advisory lock inside _upgrade instead.
        """
        database = self.engine.url.database
        if not self._sqlite or not database or database == ":memory:" or fcntl is None:
            yield
            return
        path = Path(f"{database}.lock")
        with path.open("a+b") as handle:
            path.chmod(0o600)
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _upgrade(self) -> int:
        """Create or upgrade the schema; return the version the store had (a new one: SCHEMA_VERSION)."""
        with self._writing() as conn:
            if self._sqlite and conn.exec_driver_sql("SELECT json_valid('[]')").scalar() != 1:
                raise StoreError("SQLite here lacks its JSON functions (built in since 3.38); use a newer Python")
            if self.engine.dialect.name == "postgresql":
                # One upgrade at a time across processes; released at commit.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK)))
            version = None
            if sa.inspect(conn).has_table("store_meta"):
                version = conn.execute(
                    sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")
                ).scalar()
            if version is None:
                self.new = True  # a PostgreSQL store made now is new too, not only a new file
                metadata.create_all(conn, checkfirst=True)
                self._upsert(conn, store_meta, {"key": "schema_version", "value": str(SCHEMA_VERSION)})
                return SCHEMA_VERSION
            if int(version) > SCHEMA_VERSION:
                raise StoreError(
                    f"store_url holds a newer store (schema {version}); upgrade target-pinterest-audiences"
                )
            if int(version) < SCHEMA_VERSION:
                self._migrate(conn, int(version))
            return int(version)

    def _migrate(self, conn: Connection, version: int) -> None:
        """Run the steps from ``version`` up to SCHEMA_VERSION, in one transaction."""
        logger.info("Upgrading the store from schema version %s to %d.", version, SCHEMA_VERSION)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            if step == 6:  # noqa: PLR2004 - the journal of schema 4 and 5 is recorded first
                self._record_accepted_requests(conn)
            if step == UPPERCASE_IDFA:
                metadata.create_all(conn, tables=[lowercase_idfa_lists, list_history], checkfirst=True)
            for statement in MIGRATIONS[step]:
                text = statement if isinstance(statement, str) else self._dialect_sql(statement)
                if text:
                    conn.execute(sa.text(text))
            logger.info("Upgraded the store to schema version %d.", step)
        # Tables an old store lacks are made whole; a runs table from before version 6 lacks
        # its owner column (the oldest stores have no runs table at all).
        had_runs = sa.inspect(conn).has_table("runs")
        metadata.create_all(conn, checkfirst=True)
        if had_runs and "owner" not in {column["name"] for column in sa.inspect(conn).get_columns("runs")}:
            conn.execute(sa.text("ALTER TABLE runs ADD COLUMN owner VARCHAR(64)"))
        self._upsert(conn, store_meta, {"key": "schema_version", "value": str(SCHEMA_VERSION)})

    def _record_accepted_requests(self, conn: Connection) -> None:
        """Schema 4 and 5 noted requests Pinterest accepted before recording them: record them."""
        rows = conn.exec_driver_sql(
            "SELECT list_id, operation_type, seen, members FROM accepted_requests ORDER BY id"
        ).all()
        for list_id, operation, seen, members in rows:
            self._apply(conn, str(list_id), str(operation), json.loads(members), seen)
        if rows:
            logger.info("Recorded %d accepted requests an earlier version had not recorded.", len(rows))

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A transaction to write in: SQLite's are taken one at a time, on one connection.

        SQLite drops a connection's page cache whenever another connection committed, so
        writes that took turns on the pool's connections read every page again. One writing
        connection keeps its cache (WRITER_CACHE_KIB): a million records took 23.5 to 24.7 s
        instead of 26.3 to 26.5 s (issue 13). Reads keep the pool's connections.
        """
        if self.read_only and self.prepared:
            msg = "a read-only store (a dry run) is never written"
            raise StoreError(msg)
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock:
            if self._writer is None:
                self._writer = self.engine.connect()
                self._writer.exec_driver_sql(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
                self._writer.commit()
            with self._writer.begin():
                yield self._writer

    def _upsert(self, conn: Connection, table: sa.Table, row: dict[str, object]) -> None:
        """Insert a row or replace the one with its primary key (SQLite and PostgreSQL)."""
        keys = [column.name for column in table.primary_key.columns]
        values = {name: value for name, value in row.items() if name not in keys}
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(row)
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=values))

    # -- lists ----------------------------------------------------------------------------

    @_reconnecting
    def get_list(self, ad_account_id: str, name: str) -> StoredList | None:
        """The list of this name in this account, if the store knows it."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(customer_lists).where(
                    customer_lists.c.ad_account_id == ad_account_id, customer_lists.c.name == name
                )
            ).first()
        return None if row is None else _stored(row)

    def note_spoken(self, ad_account_id: str, name: str) -> None:
        """Remember that the input spoke of a list, until the next end-of-run feedback."""
        if self.read_only:
            return
        with self._writing() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            row = {"ad_account_id": ad_account_id, "name": name}
            conn.execute(dialect.insert(spoken_lists).values(row).on_conflict_do_nothing())

    def spoken(self, ad_account_id: str) -> set[str]:
        """The lists of an account that input spoke of since the last feedback."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(spoken_lists.c.name).where(spoken_lists.c.ad_account_id == ad_account_id)
            ).scalars()
            return set(rows)

    def forget_spoken(self, ad_account_id: str) -> None:
        """The feedback has looked at every list of the account: start remembering anew."""
        if self.read_only:
            return
        with self._writing() as conn:
            conn.execute(sa.delete(spoken_lists).where(spoken_lists.c.ad_account_id == ad_account_id))

    @_reconnecting
    def lists_of_audience(self, ad_account_id: str, audience: str) -> list[StoredList]:
        """Every list the store knows for an audience (one per identifier type)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(customer_lists)
                .where(customer_lists.c.ad_account_id == ad_account_id, customer_lists.c.audience == audience)
                .order_by(customer_lists.c.name)
            ).all()
        return [_stored(row) for row in rows]

    @_reconnecting
    def save_list(self, stored: StoredList) -> None:
        """Remember a list's id, type and audience."""
        if self.read_only:
            return
        with self._writing() as conn:
            self._save_list(conn, stored)

    def _save_list(self, conn: Connection, stored: StoredList) -> None:
        self._upsert(
            conn,
            customer_lists,
            {
                "ad_account_id": stored.ad_account_id,
                "name": stored.name,
                "list_id": stored.list_id,
                "list_type": stored.list_type,
                "audience": stored.audience,
                "audience_id": stored.audience_id,
                "members_known": stored.members_known,
                "created_at": _now(),
                "gone": stored.gone,
            },
        )

    @_reconnecting
    def replace_list(self, stored: StoredList, new_id: str) -> None:
        """A gone list was made again under ``new_id`` and holds every member: it counts as whole again."""
        with self._writing() as conn:
            self._move_members(conn, stored, new_id)
            conn.execute(
                sa.update(customer_lists)
                .where(customer_lists.c.ad_account_id == stored.ad_account_id, customer_lists.c.name == stored.name)
                .values(gone=False)
            )

    @_reconnecting
    def move_members(self, stored: StoredList, new_id: str) -> None:
        """A gone list's new id at Pinterest: its members move over, and it stays gone until they are all sent."""
        with self._writing() as conn:
            self._move_members(conn, stored, new_id)

    @staticmethod
    def _move_members(conn: Connection, stored: StoredList, new_id: str) -> None:
        if new_id == stored.list_id:
            return
        conn.execute(
            sa.text(
                "INSERT INTO list_members (list_id, member, seen) SELECT :new, member, seen FROM list_members"
                " WHERE list_id = :old ON CONFLICT (list_id, member) DO NOTHING"
            ),
            {"new": new_id, "old": stored.list_id},
        )
        conn.execute(sa.delete(list_members).where(list_members.c.list_id == stored.list_id))
        conn.execute(
            sa.update(customer_lists)
            .where(
                customer_lists.c.ad_account_id == stored.ad_account_id,
                customer_lists.c.name == stored.name,
                customer_lists.c.list_id == stored.list_id,
            )
            .values(list_id=new_id, audience_id=None)
        )

    @_reconnecting
    def mark_gone(self, stored: StoredList) -> None:
        """Pinterest confirmed the list gone: it is made again with the members kept here."""
        with self._writing() as conn:
            self._set_gone(conn, stored.ad_account_id, stored.name, stored.list_id)

    @staticmethod
    def _set_gone(conn: Connection, ad_account_id: str, name: str, list_id: str) -> None:
        conn.execute(
            sa.update(customer_lists)
            .where(
                customer_lists.c.ad_account_id == ad_account_id,
                customer_lists.c.name == name,
                customer_lists.c.list_id == list_id,
            )
            .values(gone=True)
        )

    @_reconnecting
    def forget_list(self, stored: StoredList) -> None:
        """Drop a list that is gone and had no member to put back."""
        with self._writing() as conn:
            conn.execute(
                sa.delete(customer_lists).where(
                    customer_lists.c.ad_account_id == stored.ad_account_id,
                    customer_lists.c.name == stored.name,
                    customer_lists.c.list_id == stored.list_id,
                )
            )
            conn.execute(sa.delete(list_members).where(list_members.c.list_id == stored.list_id))

    @contextmanager
    def claim(self, ad_account_id: str, name: str) -> Iterator[None]:
        """Hold the name of a list being found or made, across every process on this store.

        A row, not a lock held on a connection: Pinterest is asked while it is held. A claim
        of a run that is gone is taken over; one held longer than CLAIM_TIMEOUT_SECONDS by a
        live run is an error.
        """
        if self.read_only or self.run_id is None:
            yield
            return
        deadline = time.monotonic() + CLAIM_TIMEOUT_SECONDS
        key = (list_claims.c.ad_account_id == ad_account_id) & (list_claims.c.name == name)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        take = (
            dialect.insert(list_claims)
            .values(ad_account_id=ad_account_id, name=name, run_id=self.run_id, claimed_at=_now())
            .on_conflict_do_nothing()
            .returning(list_claims.c.run_id)  # a row when taken (rowcount is -1 with psycopg)
        )
        # Single statements only: SQLite cannot turn a reading transaction into a writing one
        # while another process writes.
        while True:
            with self._writing() as conn:
                if conn.execute(take).first() is not None:
                    break
            with self.engine.connect() as conn:
                holder = conn.execute(sa.select(list_claims.c.run_id).where(key)).scalar()
            if holder is not None and not self.run_alive(holder):
                with self._writing() as conn:
                    conn.execute(sa.delete(list_claims).where(key & (list_claims.c.run_id == holder)))
                continue
            if time.monotonic() > deadline:
                raise StoreError(
                    f"customer list '{name}' is being made by another run (run {holder}) sharing this store for"
                    f" over {CLAIM_TIMEOUT_SECONDS:.0f}s; run again when it has finished"
                )
            time.sleep(CLAIM_POLL_SECONDS)
        try:
            yield
        finally:
            with self._writing() as conn:
                conn.execute(sa.delete(list_claims).where(key & (list_claims.c.run_id == self.run_id)))

    # -- members --------------------------------------------------------------------------

    @_reconnecting
    def members_among(self, list_id: str, candidates: Iterable[str]) -> set[str]:
        """Which of ``candidates`` the store holds as members of the list."""
        return self._among(_AMONG, list_id, candidates)

    @_reconnecting
    def removed_among(self, list_id: str, candidates: Iterable[str]) -> set[str]:
        """Which of ``candidates`` were removed from a list the store did not make (tombstones)."""
        return self._among(_REMOVED_AMONG, list_id, candidates)

    def _among(self, statement: _Sql, list_id: str, candidates: Iterable[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(candidates)):
                sql, value = self._bind(statement, chunk)
                result = conn.exec_driver_sql(sql, (list_id, value))
                # SQLite answers with one JSON array of members, PostgreSQL with a row each.
                found.update(json.loads(str(result.scalar())) if self._sqlite else (row[0] for row in result))
        return found

    @_reconnecting
    def mark_seen(self, list_id: str, members: list[str], seen: int) -> None:
        """Note that a mirror snapshot contained these members (already in the list)."""
        if self.read_only or not members:
            return
        with self._writing() as conn:
            self._each_chunk(conn, _SEEN, list_id, members, seen=seen)

    def _apply(self, conn: Connection, list_id: str, operation: str, members: list[str], mark: int | None) -> None:
        if operation == "ADD":
            # A member again keeps its mark, unless a snapshot gives one; a tombstone becomes a member.
            on_conflict = (
                "DO UPDATE SET seen = excluded.seen WHERE list_members.seen < 0"
                if mark is None
                else "DO UPDATE SET seen = excluded.seen"
            )
            self._each_chunk(conn, _ADD, list_id, members, seen=mark or 0, on_conflict=on_conflict)
            return
        known = conn.execute(
            sa.select(customer_lists.c.members_known).where(customer_lists.c.list_id == list_id)
        ).scalar()
        if known is not None and not known:
            # A list the store did not make: remember the removal, so it is not sent again.
            self._each_chunk(
                conn, _ADD, list_id, members, seen=REMOVED, on_conflict="DO UPDATE SET seen = excluded.seen"
            )
        else:
            self._each_chunk(conn, _REMOVE, list_id, members)

    def _each_chunk(  # noqa: PLR0913
        self,
        conn: Connection,
        statement: _Sql,
        list_id: str,
        members: list[str],
        *,
        seen: int | None = None,
        on_conflict: str = "",
    ) -> None:
        """Run one statement per few thousand members, the members passed as one value.

        The per-row work happens inside the database, and the statement text never
        changes, so the driver's statement cache stays small.
        """
        for chunk in _chunks(sorted(set(members))):
            sql, value = self._bind(statement, chunk)
            values = (list_id, value) if seen is None else (seen, list_id, value)
            conn.exec_driver_sql(sql.format(on_conflict=on_conflict), values)

    def _dialect_sql(self, statement: _Sql) -> str:
        return statement.sqlite if self._sqlite else statement.postgresql

    def _bind(self, statement: _Sql, members: Sequence[str]) -> tuple[str, object]:
        """The text of a member statement for this database, and the members as its one value."""
        if self._sqlite:
            return statement.sqlite, json.dumps(list(members))
        return statement.postgresql, list(members)

    @staticmethod
    def _unseen(list_id: str, seen: int | None) -> sa.ColumnElement[bool]:
        """Members of the list that snapshot ``seen`` did not contain (None: all members)."""
        if seen is None:
            return sa.and_(list_members.c.list_id == list_id, list_members.c.seen >= 0)
        return sa.and_(list_members.c.list_id == list_id, list_members.c.seen >= 0, list_members.c.seen < seen)

    @_reconnecting
    def unseen_count(self, list_id: str, seen: int) -> int:
        """How many members of a list the snapshot ``seen`` did not contain."""
        with self.engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(list_members).where(self._unseen(list_id, seen))
            ).scalar()
        return int(count or 0)

    @_reconnecting
    def unseen_members(self, list_id: str, seen: int | None, limit: int, after: str = "") -> list[str]:
        """The next ``limit`` members, in order after ``after``, that the snapshot did not contain.

        Paging by key keeps a million-member diff in bounded memory, and reads the list's
        rows once, in the primary key's order (no sort). ``seen`` None pages every member.
        """
        query = (
            sa.select(list_members.c.member)
            .where(self._unseen(list_id, seen))
            .order_by(list_members.c.member)
            .limit(limit)
        )
        if after:
            query = query.where(list_members.c.member > after)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    @_reconnecting
    def member_count(self, list_id: str) -> int:
        """How many members the store holds for a list."""
        with self.engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(list_members).where(self._unseen(list_id, None))
            ).scalar()
        return int(count or 0)

    def member_counts(self, ad_account_id: str) -> dict[str, int]:
        """How many members the store holds for each list of an account, in one statement."""
        ids = sa.select(customer_lists.c.list_id).where(customer_lists.c.ad_account_id == ad_account_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(list_members.c.list_id, sa.func.count())
                .where(list_members.c.list_id.in_(ids.scalar_subquery()), list_members.c.seen >= 0)
                .group_by(list_members.c.list_id)
            ).all()
        return {str(list_id): int(count) for list_id, count in rows}

    # -- lists an older version wrote, and Pinterest's feedback (schema 7) ------------------

    def lists_in_account(self, ad_account_id: str) -> list[StoredList]:
        """Every list the store knows in an ad account, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(customer_lists)
                .where(customer_lists.c.ad_account_id == ad_account_id)
                .order_by(customer_lists.c.name)
            ).all()
        return [_stored(row) for row in rows]

    def lowercase_idfa_lists(self, ad_account_id: str) -> list[StoredList]:
        """IDFA lists whose entries an older version hashed from the lowercase id, by name.

        A store still at schema 6 (read as it is by a dry run): every IDFA list, as its
        upgrade would list them.
        """
        query = sa.select(customer_lists).where(customer_lists.c.ad_account_id == ad_account_id)
        if self.version < UPPERCASE_IDFA:
            query = query.where(customer_lists.c.list_type == "IDFA")
        else:
            query = query.where(
                sa.exists().where(
                    lowercase_idfa_lists.c.ad_account_id == customer_lists.c.ad_account_id,
                    lowercase_idfa_lists.c.name == customer_lists.c.name,
                )
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(customer_lists.c.name)).all()
        return [_stored(row) for row in rows]

    def is_lowercase_idfa(self, stored: StoredList) -> bool:
        """Whether the list still waits for its clean-up (another process may have done it)."""
        return any(found.name == stored.name for found in self.lowercase_idfa_lists(stored.ad_account_id))

    def cleaned(self, stored: StoredList) -> None:
        """The list's old entries are all removed from Pinterest: it waits no more."""
        with self._writing() as conn:
            conn.execute(
                sa.delete(lowercase_idfa_lists).where(
                    lowercase_idfa_lists.c.ad_account_id == stored.ad_account_id,
                    lowercase_idfa_lists.c.name == stored.name,
                )
            )

    def add_history(self, observations: Sequence[Observation]) -> None:
        """Keep a run's observations of its lists (one row per list per run)."""
        if self.read_only or not observations:
            return
        with self._writing() as conn:
            conn.execute(sa.insert(list_history), [_history_row(seen) for seen in observations])

    def history(self, ad_account_id: str | None = None) -> list[Observation]:
        """Every observation kept, oldest first (none in a store older than schema 7)."""
        if self.version < UPPERCASE_IDFA:
            return []
        query = sa.select(list_history).order_by(list_history.c.id)
        if ad_account_id is not None:
            query = query.where(list_history.c.ad_account_id == ad_account_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_observation(row) for row in rows]

    def last_report(self) -> tuple[int, str, str | None] | None:
        """The last finished run: (id, status, its report as JSON), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(runs.c.id, runs.c.status, runs.c.report)
                .where(runs.c.finished_at.is_not(None))
                .order_by(runs.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else (int(row.id), str(row.status), row.report)

    # -- intents (see write/journal.py) ---------------------------------------------------

    @_reconnecting
    def add_intent(self, write: Write) -> Intent:
        """Store a write before it is sent."""
        assert self.run_id is not None  # noqa: S101 - a writing run always has one
        values = {**write.__dict__, "members": ",".join(write.members), "run_id": self.run_id}
        with self._writing() as conn:
            key = conn.execute(sa.insert(intents).values(values)).inserted_primary_key
        assert key is not None  # noqa: S101 - an autoincrement key
        return Intent(**write.__dict__, id=int(key[0]), run_id=self.run_id)

    @_reconnecting
    def confirm(self, intent: Intent, list_id: str, *, gone: bool = False) -> bool:
        """Record a write's effect and drop its intent, in one transaction.

        An intent that creates a list also saves the list. ``gone``: Pinterest confirmed the
        list gone; the effect is still what the members should be, and the list is marked
        to be made again. Returns False when the intent was no longer there (settled by
        another run meanwhile), and records nothing then.
        """
        with self._writing() as conn:
            deleted = conn.execute(sa.delete(intents).where(intents.c.id == intent.id)).rowcount
            if not deleted:
                return False
            rebuilt = self._gone_row(conn, intent) if intent.list_id is None else None
            if rebuilt is not None:
                # The first write of a gone list's rebuild: its members move to the new list,
                # which stays gone until the rebuild sent them all (Lists.make_again).
                self._move_members(conn, rebuilt, list_id)
            elif intent.list_id is None:
                self._save_list(
                    conn,
                    StoredList(
                        intent.ad_account_id,
                        intent.name,
                        list_id,
                        intent.list_type,
                        audience_id=None,
                        members_known=True,
                        audience=intent.audience,
                    ),
                )
            self._apply(conn, list_id, intent.operation, list(intent.members), intent.mark)
            if gone:
                self._set_gone(conn, intent.ad_account_id, intent.name, list_id)
        return True

    @staticmethod
    def _gone_row(conn: Connection, intent: Intent) -> StoredList | None:
        row = conn.execute(
            sa.select(customer_lists).where(
                customer_lists.c.ad_account_id == intent.ad_account_id,
                customer_lists.c.name == intent.name,
                customer_lists.c.gone,
            )
        ).first()
        return _stored(row) if row is not None else None

    @_reconnecting
    def narrow_intent(self, intent: Intent, members: tuple[str, ...]) -> Intent:
        """Keep only ``members`` of an intent: a later write settles the others."""
        with self._writing() as conn:
            conn.execute(sa.update(intents).where(intents.c.id == intent.id).values(members=",".join(members)))
        return replace(intent, members=members)

    @_reconnecting
    def drop_intent(self, intent: Intent) -> None:
        """Forget a write Pinterest refused: it took no effect."""
        with self._writing() as conn:
            conn.execute(sa.delete(intents).where(intents.c.id == intent.id))

    @_reconnecting
    def open_intents(self) -> list[Intent]:
        """Every stored write that was never confirmed, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(intents).order_by(intents.c.id)).all()
        return [_intent(row) for row in rows]

    @_reconnecting
    def adopt(self, intent: Intent) -> Intent | None:
        """Take over the intent of a run that is gone; None when another run took it first."""
        assert self.run_id is not None  # noqa: S101 - a writing run always has one
        with self._writing() as conn:
            taken = conn.execute(
                sa.update(intents)
                .where(intents.c.id == intent.id, intents.c.run_id == intent.run_id)
                .values(run_id=self.run_id)
            ).rowcount
        return replace(intent, run_id=self.run_id) if taken else None

    # -- tokens and runs ------------------------------------------------------------------

    def refresh_token(self, key: str) -> str | None:
        """The latest refresh token Pinterest issued for the credentials behind ``key``."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(refresh_tokens.c.refresh_token).where(refresh_tokens.c.key == key)).scalar()
        return str(value) if value is not None else None

    def save_refresh_token(self, key: str, token: str) -> None:
        """Keep a rotated refresh token: the old one may stop working."""
        if self.read_only:
            return
        with self._writing() as conn:
            self._upsert(conn, refresh_tokens, {"key": key, "refresh_token": token, "updated_at": _now()})

    def start_run(self) -> int | None:
        """Open a run in the history and hold the lock that says it is alive; None when read-only."""
        if self.read_only:
            return None
        owner = secrets.token_hex(16)
        with self._writing() as conn:
            key = conn.execute(
                sa.insert(runs).values(started_at=_now(), status="running", owner=owner)
            ).inserted_primary_key
        assert key is not None  # noqa: S101 - an autoincrement key
        self.run_id = int(key[0])
        self._owner = owner
        self._alive = self._hold_alive(owner)
        return self.run_id

    def _run_lock_path(self, owner: str) -> Path | None:
        database = self.engine.url.database
        if not self._sqlite or not database or database == ":memory:" or fcntl is None:
            return None
        return Path(f"{database}.run-{owner}.lock")

    @staticmethod
    def _advisory_key(owner: str) -> int:
        return int(owner[:15], 16)  # 60 bits of the random name: a bigint key

    def _hold_alive(self, owner: str) -> IO[bytes] | Connection | None:
        if not self._sqlite:
            conn = sa.create_engine(self.engine.url, poolclass=sa.pool.NullPool).connect()
            conn.execute(sa.select(sa.func.pg_advisory_lock(self._advisory_key(owner))))
            conn.commit()
            return conn
        path = self._run_lock_path(owner)
        if path is None:
            return None
        handle = path.open("wb")
        path.chmod(0o600)
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new name: nobody else holds it
        return handle

    def run_alive(self, run_id: int) -> bool:
        """Whether the run still runs (holds its lock), here or in another process."""
        if run_id == self.run_id:
            return True
        with self.engine.connect() as conn:
            owner = conn.execute(sa.select(runs.c.owner).where(runs.c.id == run_id)).scalar()
            if owner is None:
                return False  # an older version's run, or none at all: not running now
            if not self._sqlite:
                key = self._advisory_key(owner)
                free = conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar()
                if free:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()
                return not free
        path = self._run_lock_path(owner)
        if path is None or not path.exists():
            return False
        with path.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        with suppress(OSError):
            path.unlink()
        return False

    @_reconnecting
    def finish_run(self, status: str, report_json: str) -> None:
        """Close the run with its status and report, and let go of its lock."""
        if self.read_only or self.run_id is None:
            return
        with self._writing() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == self.run_id)
                .values(finished_at=_now(), status=status, report=report_json)
            )
        self._release_alive()

    def _release_alive(self) -> None:
        alive, self._alive = self._alive, None
        if alive is None:
            return
        alive.close()
        path = self._run_lock_path(self._owner)
        if path is not None:
            with suppress(OSError):
                path.unlink()

    def close(self) -> None:
        """Release connections."""
        self._release_alive()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # Members are random keys: a commit of one request's 5,000 members touches a page for
    # nearly each of them, and reads most of those pages first. 32 KiB pages instead of
    # SQLite's 4 KiB make a commit touch fewer pages, each with one read and one write call:
    # a million records took 26.3 to 26.5 s instead of 28 to 31 s (with the one writing
    # connection of _writing, 23.5 to 24.7 s; benchmarks/, issue 13). Only a new file takes
    # it (before WAL mode is set); an existing store keeps its page size.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
    # WAL lets readers go on while a writer commits; NORMAL sync is safe with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Copying the WAL back every 200 MB (SQLite's default: 1,000 pages) writes a page that
    # several commits touched once; the WAL file is cut back to 64 MB after each checkpoint.
    page_bytes = int(cursor.execute("PRAGMA page_size").fetchone()[0])
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page_bytes}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
    cursor.close()
