"""Many audiences: a run's reads grow with pages of 250, not with lists (issue 24, item 7).

A list the store knows is not read back before it is written, and the end of the run reads
every list's status and audience size from the account's paginated listings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_TOKEN, AD_ACCOUNT, emulator_settings, held, run_target, sha
from pinterest_emulator import PinterestEmulator

MEMBERS = 10


def many(lists: int) -> str:
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "rows", "schema": {"type": "object"}, "key_properties": []}
    ]
    for index in range(lists):
        for member in range(MEMBERS):
            record = {"audience": f"aud{index:04d}", "email": f"m{member}@a{index}.example"}
            lines.append({"type": "RECORD", "stream": "rows", "record": record})
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize(("lists", "most"), [(300, 10), (1000, 20)])
def test_a_second_run_with_the_same_input_reads_pages_not_lists(
    emulator: PinterestEmulator, tmp_path: Path, lists: int, most: int
) -> None:
    config = {**emulator_settings(emulator, tmp_path), "access_token": ACCESS_TOKEN}
    text = many(lists)
    first = run_target(config, text, tmp_path)
    assert first.returncode == 0, first.last_line
    assert len(held(emulator)) == lists
    emulator.requests.clear()

    second = run_target(config, text, tmp_path)

    assert second.returncode == 0, second.last_line
    sent = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.requests]
    pages = -(-lists // 250)
    # Nothing to write: the start-of-run check of the ad account, then the account's list pages
    # and audience pages, once each.
    assert sorted(sent) == sorted(
        [("GET", AD_ACCOUNT)] + [("GET", "customer_lists")] * pages + [("GET", "audiences")] * pages
    )
    assert len(sent) <= most
    assert second.report is not None
    assert second.report["requests"] == len(sent)
    assert second.report["feedback_requests"] == 2 * pages
    assert len(second.report["matching"]) == lists  # every list, though none was written


def test_a_list_deleted_in_ads_manager_is_made_again_though_nothing_is_written_to_it(
    emulator: PinterestEmulator, tmp_path: Path
) -> None:
    config = {**emulator_settings(emulator, tmp_path), "access_token": ACCESS_TOKEN}
    text = many(3)
    assert run_target(config, text, tmp_path).returncode == 0
    gone = emulator.list_by_name("aud0001 (EMAIL)")
    emulator.delete_list(gone.id)

    result = run_target(config, text, tmp_path)

    assert result.returncode == 0, result.last_line
    again = emulator.list_by_name("aud0001 (EMAIL)")
    assert again.id != gone.id
    assert again.members == frozenset(sha(f"m{member}@a1.example") for member in range(MEMBERS))
    assert emulator.audience_by_name("aud0001 (EMAIL)")["rule"]["customer_list_id"] == again.id
    assert result.report is not None
    assert {item["name"]: item["id"] for item in result.report["matching"]}["aud0001 (EMAIL)"] == again.id


def test_a_deleted_list_the_input_does_not_speak_of_stays_deleted_until_it_does(
    emulator: PinterestEmulator, tmp_path: Path
) -> None:
    config = {**emulator_settings(emulator, tmp_path), "access_token": ACCESS_TOKEN}
    assert run_target(config, many(3), tmp_path).returncode == 0
    gone = emulator.list_by_name("aud0002 (EMAIL)")
    emulator.delete_list(gone.id)
    emulator.requests.clear()

    other = run_target(config, many(2), tmp_path)  # aud0000 and aud0001 only

    assert other.returncode == 0, other.last_line
    assert "aud0002 (EMAIL)" not in held(emulator)
    # The ad account check and the two listings, no GET of the list.
    assert [r.method for r in emulator.requests] == ["GET", "GET", "GET"]
    again = run_target(config, many(3), tmp_path)
    assert again.returncode == 0, again.last_line
    assert held(emulator)["aud0002 (EMAIL)"] == frozenset(sha(f"m{member}@a2.example") for member in range(MEMBERS))
