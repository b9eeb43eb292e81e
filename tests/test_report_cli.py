"""``target-pinterest-audiences-report``: reads the store only, never Pinterest, never writes."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from conftest import ACCESS_TOKEN, AD_ACCOUNT, DATA, emulator_settings, run_target
from pinterest_emulator import PinterestEmulator

REPORT = Path(sys.executable).with_name("target-pinterest-audiences-report")
LISTS = ("fans (EMAIL)", "quiet (EMAIL)", "strangers (EMAIL)")


def _singer(rows: list[dict[str, Any]]) -> str:
    lines = [{"type": "SCHEMA", "stream": "rows", "schema": {"type": "object"}, "key_properties": []}]
    lines += [{"type": "RECORD", "stream": "rows", "record": row} for row in rows]
    return "".join(json.dumps(line) + "\n" for line in lines)


def history_store(tmp_path: Path) -> Path:
    """Two real runs against an emulator with a population, three lists; returns the config file."""
    people = [f"person{index}@example.com" for index in range(300)]
    population = tmp_path / "population.csv"
    population.write_text("".join(f"email,{email}\n" for email in people))
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), population=population) as emulator:
        config = {**emulator_settings(emulator, tmp_path), "access_token": ACCESS_TOKEN}
        first = [{"audience": "fans", "email": email} for email in people[:200]]
        first += [{"audience": "quiet", "email": email} for email in people[200:250]]
        first += [{"audience": "strangers", "email": f"nobody{index}@example.org"} for index in range(120)]
        assert run_target(config, _singer(first), tmp_path).returncode == 0
        second = [{"audience": "fans", "email": f"new{index}@example.org"} for index in range(300)]
        assert run_target(config, _singer(second), tmp_path).returncode == 0
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def report(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPORT), *argv], capture_output=True, text=True, timeout=60, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prints_each_lists_history_and_writes_nothing(tmp_path: Path) -> None:
    config = history_store(tmp_path)
    store = tmp_path / "store.db"
    before = {path.name: digest(path) for path in tmp_path.glob("store.db*") if path.is_file()}

    result = report("--config", str(config))

    assert result.returncode == 0, result.stderr
    for name in LISTS:
        assert name in result.stdout
    fans = result.stdout.split("fans (EMAIL)")[1].split("quiet (EMAIL)")[0]
    # Two runs: 200 held and all matched, then 500 held and 200 matched (40 %).
    assert re.search(r"\b200\s+200\s+100\.0%", fans)
    assert re.search(r"\b500\s+200\s+40\.0%", fans)
    assert "fell from 100.0% to 40.0%" in result.stdout  # the last run's warnings
    after = {path.name: digest(path) for path in tmp_path.glob("store.db*") if path.is_file()}
    assert after == before
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM list_history").fetchone() == (6,)


def test_html_is_one_self_contained_page_with_a_chart_per_list(tmp_path: Path) -> None:
    config = history_store(tmp_path)
    page = tmp_path / "out" / "matching.html"
    result = report("--config", str(config), "--html", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert text.count('<svg class="chart"') == len(LISTS)
    # Nothing to fetch: no script, stylesheet, image or font from anywhere.
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", text)
    assert "fell from 100.0% to 40.0%" in text
    assert "<h2>The last run's report</h2>" in text


def test_a_schema_6_store_is_read_as_it_is(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    shutil.copy(DATA / "store-schema6.db", store)
    before = digest(store)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"ad_account_id": AD_ACCOUNT, "store_url": f"sqlite:///{store}"}))
    result = report("--config", str(config), "--html", str(tmp_path / "page.html"))
    assert result.returncode == 0, result.stderr
    assert "the store is at schema 6; a real run upgrades it" in result.stdout
    assert digest(store) == before


def test_an_older_store_or_none_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    shutil.copy(DATA / "store-schema6.db", store)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE store_meta SET value = '5'")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"store_url": f"sqlite:///{store}"}))
    result = report("--config", str(config))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "a real run (dry_run false) upgrades it" in result.stderr
    config.write_text(json.dumps({"store_url": f"sqlite:///{tmp_path / 'none.db'}"}))
    missing = report("--config", str(config))
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "a real run makes it" in missing.stderr
    assert not (tmp_path / "none.db").exists()


def test_help_describes_it_and_points_to_the_readme() -> None:
    result = report("--help")
    assert result.returncode == 0
    assert "never Pinterest" in result.stdout
    assert "README" in result.stdout
    assert "docs/matching.md" in result.stdout


def test_an_empty_postgresql_database_is_one_line_and_stays_empty(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"store_url": postgres_url}))
    result = report("--config", str(config))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "holds no store yet: a real run makes it" in result.stderr
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()
