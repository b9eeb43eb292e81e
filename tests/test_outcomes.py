"""A write Pinterest may have applied is never forgotten (CONTRACT.md, Semantics: the three outcomes).

Each test makes Pinterest (the emulator) apply a write whose answer never reaches the target,
then lets something else end the run (429s until the retry budget is spent, a refused token
renewal, a kill), and checks that a later leave is still sent: the list ends exact.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import requests

from conftest import ACCESS_TOKEN, AD_ACCOUNT, EXECUTABLE, emulator_settings, held, run_target, sha, singer_lines
from pinterest_emulator import Faults, PinterestEmulator
from target_pinterest_audiences.store import Store

REFRESH = "emulator-refresh-token"
CLIENT = {"client_id": "emulator-client-id", "client_secret": "emulator-client-secret"}
A, B = "a@example.com", "b@example.com"


def join(*emails: str) -> str:
    return singer_lines("rows", [{"audience": "vip", "email": email} for email in emails])


def leave(*emails: str) -> str:
    return singer_lines("rows", [{"audience": "vip", "email": email, "in_audience": False} for email in emails])


def lost_then_rate_limited(first: int) -> Faults:
    """Request ``first`` is applied and its answer lost; every request after it meets 429."""
    return Faults(
        drop_after_effect_nth={first},
        fail_nth=dict.fromkeys(range(first + 1, first + 200), 429),
        retry_after_seconds=1,
    )


def test_an_applied_write_whose_retries_meet_429_until_the_budget_is_spent_is_kept(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    target_config |= {"max_retry_seconds": 3}
    assert run_target(target_config, join(A), tmp_path).returncode == 0
    # Run 2: request 1 reads the known list back; 2 is the ADD of b, applied, its answer lost.
    emulator.faults = lost_then_rate_limited(2)
    failed = run_target(target_config, join(B), tmp_path)
    assert failed.returncode == 1
    assert "HTTP 429" in failed.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A), sha(B)})}
    # b leaves before any rerun of b's join: the store must still know Pinterest may hold b.
    emulator.faults = Faults()
    result = run_target(target_config, leave(B), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A)})}


def test_an_adopted_write_is_kept_when_the_next_run_cannot_renew_its_token(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    target_config |= {"max_retry_seconds": 3}
    assert run_target(target_config, join(A), tmp_path).returncode == 0
    emulator.faults = lost_then_rate_limited(2)
    assert run_target(target_config, join(B), tmp_path).returncode == 1
    emulator.faults = Faults()
    # Run 3 has only a refresh token, and Pinterest refuses it: the run fails with one line
    # before reading anything, and keeps the write it adopted.
    emulator.revoke_refresh_token(REFRESH)
    refreshing = {**emulator_settings(emulator, tmp_path), "refresh_token": REFRESH, **CLIENT}
    refused = run_target(refreshing, leave(B), tmp_path)
    assert refused.returncode == 1
    assert "Re-authorise" in refused.last_line
    assert refused.report is not None
    assert refused.report["status"] == "failed"
    # Run 4, with a token that works: the kept write is settled and b's leave is sent.
    result = run_target(target_config, leave(B), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A)})}


def test_a_kill_while_an_applied_answer_is_held_then_a_leave_ends_exact(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """The intent must be stored before the write is sent: the kill comes before any answer."""
    assert run_target(target_config, join(A), tmp_path).returncode == 0
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(target_config))
    input_path = tmp_path / "join.singer"
    input_path.write_text(join(B))
    emulator.faults = Faults(hold_after_effect_nth={2: 60.0})
    command = [str(EXECUTABLE), "--config", str(config_path), "--input", str(input_path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert emulator.wait_applied(2, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A), sha(B)})}
    emulator.faults = Faults()
    result = run_target(target_config, leave(B), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A)})}


def test_a_create_whose_answer_was_lost_is_settled_by_sending_its_records(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """A list of the right name says nothing about which records it took: they are sent as an ADD."""
    target_config |= {"max_retry_seconds": 3, "records_per_request": 1, "parallel_requests": 1}
    # Requests: 1 the ad account check, 2 the account's lists, 3 the create with a (applied,
    # answer lost), then 429s.
    emulator.faults = lost_then_rate_limited(3)
    assert run_target(target_config, join(A), tmp_path).returncode == 1
    emulator.faults = Faults()
    # Someone empties the list in Ads Manager meanwhile: finding the list is not enough.
    (found,) = emulator.customer_lists()
    emptied = requests.patch(
        f"{emulator.url}/ad_accounts/{AD_ACCOUNT}/customer_lists/{found.id}",
        json={"operation_type": "REMOVE", "records": sha(A)},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=10,
    )
    assert emptied.status_code == 200
    started = len(emulator.requests)
    result = run_target(target_config, join(B), tmp_path)
    assert result.returncode == 0, result.last_line
    adds = [
        request
        for request in emulator.requests[started:]
        if request.method == "PATCH" and request.body and request.body.get("records") == sha(A)  # type: ignore[union-attr]
    ]
    assert len(adds) == 1
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A), sha(B)})}


def test_the_rebuild_of_a_deleted_list_goes_through_the_journal_and_honours_a_stop(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """A list deleted in Ads Manager is made again write by write, each an intent; SIGTERM stops it between writes."""
    names = [f"user{i}@example.com" for i in range(40)]
    target_config |= {"records_per_request": 1, "parallel_requests": 1}
    assert run_target(target_config, join(*names), tmp_path).returncode == 0
    (gone,) = emulator.customer_lists()
    emulator.delete_list(gone.id)
    emulator.faults = Faults(latency_seconds=0.05)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(target_config))
    input_path = tmp_path / "again.singer"
    input_path.write_text(join(names[0]))
    command = [str(EXECUTABLE), "--config", str(config_path), "--input", str(input_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Requests: the list read back (404), the account's lists, then the rebuild's create and ADDs.
        assert emulator.wait_applied(8, timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    (made,) = emulator.customer_lists()
    assert 0 < len(made.members) < 20, "the rebuild went on after the stop"
    emulator.faults = Faults()
    # The next run finishes the rebuild, and a leave of a member the rebuild put back is sent.
    result = run_target(target_config, leave(names[-1]), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset(sha(name) for name in names[:-1])}
    assert result.report is not None


def test_a_removal_from_a_list_found_in_the_account_is_not_sent_again(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """A list the store did not make: its members are unknown, yet a second run of the same input sends nothing."""
    made = requests.post(
        f"{emulator.url}/ad_accounts/{AD_ACCOUNT}/customer_lists",
        json={"name": "vip (EMAIL)", "records": f"{sha(A)},{sha(B)}", "list_type": "EMAIL"},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=10,
    )
    assert made.status_code == 200
    first = run_target(target_config, leave(A), tmp_path)
    assert first.returncode == 0, first.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(B)})}
    # The removal is remembered, not held: the store knows no member of the list.
    assert first.report is not None
    assert {item["name"]: item["members_held"] for item in first.report["matching"]} == {"vip (EMAIL)": 0}

    def patches() -> list[str]:
        return [str(request.body) for request in emulator.requests if request.method == "PATCH"]

    sent = len(patches())
    again = run_target(target_config, leave(A), tmp_path)
    assert again.returncode == 0, again.last_line
    assert patches()[sent:] == []
    # A joins and leaves again: both are sent, and the list ends exact.
    assert run_target(target_config, join(A), tmp_path).returncode == 0
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A), sha(B)})}
    assert run_target(target_config, leave(A), tmp_path).returncode == 0
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(B)})}
    assert run_target(target_config, leave(A, B), tmp_path).returncode == 0
    assert held(emulator) == {"vip (EMAIL)": frozenset()}


def test_a_refused_write_leaves_no_intent_behind(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """Certainly not applied (a 400, nothing unanswered): the intent is dropped, not re-sent by later runs."""
    assert run_target(target_config, join(A), tmp_path).returncode == 0
    emulator.faults = Faults(fail_nth={2: 400})  # 1 reads the known list back, 2 is the ADD of b
    refused = run_target(target_config, join(B), tmp_path)
    assert refused.returncode == 1
    assert "HTTP 400" in refused.last_line
    store = Store.open(target_config["store_url"], read_only=True)
    try:
        assert store.open_intents() == []
    finally:
        store.close()
    emulator.faults = Faults()
    started = len(emulator.requests)
    result = run_target(target_config, join(A), tmp_path)  # nothing to settle, nothing new
    assert result.returncode == 0, result.last_line
    assert [request.method for request in emulator.requests[started:] if request.method != "GET"] == []
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(A)})}
