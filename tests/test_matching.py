"""Matching feedback end to end: the emulator models who is on Pinterest (--population), the
target reads each list's audience size at the end of each run, keeps it in the store and reports
share matched, change and warnings (CONTRACT.md, Output: "Matching")."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_TOKEN, AD_ACCOUNT, emulator_settings, openapi_path, run_target
from pinterest_emulator import PinterestEmulator
from pinterest_emulator.population import Population

#: Devices report IDFAs as uppercase UUIDs; some SDKs lowercase them. Each has a letter, so its
#: lowercase and uppercase forms differ.
IDFAS = [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"device{index}.example")).upper() for index in range(1000)]
assert all(idfa != idfa.lower() for idfa in IDFAS)
EMAILS = [f"person{index}@example.com" for index in range(300)]


def population_file(tmp_path: Path) -> Path:
    path = tmp_path / "population.csv"
    lines = ["# people on Pinterest", *(f"idfa,{idfa}" for idfa in IDFAS), *(f"email,{email}" for email in EMAILS)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def matching_emulator(tmp_path: Path) -> Iterator[PinterestEmulator]:
    with PinterestEmulator(
        ad_account_ids=(AD_ACCOUNT,), openapi_path=openapi_path(), population=population_file(tmp_path)
    ) as emu:
        yield emu


def rows(audience: str, key: str, values: list[str], *, member: bool = True) -> list[dict[str, Any]]:
    return [{"audience": audience, key: value, "in_audience": member} for value in values]


def singer(records: list[dict[str, Any]]) -> str:
    lines = [{"type": "SCHEMA", "stream": "rows", "schema": {"type": "object"}, "key_properties": []}]
    lines += [{"type": "RECORD", "stream": "rows", "record": record} for record in records]
    return "".join(json.dumps(line) + "\n" for line in lines)


def matching_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in report["matching"]}


def config_for(emulator: PinterestEmulator, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {**emulator_settings(emulator, tmp_path), "access_token": ACCESS_TOKEN, **extra}


def test_population_hashes_as_pinterest_would() -> None:
    people = Population.parse(["idfa, 6d92078a-8246-4ba4-ae5b-76104861e7dc", "aaid,ABC", "email,A@B.C"])
    upper = b"6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert hashlib.sha256(upper).hexdigest() in people.hashes["IDFA"]
    assert hashlib.md5(upper).hexdigest() in people.hashes["IDFA"]  # noqa: S324
    assert hashlib.sha256(upper.lower()).hexdigest() not in people.hashes["IDFA"]
    assert hashlib.sha1(b"abc").hexdigest() in people.hashes["MAID"]  # noqa: S324
    assert hashlib.sha256(b"a@b.c").hexdigest() in people.hashes["EMAIL"]
    with pytest.raises(ValueError, match="population line 1"):
        Population.parse(["phone,123"])


@pytest.mark.assumption
def test_an_idfa_list_written_the_old_way_matches_nobody_and_the_new_way_matches(
    matching_emulator: PinterestEmulator, tmp_path: Path
) -> None:
    # The old way: the lowercase id's SHA-256, which the input sends here as a pre-hashed value.
    old = [hashlib.sha256(idfa.lower().encode()).hexdigest() for idfa in IDFAS]
    records = rows("old_ios", "idfa", old) + rows("new_ios", "idfa", [idfa.lower() for idfa in IDFAS])
    result = run_target(config_for(matching_emulator, tmp_path), singer(records), tmp_path)
    assert result.returncode == 0, result.last_line
    assert matching_emulator.audience_by_name("old_ios (IDFA)")["size"] == 0
    assert matching_emulator.audience_by_name("new_ios (IDFA)")["size"] == len(IDFAS)
    assert result.report is not None
    found = matching_of(result.report)
    assert (found["old_ios (IDFA)"]["members_held"], found["old_ios (IDFA)"]["share_matched"]) == (1000, 0.0)
    assert found["old_ios (IDFA)"]["audience_status"] == "TOO_SMALL"
    assert (found["new_ios (IDFA)"]["audience_size"], found["new_ios (IDFA)"]["share_matched"]) == (1000, 1.0)
    assert found["new_ios (IDFA)"]["warnings"] == []
    # Under 2 % of at least 1,000 members: the warning that would have caught issue 24.
    assert any("under 2%" in warning for warning in found["old_ios (IDFA)"]["warnings"])
    assert any("under 2%" in warning for warning in result.report["warnings"])
    assert "Matching: Pinterest matched 0.0% of the 1000 members of 'old_ios (IDFA)'" in result.stderr
    # Two pages read it: the lists and the audiences.
    assert result.report["feedback_requests"] == 2


def test_history_has_a_row_per_list_per_run_touched_or_not_and_the_change(
    matching_emulator: PinterestEmulator, tmp_path: Path
) -> None:
    config = config_for(matching_emulator, tmp_path)
    first = rows("fans", "email", EMAILS[:200]) + rows("quiet", "email", EMAILS[200:260])
    assert run_target(config, singer(first), tmp_path).returncode == 0
    # 300 people nobody on Pinterest is: the share of 'fans' falls from 100 % to 40 %.
    strangers = [f"stranger{index}@example.org" for index in range(300)]
    second = run_target(config, singer(rows("fans", "email", strangers)), tmp_path)
    assert second.returncode == 0, second.last_line
    assert second.report is not None
    fans = matching_of(second.report)["fans (EMAIL)"]
    assert (fans["members_held"], fans["audience_size"], fans["share_matched"]) == (500, 200, 0.4)
    assert (fans["previous_share"], fans["share_change"]) == (1.0, -0.6)
    assert any("fell from 100.0% to 40.0%" in warning for warning in fans["warnings"])
    # 'quiet' was not in the second run's input: it is still read and kept.
    quiet = matching_of(second.report)["quiet (EMAIL)"]
    assert (quiet["members_held"], quiet["audience_size"], quiet["audience_status"]) == (60, 60, "TOO_SMALL")
    with sqlite3.connect(tmp_path / "store.db") as db:
        kept = db.execute("SELECT run_id, name, members_held, audience_size FROM list_history ORDER BY id").fetchall()
    assert [(name, held, size) for _, name, held, size in kept] == [
        ("fans (EMAIL)", 200, 200),
        ("quiet (EMAIL)", 60, 60),
        ("fans (EMAIL)", 500, 200),
        ("quiet (EMAIL)", 60, 60),
    ]
    assert len({run for run, *_ in kept}) == 2


def test_removals_below_100_warn(matching_emulator: PinterestEmulator, tmp_path: Path) -> None:
    config = config_for(matching_emulator, tmp_path)
    assert run_target(config, singer(rows("fans", "email", EMAILS[:150])), tmp_path).returncode == 0
    result = run_target(config, singer(rows("fans", "email", EMAILS[:60], member=False)), tmp_path)
    assert result.report is not None
    fans = matching_of(result.report)["fans (EMAIL)"]
    assert fans["members_held"] == 90
    assert any("from 150 to 90 members, below the 100" in warning for warning in fans["warnings"])


def test_size_pending_while_pinterest_has_none_and_no_audience_shown(tmp_path: Path) -> None:
    with PinterestEmulator(
        ad_account_ids=(AD_ACCOUNT,), population=population_file(tmp_path), size_lag_seconds=3600
    ) as emulator:
        config = config_for(emulator, tmp_path)
        assert run_target(config, singer(rows("fans", "email", EMAILS[:150])), tmp_path).returncode == 0
        result = run_target(config | {"create_audience": False}, singer(rows("bare", "email", EMAILS[:5])), tmp_path)
    assert result.returncode == 0, result.last_line
    assert result.report is not None
    found = matching_of(result.report)
    fans, bare = found["fans (EMAIL)"], found["bare (EMAIL)"]
    assert (fans["audience_size"], fans["audience_status"], fans["audience"], fans["share_matched"]) == (
        None,
        "INITIALIZING",
        "pending",
        None,
    )
    assert (bare["audience"], bare["audience_id"], bare["list_status"]) == ("no audience", None, "TOO_SMALL")
    table = result.stderr
    assert "pending" in table
    assert "no audience" in table


def test_emulator_command_refuses_a_bad_population_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "people.csv"
    bad.write_text("email,a@example.com\nphone,555\n")
    command = Path(sys.executable).with_name("target-pinterest-audiences-emulator")
    result = subprocess.run(
        [str(command), "--port", "0", "--population", str(bad)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "population line 2: expected TYPE,identifier" in result.stderr.splitlines()[-1]
