"""The real executable, fed Singer files of all three shapes, against the emulator on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from conftest import (
    DATA,
    EXECUTABLE,
    assert_one_audience_per_list,
    held,
    run_target,
    sha,
    singer_lines,
)
from pinterest_emulator import Faults, PinterestEmulator

SEGMENT = DATA / "segment_audiences.singer"
FLAT = DATA / "flat_rows.singer"
STREAM = DATA / "stream_audience.singer"

DAVE_PREHASHED = hashlib.sha256(b"dave@example.com").hexdigest()

EXPECTED: dict[Path, dict[str, frozenset[str]]] = {
    SEGMENT: {
        "vip_customers (EMAIL)": frozenset({sha("alice@example.com"), sha("bob@example.com"), DAVE_PREHASHED}),
        "vip_customers (IDFA)": frozenset({sha("6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA")}),
        "cart_abandoners (EMAIL)": frozenset({sha("frank@example.com")}),
        "cart_abandoners (MAID)": frozenset({sha("ab0c1d2e-3f40-5162-7384-95a6b7c8d9e0")}),
    },
    FLAT: {
        "newsletter_subscribers (EMAIL)": frozenset({sha("hank@example.com"), sha("ivy@example.com")}),
        "newsletter_subscribers (IDFA)": frozenset({sha("1E2DFA89-496A-47FD-9941-DF1FC4E6484A", "IDFA")}),
        "lapsed_buyers (EMAIL)": frozenset({sha("kate@example.com")}),
        "lapsed_buyers (MAID)": frozenset({sha("cdda802e-fb9c-47ad-9866-0794d394c912")}),
    },
    STREAM: {
        "loyal_customers (EMAIL)": frozenset(
            {sha("liam@example.com"), sha("mia@example.com"), sha("noah@example.com")}
        ),
        "loyal_customers (MAID)": frozenset({sha("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")}),
    },
}


def writes(emulator: PinterestEmulator, since: int = 0) -> list[str]:
    """The write requests (POST/PATCH) the emulator received, after the first ``since``."""
    return [f"{r.method} {r.path}" for r in emulator.requests[since:] if r.method in ("POST", "PATCH")]


def test_all_three_shapes_end_with_exact_members(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path, sending: dict[str, Any]
) -> None:
    expected: dict[str, frozenset[str]] = {}
    for singer_file in (SEGMENT, FLAT, STREAM):
        result = run_target(target_config | sending, singer_file, tmp_path)
        assert result.returncode == 0, result.stderr
        expected |= EXPECTED[singer_file]
        assert held(emulator) == expected
    types = {item.name: item.list_type for item in emulator.customer_lists()}
    assert types == {name: name.split("(")[1].rstrip(")") for name in expected}
    assert_one_audience_per_list(emulator)
    assert emulator.duplicate_name_creates == 0


def test_state_is_relayed_after_everything_was_accepted(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    result = run_target(target_config, SEGMENT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.states == [{"bookmarks": {"segment_audiences": {"position": 12}}}]
    assert result.report is not None
    assert result.report["status"] == "succeeded"
    assert result.report["records_read"] == 12
    assert result.report["ignored_records"] == {"not an audience event": 2}
    assert sum(result.report["invalid_records"].values()) == 1
    rows = {row["name"]: row for row in result.report["lists"]}
    assert rows["vip_customers (EMAIL)"]["added"] == 3
    assert rows["vip_customers (EMAIL)"]["invalid"] == 1  # 'not-an-email' was meant for this list
    assert rows["vip_customers (EMAIL)"]["status"] == "TOO_SMALL"
    assert {row["id"] for row in rows.values()} == {item.id for item in emulator.customer_lists()}


def test_second_run_creates_no_duplicates_and_sends_nothing(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    assert run_target(target_config, SEGMENT, tmp_path).returncode == 0
    before = len(emulator.requests)
    again = run_target(target_config, SEGMENT, tmp_path)
    assert again.returncode == 0, again.stderr
    assert writes(emulator, before) == []
    assert held(emulator) == EXPECTED[SEGMENT]
    assert len(emulator.audiences()) == len(EXPECTED[SEGMENT])


def test_lost_store_finds_lists_by_name_instead_of_creating_them(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    assert run_target(target_config, SEGMENT, tmp_path).returncode == 0
    (tmp_path / "store.db").unlink()
    before = len(emulator.requests)
    again = run_target(target_config, SEGMENT, tmp_path)
    assert again.returncode == 0, again.stderr
    assert not [w for w in writes(emulator, before) if w.startswith("POST")]
    assert held(emulator) == EXPECTED[SEGMENT]
    assert emulator.duplicate_name_creates == 0


def test_members_join_and_leave_across_runs(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    assert run_target(target_config, SEGMENT, tmp_path).returncode == 0
    later = singer_lines(
        "segment_audiences",
        [
            {
                "type": "identify",
                "traits": {"email": "ALICE@example.com", "vip_customers": False},
                "context": {"personas": {"computation_class": "audience", "computation_key": "vip_customers"}},
            },
            {
                "type": "identify",
                "traits": {"email": "carol@example.com", "vip_customers": "true"},
                "context": {"personas": {"computation_class": "audience", "computation_key": "vip_customers"}},
            },
            {
                "type": "track",
                "event": "Audience Exited",
                "properties": {"audience_key": "cart_abandoners"},
                "context": {"device": {"type": "android", "advertisingId": "AB0C1D2E-3F40-5162-7384-95A6B7C8D9E0"}},
            },
        ],
    )
    before = len(emulator.requests)
    result = run_target(target_config, later, tmp_path)
    assert result.returncode == 0, result.stderr
    lists = held(emulator)
    assert lists["vip_customers (EMAIL)"] == {sha("bob@example.com"), sha("carol@example.com"), DAVE_PREHASHED}
    assert lists["cart_abandoners (MAID)"] == frozenset()
    assert sorted(writes(emulator, before)) == sorted(
        [
            f"PATCH /ad_accounts/549755885175/customer_lists/{emulator.list_by_name(n).id}"
            for n in ("vip_customers (EMAIL)", "vip_customers (EMAIL)", "cart_abandoners (MAID)")
        ]
    )


def test_records_per_request_bounds_every_write(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    emails = [f"user{i}@example.com" for i in range(23)]
    target_config["records_per_request"] = 5
    result = run_target(target_config, singer_lines("big_audience", [{"email": e} for e in emails]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert held(emulator) == {"big_audience (EMAIL)": frozenset(sha(e) for e in emails)}
    sizes = [
        len(str(r.body["records"]).split(","))
        for r in emulator.requests
        if r.method in ("POST", "PATCH") and "customer_lists" in r.path
    ]  # type: ignore[index]
    assert sizes == [5, 5, 5, 5, 3]


def test_a_refused_request_mid_run_emits_no_state_and_a_rerun_converges(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    # Request 1 checks the ad account, 2 lists the account's lists; 3-6 create the two
    # cart_abandoners lists and their audiences (lists are written in name order); 7 creates
    # 'vip_customers (EMAIL)'.
    emulator.faults = Faults(fail_nth={7: 400})
    target_config["parallel_requests"] = 1  # one list at a time, so request 6 is that create
    failed = run_target(target_config, SEGMENT, tmp_path)
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "creating customer list 'vip_customers (EMAIL)'" in failed.last_line
    assert "HTTP 400" in failed.last_line
    assert "Traceback" not in failed.stderr
    assert failed.report is not None
    assert failed.report["status"] == "failed"
    assert set(held(emulator)) == {"cart_abandoners (EMAIL)", "cart_abandoners (MAID)"}

    emulator.faults = Faults()
    rerun = run_target(target_config, SEGMENT, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.states == [{"bookmarks": {"segment_audiences": {"position": 12}}}]
    assert held(emulator) == EXPECTED[SEGMENT]
    assert_one_audience_per_list(emulator)


def test_refresh_flow_gets_a_token_and_renews_it_on_401(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    del target_config["access_token"]
    target_config |= {
        "refresh_token": "emulator-refresh-token",
        "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret",
    }
    emulator.faults = Faults(access_token_max_uses=3)
    result = run_target(target_config, STREAM, tmp_path)
    assert result.returncode == 0, result.stderr
    assert held(emulator) == EXPECTED[STREAM]
    token_calls = [r for r in emulator.requests if r.path == "/oauth/token"]
    assert len(token_calls) >= 2
    # The emulator keeps form fields as plain strings: each call is exactly a refresh grant.
    assert [r.body for r in token_calls] == [
        {"grant_type": "refresh_token", "refresh_token": "emulator-refresh-token"}
    ] * len(token_calls)
    for secret in ("emulator-refresh-token", "emulator-client-secret"):
        assert secret not in result.stderr


def test_on_invalid_record_fail_stops_with_one_line(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    target_config["on_invalid_record"] = "fail"
    result = run_target(target_config, SEGMENT, tmp_path)
    assert result.returncode == 1
    expected = "target-pinterest-audiences: error: Line 14: Invalid record (stream 'segment_audiences', record 12)"
    assert result.last_line.startswith(expected)
    assert "not-an-email" not in result.stderr
    # The eleven good records before it were delivered, and the state they reached emitted.
    assert result.states == [{"bookmarks": {"segment_audiences": {"position": 6}}}]
    assert held(emulator) == EXPECTED[SEGMENT]


def test_skipped_invalid_records_are_logged_by_position_never_by_value(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    result = run_target(target_config, FLAT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "stream 'crm_audience_members', record 6" in result.stderr
    assert held(emulator) == EXPECTED[FLAT]


def test_settings_errors_stop_before_input_with_one_line(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"access_token": None}, "access_token, or all of refresh_token, client_id and client_secret"),
        ({"ad_account_id": "act_123"}, "ad_account_id must be a string of digits"),
        ({"list_name_template": "pinterest {list_type}"}, "list_name_template must contain {audience}"),
    ]
    for change, message in cases:
        config = {k: v for k, v in (target_config | change).items() if v is not None}
        result = run_target(config, SEGMENT, tmp_path)
        assert result.returncode == 2, change
        assert message in result.last_line
        assert result.last_line.startswith("target-pinterest-audiences: error: Invalid settings:")
        assert len([line for line in result.stderr.splitlines() if "error" in line.lower()]) == 1
    assert emulator.requests == []


def test_dry_run_sends_nothing_and_reports_what_it_would_do(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    target_config |= {"dry_run": True, "records_per_request": 2}  # lists of 3 take two writes
    result = run_target(target_config, SEGMENT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert emulator.requests == []
    assert not (tmp_path / "store.db").exists()
    assert result.report is not None
    rows = {row["name"]: (row["created"], row["added"]) for row in result.report["lists"]}
    assert rows == {name: (True, len(members)) for name, members in EXPECTED[SEGMENT].items()}
    # The input carries a STATE: a dry run must not move the tap's bookmark past it.
    assert "STATE" in SEGMENT.read_text()
    assert result.stdout == ""
    # It says how many writes it would send: as many as the real run then sends.
    would = result.report["totals"]["would_send"]
    assert would > 0
    assert "DRY RUN, nothing sent. Run succeeded in" in result.stderr
    assert f"would send {would} write requests" in result.stderr
    target_config["dry_run"] = False
    real = run_target(target_config, SEGMENT, tmp_path)
    assert real.returncode == 0, real.stderr
    writes = [r for r in emulator.requests if r.method in ("POST", "PATCH") and r.path != "/oauth/token"]
    assert len(writes) == would


def test_a_leave_for_a_list_not_made_yet_is_counted(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    rows = [
        {"audience": "vip", "email": "a@example.com", "in_audience": False},
        {"audience": "vip", "email": "b@example.com", "in_audience": False},
    ]
    result = run_target(target_config, singer_lines("rows", rows), tmp_path)
    assert result.returncode == 0, result.last_line
    assert result.report is not None
    (row,) = result.report["lists"]
    assert (row["name"], row["removals_no_list"], row["removed"], row["unchanged"]) == ("vip (EMAIL)", 2, 0, 0)
    assert result.report["totals"]["removals_no_list"] == 2
    assert "(+2 for no list yet)" in result.stderr
    assert held(emulator) == {}


def test_a_free_form_schema_is_taken(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """{"type": "object"} is valid JSON Schema for an object: what several taps send (CONTRACT.md)."""
    lines = [
        {"type": "SCHEMA", "stream": "vip", "schema": {"type": "object"}, "key_properties": []},
        {"type": "RECORD", "stream": "vip", "record": {"email": "a@example.com", "anything": {"nested": [1]}}},
    ]
    result = run_target(target_config, "".join(json.dumps(line) + "\n" for line in lines), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha("a@example.com")})}


def test_progress_lines_at_a_steady_interval(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    emulator.faults = Faults(latency_seconds=0.15)
    target_config |= {"progress_interval_seconds": 0.2, "records_per_request": 2}
    result = run_target(
        target_config, singer_lines("vip", [{"email": f"u{i}@example.com"} for i in range(12)]), tmp_path
    )
    assert result.returncode == 0, result.last_line
    progress = [line for line in result.stderr.splitlines() if "Progress: " in line]
    assert len(progress) >= 3
    assert re.search(r"Progress: 12 records read \(\d+/s\), \d+ requests, 0 retries, \d+s", progress[-1])


def test_a_list_deleted_in_ads_manager_is_made_again(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    assert run_target(target_config, singer_lines("vip", [{"email": "a@example.com"}]), tmp_path).returncode == 0
    emulator.reset()  # every list and audience gone, as if deleted in Ads Manager
    result = run_target(target_config, singer_lines("vip", [{"email": "b@example.com"}]), tmp_path)
    assert result.returncode == 0, result.last_line
    assert "is gone at Pinterest; made it again" in result.stderr
    # Every member the store knew comes back, with the run's change (CONTRACT.md, Semantics).
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha("a@example.com"), sha("b@example.com")})}
    assert_one_audience_per_list(emulator)
    assert result.report is not None
    assert [row["added"] for row in result.report["lists"]] == [1]


def test_config_env_reads_target_pinterest_audiences_variables(emulator: PinterestEmulator, tmp_path: Path) -> None:
    env = os.environ | {
        "TARGET_PINTEREST_AUDIENCES_AD_ACCOUNT_ID": "549755885175",
        "TARGET_PINTEREST_AUDIENCES_ACCESS_TOKEN": "emulator-access-token",
        "TARGET_PINTEREST_AUDIENCES_API_URL": emulator.url,
        "TARGET_PINTEREST_AUDIENCES_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "TARGET_PINTEREST_AUDIENCES_AUDIENCES": '["vip_customers"]',
        "TARGET_PINTEREST_AUDIENCES_CREATE_AUDIENCE": "false",
    }
    completed = subprocess.run(
        [str(EXECUTABLE), "--config", "ENV", "--input", str(SEGMENT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert held(emulator) == {name: members for name, members in EXPECTED[SEGMENT].items() if "vip" in name}
    assert emulator.audiences() == []


def test_about_json_lists_every_setting() -> None:
    completed = subprocess.run(
        [str(EXECUTABLE), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    about = json.loads(completed.stdout)
    settings = about["settings"]["properties"]
    assert {"ad_account_id", "access_token", "refresh_token", "client_secret", "sync_mode", "store_url"} <= set(
        settings
    )
    assert settings["client_secret"]["secret"] is True
    assert about["name"] == "target-pinterest-audiences"


def test_partial_requests_wait_for_the_next_batch(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    emails = [f"user{i}@example.com" for i in range(23)]
    leavers = [{"audience": "big_audience", "email": email, "in_audience": False} for email in emails[:2]]
    records = [{"audience": "big_audience", "email": email} for email in emails] + leavers
    target_config |= {"records_per_request": 5, "batch_size_rows": 4}
    result = run_target(target_config, singer_lines("rows", records, state={"done": True}), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"big_audience (EMAIL)": frozenset(sha(e) for e in emails[2:])}
    sent = [
        (r.body.get("operation_type", "CREATE"), len(str(r.body["records"]).split(",")))  # type: ignore[union-attr,index]
        for r in emulator.requests
        if r.method in ("POST", "PATCH") and "customer_lists" in r.path
    ]
    # Seven batches of four records, yet full requests: 23 adds in five, two removes in one.
    assert sent == [("CREATE", 5), ("ADD", 5), ("ADD", 5), ("ADD", 5), ("ADD", 3), ("REMOVE", 2)]
    assert result.states == [{"done": True}]


def test_a_passing_404_when_a_list_is_read_back_forgets_nothing(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """The run's first request after the ad account check, a write to the known list, gets a
    one-off 404 for it: the list reads back and is still in the account's pages, so it is not made
    again and the store keeps its members."""
    names = [f"user{i}@example.com" for i in range(4)]
    joined = [{"audience": "vip", "email": name} for name in names]
    assert run_target(target_config, singer_lines("rows", joined), tmp_path).returncode == 0
    (before,) = emulator.customer_lists()
    emulator.faults = Faults(not_found_nth={2})
    left = [{"audience": "vip", "email": name, "in_audience": False} for name in names[:3]]
    result = run_target(target_config, singer_lines("rows", left), tmp_path)
    assert result.returncode == 0, result.last_line
    assert emulator.fault_counts.get("not_found") == 1
    (after,) = emulator.customer_lists()
    assert after.id == before.id
    assert held(emulator) == {"vip (EMAIL)": frozenset({sha(names[3])})}


def test_an_ad_account_the_token_does_not_reach_stops_before_any_input(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    target_config["ad_account_id"] = "123456789"
    result = run_target(target_config, "this line is not JSON\n", tmp_path)  # never read
    assert result.returncode == 2
    assert result.last_line == (
        "target-pinterest-audiences: error: Invalid settings: the token does not reach ad_account_id 123456789"
        " (Pinterest: HTTP 404: AdAccount not found.); it reaches 549755885175 (Emulated ad account 549755885175)."
        " Set ad_account_id to one of those, or authorise a user who can reach the account."
    )
    assert [(r.method, r.path) for r in emulator.requests] == [
        ("GET", "/ad_accounts/123456789"),
        ("GET", "/ad_accounts"),
    ]


def test_a_run_checks_its_ad_account_with_one_request_first(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    result = run_target(target_config, STREAM, tmp_path)
    assert result.returncode == 0, result.stderr
    paths = [(r.method, r.path) for r in emulator.requests]
    assert paths[0] == ("GET", f"/ad_accounts/{target_config['ad_account_id']}")
    assert paths.count(paths[0]) == 1
