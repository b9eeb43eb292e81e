"""The target's own store: list ids, what Pinterest accepted per list, rotated tokens, runs.

Pinterest's API never says who is in a customer list, so the store is the only memory of
it: it turns a repeated input into no writes at all (``changes``), and makes ``mirror``
possible. It holds hashed identifiers only. It lives behind SQLAlchemy at ``store_url``: an
embedded SQLite file by default, PostgreSQL for teams whose runs share no disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite runs in one process there
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_STORE_PATH = Path(".target-pinterest-audiences") / "store.db"
SCHEMA_VERSION = 5
#: WAL pages between checkpoints, and the WAL file's size kept after one (see _sqlite_pragmas).
WAL_CHECKPOINT_PAGES = 50_000
WAL_KEEP_BYTES = 64 * 1024 * 1024
#: Members per statement (passed as one JSON array or one PostgreSQL array).
CHUNK = 5_000


class _Sql(NamedTuple):
    """A member statement for each database.

    The members are one value: a JSON array for SQLite (json_each, built in since SQLite
    3.38), an array for PostgreSQL. Rows go in key order, so each B-tree page is visited
    once per statement.
    """

    sqlite: str
    postgresql: str


_AMONG = _Sql(
    "SELECT json_group_array(member) FROM list_members WHERE list_id = ?"
    " AND member IN (SELECT value FROM json_each(?))",
    "SELECT member FROM list_members WHERE list_id = %s AND member = ANY(%s)",
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
)
list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column("list_id", sa.String(18), primary_key=True),
    sa.Column("member", sa.String(64), primary_key=True),
    # The mirror snapshot that last contained the member (see ListSync's marks; they only
    # grow, so "not in this snapshot" is seen < mark); 0 = none. Not indexed: a mirror reads
    # its list's rows in key order once, while every member written would pay for an index.
    sa.Column("seen", sa.BigInteger, nullable=False, server_default="0"),
    # On SQLite the rows live in the primary key's B-tree: one random-key insert per member
    # instead of a row plus two index entries (a quarter less work, half the file).
    sqlite_with_rowid=False,
)

#: The first version whose upgrade rewrites the member table (SQLite: VACUUM after it).
REBUILT_MEMBERS = 5
#: Steps from one schema version to the next, run in order on an older store; a step that
#: differs between the databases is an _Sql.
MIGRATIONS: dict[int, tuple[str | _Sql, ...]] = {
    2: (
        "ALTER TABLE customer_lists ADD COLUMN audience VARCHAR(500)",
        "ALTER TABLE list_members ADD COLUMN seen BIGINT",
    ),
    3: (
        "UPDATE list_members SET seen = 0 WHERE seen IS NULL",
        "CREATE INDEX IF NOT EXISTS ix_list_members_seen ON list_members (list_id, seen)",
    ),
    4: (),  # accepted_requests: a new table, which create_all makes
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
}
#: Requests Pinterest accepted whose members list_members does not hold yet: one row each,
#: written as soon as the request succeeds, deleted in the transaction that records its
#: members. A run killed in between leaves rows here, and the next open records them.
accepted_requests = sa.Table(
    "accepted_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("list_id", sa.String(18), nullable=False),
    sa.Column("operation_type", sa.String(8), nullable=False),
    sa.Column("seen", sa.BigInteger),
    sa.Column("members", sa.Text, nullable=False),  # a JSON array of hashes
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
)


class StoreError(Exception):
    """The store cannot be opened or used; the message names ``store_url``."""


class Accepted(NamedTuple):
    """One request Pinterest accepted: its list, ADD or REMOVE, members, mirror mark."""

    list_id: str
    operation_type: str
    members: list[str]
    seen: int | None = None
    journal_id: int | None = None
    """Its row in accepted_requests, deleted when its members are recorded."""


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


def _stored(row: sa.Row[Any]) -> StoredList:
    return StoredList(
        ad_account_id=row.ad_account_id,
        name=row.name,
        list_id=row.list_id,
        list_type=row.list_type,
        audience_id=row.audience_id,
        members_known=bool(row.members_known),
        audience=row.audience,
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


class Store:
    """SQLAlchemy-backed store, safe to share between sink threads."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        """Wrap an engine; use :meth:`open` to make one from a URL."""
        self.engine = engine
        self.read_only = read_only
        # SQLite allows one writer at a time: serialise our own threads instead of meeting
        # "database is locked". PostgreSQL handles concurrency itself.
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if self._sqlite else None

    @classmethod
    def open(cls, url: str | None, *, read_only: bool = False) -> Store:
        """Open (and create or upgrade) the store at ``url``; ``read_only`` writes nothing.

        A read-only store whose SQLite file does not exist yet is an empty in-memory one, so
        a dry run leaves no file behind.
        """
        url = url or default_store_url()
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"store_url is not a SQLAlchemy URL: {exc}") from None
        try:
            if parsed.get_backend_name() == "sqlite":
                database = parsed.database or ""
                if database and database != ":memory:":
                    path = Path(database)
                    if read_only and not path.exists():
                        parsed = parsed.set(database=":memory:")
                    elif not read_only:
                        path.parent.mkdir(parents=True, exist_ok=True)
                if parsed.database in (None, "", ":memory:"):
                    # One shared connection, or each thread would see its own empty database.
                    engine = sa.create_engine(
                        parsed, poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
                    )
                else:
                    engine = sa.create_engine(parsed, connect_args={"timeout": 60})
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = sa.create_engine(parsed, pool_pre_ping=True)
            store = cls(engine, read_only=read_only)
            store._prepare()
            if not read_only:
                store.record_journal()
        except (sa.exc.SQLAlchemyError, OSError, ImportError) as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
            raise StoreError(f"store_url {redact_url(url)} cannot be opened: {reason}") from None
        return store

    def _prepare(self) -> None:
        with self._exclusive("schema"):
            if self._upgrade() >= REBUILT_MEMBERS or not self._sqlite:
                return
            # The upgrade left the old member table's pages free: give them back to the disk.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
            logger.info("Compacted the store file after the upgrade.")

    def _upgrade(self) -> int:
        """Create or upgrade the schema; return the version the store had (a new one: SCHEMA_VERSION)."""
        with self.engine.begin() as conn:
            if self._sqlite and conn.exec_driver_sql("SELECT json_valid('[]')").scalar() != 1:
                raise StoreError("SQLite here lacks its JSON functions (built in since 3.38); use a newer Python")
            metadata.create_all(conn, checkfirst=True)
            version = conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")).scalar()
            if version is None:
                self._upsert(conn, store_meta, {"key": "schema_version", "value": str(SCHEMA_VERSION)})
                return SCHEMA_VERSION
            if int(version) > SCHEMA_VERSION:
                raise StoreError(
                    f"store_url holds a newer store (schema {version}); upgrade target-pinterest-audiences"
                )
            if int(version) < SCHEMA_VERSION:
                logger.info("Upgrading the store from schema version %s to %d.", version, SCHEMA_VERSION)
                for step in range(int(version) + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[step]:
                        text = statement if isinstance(statement, str) else self._dialect_sql(statement)
                        if text:
                            conn.execute(sa.text(text))
                    logger.info("Upgraded the store to schema version %d.", step)
                self._upsert(conn, store_meta, {"key": "schema_version", "value": str(SCHEMA_VERSION)})
            return int(version)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _upsert(self, conn: Connection, table: sa.Table, row: dict[str, object]) -> None:
        """Insert a row or replace the one with its primary key (SQLite and PostgreSQL)."""
        keys = [column.name for column in table.primary_key.columns]
        values = {name: value for name, value in row.items() if name not in keys}
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(row)
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=values))

    # -- lists ----------------------------------------------------------------------------

    def get_list(self, ad_account_id: str, name: str) -> StoredList | None:
        """The list of this name in this account, if the store knows it."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(customer_lists).where(
                    customer_lists.c.ad_account_id == ad_account_id, customer_lists.c.name == name
                )
            ).first()
        if row is None:
            return None
        return _stored(row)

    def forget_list(self, ad_account_id: str, name: str, list_id: str) -> None:
        """Drop a list Pinterest no longer has, and what the store held for it."""
        if self.read_only:
            return
        with self._writing() as conn:
            conn.execute(
                sa.delete(customer_lists).where(
                    customer_lists.c.ad_account_id == ad_account_id,
                    customer_lists.c.name == name,
                    customer_lists.c.list_id == list_id,
                )
            )
            conn.execute(sa.delete(list_members).where(list_members.c.list_id == list_id))
            conn.execute(sa.delete(accepted_requests).where(accepted_requests.c.list_id == list_id))

    def lists_of_audience(self, ad_account_id: str, audience: str) -> list[StoredList]:
        """Every list the store knows for an audience (one per identifier type)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(customer_lists)
                .where(customer_lists.c.ad_account_id == ad_account_id, customer_lists.c.audience == audience)
                .order_by(customer_lists.c.name)
            ).all()
        return [_stored(row) for row in rows]

    def list_lock(self, ad_account_id: str, name: str) -> contextlib.AbstractContextManager[None]:
        """Hold a lock on one list name across processes while it is found or created."""
        return self._exclusive(f"list:{ad_account_id}:{name}")

    @contextmanager
    def _exclusive(self, what: str) -> Iterator[None]:
        """A lock that every process sharing the store respects.

        PostgreSQL: a session advisory lock, so runs that share the store never create a
        name twice. SQLite: an exclusive lock on a file beside the database.
        """
        digest = hashlib.sha256(what.encode()).digest()
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(digest[:8], "big", signed=True)
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
                try:
                    yield
                finally:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    conn.commit()
            return
        database = self.engine.url.database
        if not database or database == ":memory:" or fcntl is None:
            yield
            return
        with Path(f"{database}.lock").open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def save_list(self, stored: StoredList) -> None:
        """Remember a list's id, type and audience."""
        if self.read_only:
            return
        with self._writing() as conn:
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
                },
            )

    # -- members --------------------------------------------------------------------------

    def members_among(self, list_id: str, candidates: Iterable[str]) -> set[str]:
        """Which of ``candidates`` the store holds as accepted members of the list."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(candidates)):
                sql, value = self._bind(_AMONG, chunk)
                result = conn.exec_driver_sql(sql, (list_id, value))
                # SQLite answers with one JSON array of members, PostgreSQL with a row each.
                found.update(json.loads(str(result.scalar())) if self._sqlite else (row[0] for row in result))
        return found

    def record_accepted(self, list_id: str, operation_type: str, members: list[str], seen: int | None = None) -> None:
        """Record what Pinterest accepted: call only after the request succeeded."""
        self.record_all([Accepted(list_id, operation_type, members, seen)])

    def journal(self, accepted: Accepted) -> Accepted:
        """Note an accepted request at once, in one small append; its members are recorded later.

        Returns it with its journal id, for :meth:`record_all` to delete the row.
        """
        if self.read_only or not accepted.members:
            return accepted
        with self._writing() as conn:
            result = conn.execute(
                sa.insert(accepted_requests).values(
                    list_id=accepted.list_id,
                    operation_type=accepted.operation_type,
                    seen=accepted.seen,
                    members=json.dumps(accepted.members),
                )
            )
            key = result.inserted_primary_key
        return accepted._replace(journal_id=int(key[0])) if key else accepted

    def record_journal(self) -> int:
        """Record the requests a killed run noted as accepted but never recorded; return how many."""
        with self._writing() as conn:
            rows = conn.execute(sa.select(accepted_requests).order_by(accepted_requests.c.id)).all()
            items = [
                Accepted(row.list_id, row.operation_type, json.loads(row.members), row.seen, row.id) for row in rows
            ]
            self._record(conn, items)
        if items:
            logger.info("Recorded %d accepted requests that an interrupted run had not recorded.", len(items))
        return len(items)

    def record_all(self, accepted: Sequence[Accepted]) -> None:
        """Record several accepted requests in one transaction, in order, and drop their journal rows.

        Members are random keys, so each request's rows land on pages all over the table;
        one commit for many requests writes a page once for all the members it holds.
        """
        if self.read_only or not accepted:
            return
        with self._writing() as conn:
            self._record(conn, accepted)

    def _record(self, conn: Connection, accepted: Sequence[Accepted]) -> None:
        for item in accepted:
            if item.operation_type == "ADD":
                seen = item.seen
                on_conflict = "DO NOTHING" if seen is None else "DO UPDATE SET seen = excluded.seen"
                self._each_chunk(conn, _ADD, item.list_id, item.members, seen=seen or 0, on_conflict=on_conflict)
            else:
                self._each_chunk(conn, _REMOVE, item.list_id, item.members)
        done = [item.journal_id for item in accepted if item.journal_id is not None]
        for chunk in _chunks(done, 500):
            conn.execute(sa.delete(accepted_requests).where(accepted_requests.c.id.in_(chunk)))

    def mark_seen(self, list_id: str, members: list[str], seen: int) -> None:
        """Note that a mirror snapshot contained these members (already in the list)."""
        if self.read_only or not members:
            return
        with self._writing() as conn:
            self._each_chunk(conn, _SEEN, list_id, members, seen=seen)

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

        The members go in as one JSON array (SQLite's json_each) or one array (PostgreSQL's
        unnest / ANY), not one row at a time: the per-row work happens inside the database
        without Python's lock, so reading input goes on meanwhile, and the statement text
        never changes, so the driver's statement cache stays small.
        """
        if members:
            for chunk in _chunks(list(dict.fromkeys(members))):
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
            return list_members.c.list_id == list_id
        return sa.and_(list_members.c.list_id == list_id, list_members.c.seen < seen)

    def unseen_count(self, list_id: str, seen: int) -> int:
        """How many members of a list the snapshot ``seen`` did not contain."""
        with self.engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(list_members).where(self._unseen(list_id, seen))
            ).scalar()
        return int(count or 0)

    def unseen_members(self, list_id: str, seen: int | None, limit: int, after: str = "") -> list[str]:
        """The next ``limit`` members, in order after ``after``, that the snapshot did not contain.

        Paging by key keeps a million-member diff in bounded memory, and reads the list's
        rows once, in the primary key's order (no sort).
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

    def member_count(self, list_id: str) -> int:
        """How many members the store holds for a list."""
        with self.engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(list_members).where(list_members.c.list_id == list_id)
            ).scalar()
        return int(count or 0)

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
        """Open a run in the history; None for a read-only store."""
        if self.read_only:
            return None
        with self._writing() as conn:
            result = conn.execute(sa.insert(runs).values(started_at=_now(), status="running"))
            key = result.inserted_primary_key
        return int(key[0]) if key else None

    def finish_run(self, run_id: int | None, status: str, report_json: str) -> None:
        """Close a run with its status and report."""
        if self.read_only or run_id is None:
            return
        with self._writing() as conn:
            conn.execute(
                sa.update(runs).where(runs.c.id == run_id).values(finished_at=_now(), status=status, report=report_json)
            )

    def checkpoint(self) -> None:
        """Copy SQLite's WAL back into the database now (PASSIVE: nobody waits), if it has one.

        The sender does it while it waits for the next batch, so the copy the last
        connection would make when it closes (up to WAL_CHECKPOINT_PAGES pages) is done by then.
        """
        if self._sqlite and not self.read_only:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers go on while a writer commits; NORMAL sync is safe with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Members are random keys: each commit touches pages all over the table. Copying the WAL
    # back every 50,000 pages (SQLite's default: 1,000) writes a page that several commits
    # touched once, and syncs a fiftieth as often; the WAL file grows to ~200 MB meanwhile,
    # and is cut back to 64 MB after each checkpoint.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
    cursor.close()
