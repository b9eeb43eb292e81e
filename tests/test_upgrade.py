"""The schema 6 -> 7 upgrade: IDFA lists an older version hashed from the lowercase id.

The store file tests/data/store-schema6.db was written by commit 4830b26 (schema 6; see
tests/data/README.md): list "app_users (IDFA)" holds the lowercase-hashed entries of three
IDFAs plus one IDFA the tap sent pre-hashed (the SHA-256 of its uppercase form), and
"app_users (EMAIL)" two emails. Each test puts those lists, with those entries, into the
emulator under the ids it hands out, and points a copy of the file at them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from conftest import ACCESS_TOKEN, AD_ACCOUNT, DATA, emulator_settings, run_target, sha
from pinterest_emulator import Faults, PinterestEmulator
from target_pinterest_audiences.store import Store, Write
from test_exactness import finished, started

IDFAS = [
    "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "1E2DFA89-496A-47FD-9941-DF1FC4E6484A",
    "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB",
]
#: Sent pre-hashed by the tap (the hash of the uppercase id): the same hash before and after.
PREHASHED = hashlib.sha256(b"B1C2D3E4-0000-4000-8000-00000000AA01").hexdigest()
EMAILS = ["ann@example.com", "bob@example.com"]
IDFA_LIST = "app_users (IDFA)"
EMAIL_LIST = "app_users (EMAIL)"


def old_store(emulator: PinterestEmulator, tmp_path: Path) -> Path:
    """A copy of the schema 6 file whose lists live in the emulator, with the entries it holds."""
    path = tmp_path / "store.db"
    shutil.copy(DATA / "store-schema6.db", path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM store_meta").fetchone() == ("6",)
        lists = db.execute("SELECT name, list_id, list_type FROM customer_lists ORDER BY name").fetchall()
        for name, old_id, list_type in lists:
            members = [row[0] for row in db.execute("SELECT member FROM list_members WHERE list_id = ?", (old_id,))]
            base = f"{emulator.url}/ad_accounts/{AD_ACCOUNT}"
            auth = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
            body = {"name": name, "records": ",".join(members), "list_type": list_type}
            made = requests.post(f"{base}/customer_lists", json=body, headers=auth, timeout=10).json()
            rule = {"name": name, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": made["id"]}}
            audience = requests.post(f"{base}/audiences", json=rule, headers=auth, timeout=10).json()
            db.execute(
                "UPDATE customer_lists SET list_id = ?, audience_id = ? WHERE name = ?",
                (made["id"], audience["id"], name),
            )
            db.execute("UPDATE list_members SET list_id = ? WHERE list_id = ?", (made["id"], old_id))
    emulator.requests.clear()
    return path


def full_membership() -> str:
    """The tap's full refresh of the audience: every member once, raw IDFAs and emails."""
    records = [{"audience": "app_users", "idfa": idfa} for idfa in [*IDFAS, PREHASHED]]
    records += [{"audience": "app_users", "email": email} for email in EMAILS]
    lines = [{"type": "SCHEMA", "stream": "members", "schema": {"type": "object"}, "key_properties": []}]
    lines += [{"type": "RECORD", "stream": "members", "record": record} for record in records]
    return "".join(json.dumps(line) + "\n" for line in lines)


def writes_to(emulator: PinterestEmulator, list_id: str) -> list[tuple[str, list[str]]]:
    """(operation, records) of each accepted write to a list, in order."""
    found = []
    for request in emulator.requests:
        if request.method == "PATCH" and request.path.endswith(f"/customer_lists/{list_id}") and request.status == 200:
            body: Any = request.body
            found.append((body["operation_type"], body["records"].split(",")))
    return found


def test_first_run_after_upgrade_removes_lowercase_idfa_entries_then_adds(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    path = old_store(emulator, tmp_path)
    idfa_list = emulator.list_by_name(IDFA_LIST)
    old_entries = set(idfa_list.members)
    assert old_entries == {hashlib.sha256(idfa.lower().encode()).hexdigest() for idfa in IDFAS} | {PREHASHED}
    emails_before = emulator.list_by_name(EMAIL_LIST).members
    # add_only and no removal allowed at all: the clean-up happens whatever they say.
    config = target_config | {"store_url": f"sqlite:///{path}", "sync_mode": "add_only", "max_removal_fraction": 0}

    result = run_target(config, full_membership(), tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    wanted = {sha(idfa, "IDFA") for idfa in IDFAS} | {PREHASHED}
    assert emulator.list_by_name(IDFA_LIST).members == wanted
    assert emulator.list_by_name(IDFA_LIST).id == idfa_list.id  # cleaned in place, not made again
    writes = writes_to(emulator, idfa_list.id)
    operations = [operation for operation, _ in writes]
    # Every old entry removed, all before the first add (the pre-hashed one is added back after).
    assert operations.index("ADD") > max(i for i, op in enumerate(operations) if op == "REMOVE")
    assert {member for op, records in writes if op == "REMOVE" for member in records} == old_entries
    assert emulator.list_by_name(EMAIL_LIST).members == emails_before
    assert all(op == "ADD" for op, _ in writes_to(emulator, emulator.list_by_name(EMAIL_LIST).id))
    # The log and the report say the tap must send the audience's whole membership once.
    assert "meltano run --full-refresh" in result.stderr
    assert "app_users (IDFA)" in result.stderr
    assert result.report is not None
    assert result.report["full_refresh_needed"] == [IDFA_LIST]
    row = next(row for row in result.report["lists"] if row["name"] == IDFA_LIST)
    assert row["removed"] == len(old_entries)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM store_meta").fetchone() == ("7",)
        assert db.execute("SELECT count(*) FROM lowercase_idfa_lists").fetchone() == (0,)
        held = {r[0] for r in db.execute("SELECT member FROM list_members WHERE list_id = ?", (idfa_list.id,))}
    assert held == wanted

    # Once only: the next run removes nothing and sends nothing to the lists.
    emulator.requests.clear()
    again = run_target(config, full_membership(), tmp_path)
    assert again.returncode == 0
    assert writes_to(emulator, idfa_list.id) == []
    assert again.report is not None
    assert again.report["full_refresh_needed"] == []


def test_a_killed_clean_up_is_finished_by_the_next_run(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    path = old_store(emulator, tmp_path)
    idfa_list = emulator.list_by_name(IDFA_LIST)
    config = target_config | {"store_url": f"sqlite:///{path}", "records_per_request": 2}
    # Killed after Pinterest applied the first REMOVE, before the store recorded it.
    killed = run_target(config | {"_crash_at": "after_answer:1"}, "", tmp_path)
    assert killed.returncode != 0
    assert len(emulator.list_by_name(IDFA_LIST).members) == 2

    result = run_target(config, full_membership(), tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert emulator.list_by_name(IDFA_LIST).members == {sha(idfa, "IDFA") for idfa in IDFAS} | {PREHASHED}
    operations = [operation for operation, _ in writes_to(emulator, idfa_list.id)]
    assert "ADD" in operations
    assert operations.index("ADD") > max(i for i, op in enumerate(operations) if op == "REMOVE")


def test_dry_run_reads_the_old_store_as_it_is_and_says_what_the_upgrade_would_send(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    path = old_store(emulator, tmp_path)
    before = path.read_bytes()
    config = target_config | {"store_url": f"sqlite:///{path}", "dry_run": True}
    result = run_target(config, full_membership(), tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert path.read_bytes() == before  # not upgraded, not written
    assert emulator.requests == []
    assert "'app_users (IDFA)' held 4 entries hashed from lowercase IDFAs" in result.stderr
    assert "the upgrade would remove them from Pinterest" in result.stderr
    assert result.report is not None
    assert result.report["full_refresh_needed"] == [IDFA_LIST]
    row = next(row for row in result.report["lists"] if row["name"] == IDFA_LIST)
    # The four old entries go, and the four wanted ones are added: none counts as known.
    assert (row["removed"], row["added"]) == (4, 4)


def test_two_processes_on_one_postgresql_store_upgrade_and_clean_it_once(
    emulator: PinterestEmulator, tmp_path: Path, postgres_url: str
) -> None:
    """A schema 6 PostgreSQL store (schema 7 made, then taken back to 6 as its upgrade finds it)."""
    old = [hashlib.sha256(idfa.lower().encode()).hexdigest() for idfa in IDFAS]
    auth = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    base = f"{emulator.url}/ad_accounts/{AD_ACCOUNT}"
    body = {"name": IDFA_LIST, "records": ",".join(old), "list_type": "IDFA"}
    made = requests.post(f"{base}/customer_lists", json=body, headers=auth, timeout=10).json()
    rule = {"name": IDFA_LIST, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": made["id"]}}
    audience = requests.post(f"{base}/audiences", json=rule, headers=auth, timeout=10).json()
    store = Store.open(postgres_url)
    store.start_run()
    write = Write(AD_ACCOUNT, IDFA_LIST, "app_users", "IDFA", None, "ADD", tuple(old), None)
    store.confirm(store.add_intent(write), made["id"])
    stored = store.get_list(AD_ACCOUNT, IDFA_LIST)
    assert stored is not None
    store.save_list(replace(stored, audience_id=audience["id"]))
    store.finish_run("succeeded", "{}")
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE lowercase_idfa_lists"))
        conn.execute(sa.text("DROP TABLE list_history"))
        conn.execute(sa.text("UPDATE store_meta SET value = '6' WHERE key = 'schema_version'"))
    store.close()
    emulator.requests.clear()
    emulator.faults = Faults(latency_seconds=0.2)  # both processes are mid-run together

    with contextlib.ExitStack() as stack:
        procs = []
        for name in ("one", "two"):
            folder = tmp_path / name
            folder.mkdir()
            config = {**emulator_settings(emulator, folder), "access_token": ACCESS_TOKEN, "store_url": postgres_url}
            config["records_per_request"] = 1
            procs.append((stack.enter_context(started(config, "", folder)), folder))
        results = [finished(proc, folder, 120) for proc, folder in procs]

    for result in results:
        assert result.returncode == 0, result.last_line
    assert sum("Upgrading the store from schema version 6" in result.stderr for result in results) == 1
    assert sum(f"held {len(old)} entries hashed from lowercase IDFAs" in result.stderr for result in results) == 1
    # The other process finds the list cleaned: it says nothing of it (no "held 0 entries").
    assert sum(result.stderr.count("entries hashed from lowercase IDFAs") for result in results) == 1
    removed = [record for operation, records in writes_to(emulator, made["id"]) for record in records]
    assert sorted(removed) == sorted(old)  # each old entry removed once, by one process
    assert emulator.list_by_name(IDFA_LIST).members == frozenset()
