"""The store through the real executable: change-only syncs, mirror mode, PostgreSQL, upgrades.

Each scenario runs on the embedded SQLite file (no server at all) and, where a PostgreSQL
server is given in TEST_POSTGRES_URL (.ci/run starts one), on PostgreSQL too.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import EXECUTABLE, require_postgres, run_target, sha, singer_lines
from pinterest_emulator import Faults, PinterestEmulator
from target_pinterest_audiences import store as store_module
from target_pinterest_audiences.store import SCHEMA_VERSION, SQLITE_PAGE_BYTES, Store, Write, metadata
from target_pinterest_audiences.write.journal import Journal


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The embedded SQLite file, and a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def config(target_config: dict[str, Any], store_url: str) -> dict[str, Any]:
    return target_config | {"store_url": store_url}


def emails(names: list[str]) -> list[dict[str, str]]:
    return [{"email": f"{name}@example.com"} for name in names]


def members(names: list[str]) -> frozenset[str]:
    return frozenset(sha(f"{name}@example.com") for name in names)


def writes(emulator: PinterestEmulator, since: int) -> list[tuple[str, str | None, int]]:
    """(method, operation, number of records) of each write after the first ``since`` requests."""
    found = []
    for request in emulator.requests[since:]:
        if request.method in ("POST", "PATCH") and "customer_lists" in request.path:
            body = request.body if isinstance(request.body, dict) else {}
            records = str(body.get("records", ""))
            found.append((request.method, body.get("operation_type"), len(records.split(",")) if records else 0))
    return found


NAMES = [f"member{i:02d}" for i in range(10)]
AD_ACCOUNT = "549755885175"


def record(store: Store, list_id: str, operation: str, hashes: list[str], seen: int | None = None) -> None:
    """Write members the way a run does: an intent, then its confirmation."""
    if store.run_id is None:
        store.start_run()
    intent = store.add_intent(Write(AD_ACCOUNT, "vip (EMAIL)", "vip", "EMAIL", list_id, operation, tuple(hashes), seen))
    assert store.confirm(intent, list_id)


def test_changes_mode_repeated_input_makes_no_writes_and_later_removals_apply(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path
) -> None:
    first = singer_lines("vip", emails(NAMES))
    assert run_target(config, first, tmp_path).returncode == 0
    before = len(emulator.requests)
    assert run_target(config, first, tmp_path).returncode == 0
    assert writes(emulator, before) == []
    leave = singer_lines("rows", [{"audience": "vip", "email": "member03@example.com", "in_audience": False}])
    before = len(emulator.requests)
    assert run_target(config, leave, tmp_path).returncode == 0
    assert writes(emulator, before) == [("PATCH", "REMOVE", 1)]
    assert emulator.list_by_name("vip (EMAIL)").members == members([n for n in NAMES if n != "member03"])
    before = len(emulator.requests)
    assert run_target(config, leave, tmp_path).returncode == 0
    assert writes(emulator, before) == []


def test_add_only_counts_removals_and_never_sends_them(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path
) -> None:
    config["sync_mode"] = "add_only"
    assert run_target(config, singer_lines("vip", emails(NAMES[:3])), tmp_path).returncode == 0
    leave = singer_lines("rows", [{"audience": "vip", "email": "member01@example.com", "in_audience": "false"}])
    before = len(emulator.requests)
    result = run_target(config, leave, tmp_path)
    assert result.returncode == 0
    assert writes(emulator, before) == []
    assert emulator.list_by_name("vip (EMAIL)").members == members(NAMES[:3])
    assert result.report is not None
    assert result.report["lists"][0]["removals_not_sent"] == 1


def test_mirror_across_runs(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path, sending: dict[str, Any]
) -> None:
    config |= {"sync_mode": "mirror", **sending}
    other = singer_lines("loyal", emails(["keep1", "keep2"]))
    assert run_target(config, other, tmp_path).returncode == 0

    snapshot = singer_lines("vip", emails(NAMES), state={"snapshot": 1})
    assert run_target(config, snapshot, tmp_path).returncode == 0
    assert emulator.list_by_name("vip (EMAIL)").members == members(NAMES)

    before = len(emulator.requests)
    again = run_target(config, snapshot, tmp_path)
    assert again.returncode == 0
    assert writes(emulator, before) == []
    assert again.states == [{"snapshot": 1}]

    changed = [*NAMES[1:], "newcomer"]  # member00 leaves, newcomer joins
    before = len(emulator.requests)
    assert run_target(config, singer_lines("vip", emails(changed)), tmp_path).returncode == 0
    assert sorted(writes(emulator, before), key=str) == [("PATCH", "ADD", 1), ("PATCH", "REMOVE", 1)]
    assert emulator.list_by_name("vip (EMAIL)").members == members(changed)

    truncated = singer_lines("vip", emails(changed[:3]), state={"snapshot": 3})
    before = len(emulator.requests)
    refused = run_target(config, truncated, tmp_path)
    assert refused.returncode == 1
    assert "max_removal_fraction 0.5" in refused.last_line
    assert "remove 7 of its 10 known members" in refused.last_line
    assert refused.states == []
    assert writes(emulator, before) == []
    assert emulator.list_by_name("vip (EMAIL)").members == members(changed)

    # Three members a request: the seven removals come out of the store in pages after one another.
    config |= {"max_removal_fraction": 1, "records_per_request": 3}
    before = len(emulator.requests)
    applied = run_target(config, truncated, tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert applied.states == [{"snapshot": 3}]
    assert sorted(writes(emulator, before), key=str) == [("PATCH", "REMOVE", 1)] + [("PATCH", "REMOVE", 3)] * 2
    assert emulator.list_by_name("vip (EMAIL)").members == members(changed[:3])
    # An audience absent from every one of these runs was left alone.
    assert emulator.list_by_name("loyal (EMAIL)").members == members(["keep1", "keep2"])


def test_mirror_removes_a_whole_list_type_the_snapshot_no_longer_has(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path
) -> None:
    config |= {"sync_mode": "mirror", "max_removal_fraction": 1}
    rows = [{"email": "a@example.com", "maid": "38400000-8cf0-11bd-b23e-10b96e40000d"}, {"email": "b@example.com"}]
    assert run_target(config, singer_lines("app_users", rows), tmp_path).returncode == 0
    assert len(emulator.list_by_name("app_users (MAID)").members) == 1
    assert run_target(config, singer_lines("app_users", [{"email": "b@example.com"}]), tmp_path).returncode == 0
    assert emulator.list_by_name("app_users (MAID)").members == frozenset()
    assert emulator.list_by_name("app_users (EMAIL)").members == frozenset({sha("b@example.com")})


def test_activate_version_ends_a_snapshot_mid_run(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path
) -> None:
    config["sync_mode"] = "mirror"
    lines = [
        {"type": "SCHEMA", "stream": "vip", "schema": {"type": "object", "properties": {}}, "key_properties": []},
        {"type": "ACTIVATE_VERSION", "stream": "vip", "version": 1},
        *({"type": "RECORD", "stream": "vip", "record": r, "version": 1} for r in emails(NAMES[:6])),
        {"type": "ACTIVATE_VERSION", "stream": "vip", "version": 1},
        *({"type": "RECORD", "stream": "vip", "record": r, "version": 2} for r in emails(NAMES[:4])),
        {"type": "ACTIVATE_VERSION", "stream": "vip", "version": 2},
        {"type": "STATE", "value": {"version": 2}},
    ]
    result = run_target(config, "".join(json.dumps(line) + "\n" for line in lines), tmp_path)
    assert result.returncode == 0, result.stderr
    assert emulator.list_by_name("vip (EMAIL)").members == members(NAMES[:4])
    assert writes(emulator, 0) == [("POST", None, 6), ("PATCH", "REMOVE", 2)]
    assert result.states == [{"version": 2}]


def test_dry_run_of_an_unchanged_mirror_input_shows_nothing_to_do(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path
) -> None:
    config["sync_mode"] = "mirror"
    assert run_target(config, singer_lines("vip", emails(NAMES)), tmp_path).returncode == 0
    before = len(emulator.requests)
    dry = config | {"dry_run": True}
    result = run_target(dry, singer_lines("vip", emails(NAMES)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.report is not None
    row = result.report["lists"][0]
    assert (row["added"], row["removed"], row["unchanged"]) == (0, 0, 10)
    shrunk = run_target(dry, singer_lines("vip", emails([*NAMES[:8], "new"])), tmp_path)
    assert shrunk.report is not None
    row = shrunk.report["lists"][0]
    assert (row["added"], row["removed"], row["unchanged"]) == (1, 2, 8)
    assert len(emulator.requests) == before


def test_two_processes_at_once_create_one_list_and_lose_nothing(
    emulator: PinterestEmulator, config: dict[str, Any], tmp_path: Path
) -> None:
    emulator.faults = Faults(latency_seconds=0.2)
    procs = []
    for part, names in enumerate((NAMES[:5], NAMES[5:])):
        workdir = tmp_path / f"p{part}"
        workdir.mkdir()
        (workdir / "config.json").write_text(json.dumps(config | {"report_path": str(workdir / "r.json")}))
        (workdir / "input.singer").write_text(singer_lines("shared_audience", emails(names)))
        command = [str(EXECUTABLE), "--config", str(workdir / "config.json"), "--input", str(workdir / "input.singer")]
        with (workdir / "stderr.log").open("w") as stderr:
            procs.append((workdir, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)))
    for workdir, proc in procs:
        assert proc.wait(timeout=120) == 0, (workdir / "stderr.log").read_text()
    lists = emulator.customer_lists()
    assert [item.name for item in lists] == ["shared_audience (EMAIL)"]
    assert lists[0].members == members(NAMES)
    assert len(emulator.audiences()) == 1


def test_store_upgrades_a_schema_1_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE store_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(200) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO store_meta VALUES ('schema_version', '1')"))
        conn.execute(
            sa.text(
                "CREATE TABLE customer_lists (ad_account_id VARCHAR(18), name VARCHAR(500), list_id VARCHAR(18)"
                " NOT NULL, list_type VARCHAR(16) NOT NULL, audience_id VARCHAR(32), members_known BOOLEAN NOT NULL,"
                " created_at DATETIME NOT NULL, PRIMARY KEY (ad_account_id, name))"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE list_members (list_id VARCHAR(18), member VARCHAR(64), PRIMARY KEY (list_id, member))"
            )
        )
        conn.execute(sa.text("INSERT INTO list_members VALUES ('7', 'abc')"))
    engine.dispose()
    store = Store.open(url)
    assert store.member_count("7") == 1
    store.mark_seen("7", ["abc"], 5)
    assert store.unseen_count("7", 5) == 0
    with store.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT value FROM store_meta WHERE key = 'schema_version'")).scalar()
    assert version == str(SCHEMA_VERSION)
    store.close()


def test_store_upgrades_a_schema_4_store(store_url: str) -> None:
    """Members and marks are kept, the seen index goes (SQLite: the rowid too), and the
    accepted requests schema 4 and 5 journalled but never recorded are recorded."""
    store = Store.open(store_url)
    record(store, "7", "ADD", [sha("a@example.com"), sha("b@example.com")], seen=3)
    record(store, "7", "ADD", [sha("c@example.com")])
    store.close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # the store as version 4 made it
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("ALTER TABLE list_members RENAME TO v5"))
            conn.execute(
                sa.text(
                    "CREATE TABLE list_members (list_id VARCHAR(18) NOT NULL, member VARCHAR(64) NOT NULL,"
                    " seen BIGINT DEFAULT '0' NOT NULL, PRIMARY KEY (list_id, member))"
                )
            )
            conn.execute(sa.text("INSERT INTO list_members SELECT list_id, member, seen FROM v5"))
            conn.execute(sa.text("DROP TABLE v5"))
        conn.execute(sa.text("CREATE INDEX ix_list_members_seen ON list_members (list_id, seen)"))
        conn.execute(sa.text("DROP TABLE intents"))
        conn.execute(sa.text("DROP TABLE list_claims"))
        conn.execute(sa.text("ALTER TABLE customer_lists DROP COLUMN gone"))
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN owner"))
        conn.execute(
            sa.text(
                "CREATE TABLE accepted_requests (id INTEGER PRIMARY KEY, list_id VARCHAR(18) NOT NULL,"
                " operation_type VARCHAR(8) NOT NULL, seen BIGINT, members TEXT NOT NULL)"
            )
        )
        conn.execute(
            sa.text("INSERT INTO accepted_requests VALUES (1, '7', 'ADD', 3, :m), (2, '7', 'REMOVE', NULL, :r)"),
            {"m": json.dumps([sha("d@example.com")]), "r": json.dumps([sha("b@example.com")])},
        )
        conn.execute(sa.text("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'"))
    store = Store.open(store_url)
    assert store.member_count("7") == 3
    assert store.unseen_count("7", 3) == 1
    assert store.unseen_members("7", 4, 10) == sorted(sha(f"{name}@example.com") for name in "acd")
    store.close()
    assert sa.inspect(engine).get_indexes("list_members") == []
    assert not sa.inspect(engine).has_table("accepted_requests")
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT value FROM store_meta WHERE key = 'schema_version'")).scalar()
        if engine.dialect.name == "sqlite":
            ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'list_members'")).scalar()
            assert "WITHOUT ROWID" in str(ddl)
            # The old table's pages went back to the disk (VACUUM), not kept free in the file.
            assert conn.execute(sa.text("PRAGMA freelist_count")).scalar() == 0
    assert version == str(SCHEMA_VERSION)
    engine.dispose()


def test_mirror_removal_pages_through_a_list_larger_than_a_request(store_url: str) -> None:
    """Unseen members come a page at a time, in key order, each page after the last."""
    store = Store.open(store_url)
    everyone = sorted(sha(f"user{i}@example.com") for i in range(25))
    record(store, "7", "ADD", everyone, seen=1)
    store.mark_seen("7", everyone[::5], 2)
    pages, after = [], ""
    while page := store.unseen_members("7", 2, 4, after):
        pages.append(page)
        after = page[-1]
        record(store, "7", "REMOVE", page)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4]
    assert [member for page in pages for member in page] == [m for m in everyone if m not in everyone[::5]]
    assert store.member_count("7") == 5
    store.close()


def test_store_holds_hashes_only(target_config: dict[str, Any], tmp_path: Path) -> None:
    raw = ["Alice@Example.com", "bob@example.com"]
    assert run_target(target_config, singer_lines("vip", [{"email": e} for e in raw]), tmp_path).returncode == 0
    content = (tmp_path / "store.db").read_bytes()
    for value in raw:
        assert value.lower().encode() not in content
        assert value.encode() not in content
    assert sha(raw[0]).encode() in content


def test_only_intents_of_runs_that_are_gone_are_settled_and_each_by_one_run(store_url: str) -> None:
    """A live run's open writes are its own; a dead run's are adopted by exactly one other run."""
    first = Store.open(store_url)
    record(first, "7", "ADD", [sha("a@example.com")])
    pending = first.add_intent(
        Write(AD_ACCOUNT, "vip (EMAIL)", "vip", "EMAIL", "7", "REMOVE", (sha("a@example.com"),), None)
    )
    # Another ad account's write is left for a run of that account (its token may not reach it).
    other = first.add_intent(Write("42", "vip (EMAIL)", "vip", "EMAIL", "8", "ADD", (sha("b@example.com"),), None))
    second, third = Store.open(store_url), Store.open(store_url)
    second.start_run()
    third.start_run()
    assert Journal(second).unsettled(AD_ACCOUNT) == []  # the first run is alive: its write may be on its way
    first.close()  # killed: its lock goes with it, the intent stays
    adopted = Journal(second).unsettled(AD_ACCOUNT)
    assert [intent.id for intent in adopted] == [pending.id]
    assert adopted[0].run_id == second.run_id
    assert Journal(third).unsettled(AD_ACCOUNT) == []  # adopted once only
    assert [intent.id for intent in Journal(third).unsettled("42")] == [other.id]
    assert second.confirm(adopted[0], "7")
    assert not third.confirm(pending, "7")  # a stale confirmation records nothing
    assert second.members_among("7", [sha("a@example.com")]) == set()
    second.close()
    third.close()


def test_the_sqlite_store_and_its_folder_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    store = Store.open(f"sqlite:///{folder / 'store.db'}")
    store.start_run()
    store.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "store.db").stat().st_mode) == 0o600
    assert all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in folder.iterdir())


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def _write_and_read(url: str, member: str) -> set[str]:
    """Create a list by a confirmed write of one member; return what the store then holds."""
    store = Store.open(url)
    store.start_run()
    intent = store.add_intent(Write(AD_ACCOUNT, "vip (EMAIL)", "vip", "EMAIL", None, "ADD", (member,), None))
    store.confirm(intent, "9")
    held = store.members_among("9", [sha("a@example.com"), sha("b@example.com")])
    store.finish_run("succeeded", "{}")
    store.close()
    return held


def test_a_new_sqlite_store_takes_large_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page size is only settable before the file has a table (and before WAL mode): a new
    store gets STORE_PAGE_BYTES; a store made with SQLite's 4 KiB pages keeps working on them."""
    new = tmp_path / "new.db"
    assert _write_and_read(f"sqlite:///{new}", sha("a@example.com")) == {sha("a@example.com")}
    assert _page_size(new) == SQLITE_PAGE_BYTES > 4096

    old = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "SQLITE_PAGE_BYTES", 4096)
    _write_and_read(f"sqlite:///{old}", sha("a@example.com"))
    monkeypatch.undo()
    assert _write_and_read(f"sqlite:///{old}", sha("b@example.com")) == {sha("a@example.com"), sha("b@example.com")}
    assert _page_size(old) == 4096


def test_postgresql_url_options_are_kept_beside_the_lock_timeout() -> None:
    """A store_url's own ?options= (here a schema of its own) still applies."""
    url = require_postgres()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS tpa_own CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA tpa_own"))
    store = Store.open(url + "?options=-csearch_path%3Dtpa_own")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "30s"
    store.close()
    with engine.begin() as conn:
        tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'tpa_own'")).scalar()
        conn.execute(sa.text("DROP SCHEMA tpa_own CASCADE"))
    engine.dispose()
    assert tables == len(metadata.tables)


def test_the_start_line_says_new_for_a_store_made_now_then_existing(store_url: str) -> None:
    """On PostgreSQL too: the database exists before the store does, the store's tables do not."""
    first = Store.open(store_url)
    try:
        assert "(new; knows 0 lists" in first.describe()
    finally:
        first.close()
    again = Store.open(store_url)
    try:
        assert "(existing; knows 0 lists" in again.describe()
    finally:
        again.close()
