"""A dry run never writes the store (CONTRACT.md, Settings: ``dry_run``), whatever the store holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import run_target, singer_lines
from pinterest_emulator import Faults, PinterestEmulator
from target_pinterest_audiences.store import Store, StoredList, StoreError


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize("mode", ["changes", "add_only", "mirror"])
def test_a_dry_run_leaves_the_store_as_it_was(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path, mode: str
) -> None:
    rows = [{"audience": "vip", "email": f"u{i}@example.com"} for i in range(4)]
    assert run_target(target_config, singer_lines("rows", rows), tmp_path).returncode == 0
    # An unsettled write too: applied, its answer lost, then 429s until the budget is spent.
    emulator.faults = Faults(
        drop_after_effect_nth={2}, fail_nth=dict.fromkeys(range(3, 99), 429), retry_after_seconds=1
    )
    more = [{"audience": "vip", "email": "late@example.com"}]
    assert run_target(target_config | {"max_retry_seconds": 2}, singer_lines("rows", more), tmp_path).returncode == 1
    emulator.faults = Faults()
    store = tmp_path / "store.db"
    before = dump(store)
    requests_before = len(emulator.requests)
    changes = [
        {"audience": "vip", "email": "u0@example.com", "in_audience": False},
        {"audience": "vip", "email": "new@example.com"},
        {"audience": "other", "email": "x@example.com"},
    ]
    dry = run_target(
        target_config | {"dry_run": True, "sync_mode": mode, "max_removal_fraction": 1},
        singer_lines("rows", changes),
        tmp_path,
    )
    assert dry.returncode == 0, dry.last_line
    assert dry.stdout == ""
    assert dump(store) == before
    assert len(emulator.requests) == requests_before


def test_a_read_only_store_refuses_every_write(tmp_path: Path) -> None:
    """By construction: a write a dry run would reach raises instead of changing the file."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(url).close()
    before = dump(tmp_path / "store.db")
    store = Store.open(url, read_only=True)
    try:
        assert store.start_run() is None
        with pytest.raises(StoreError, match="never written"):
            store.forget_list(StoredList("1", "vip (EMAIL)", "2", "EMAIL", None, members_known=True))
        with pytest.raises(StoreError, match="never written"):
            store.mark_gone(StoredList("1", "vip (EMAIL)", "2", "EMAIL", None, members_known=True))
    finally:
        store.close()
    assert dump(tmp_path / "store.db") == before
