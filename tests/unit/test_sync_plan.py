"""Unit tests of the sync plan, chunking, and the run report."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from target_pinterest_audiences.report import TOO_SMALL, ListReport, RunReport
from target_pinterest_audiences.store import Accepted
from target_pinterest_audiences.sync import ListSync, SyncOptions, chunked, plan

A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64

# -- plan ---------------------------------------------------------------------------------


def test_plan_adds_new_members() -> None:
    assert plan({A: True, B: True}, set(), members_known=True) == ([A, B], [], 0)


def test_plan_known_member_added_again_is_unchanged() -> None:
    assert plan({A: True, B: True}, {A}, members_known=True) == ([B], [], 1)


def test_plan_removes_known_members() -> None:
    assert plan({A: False}, {A}, members_known=True) == ([], [A], 0)


def test_plan_removal_of_unknown_member_is_unchanged_when_members_known() -> None:
    assert plan({A: False, B: False}, {B}, members_known=True) == ([], [B], 1)


def test_plan_removal_of_unknown_member_is_sent_when_members_unknown() -> None:
    assert plan({A: False, B: False}, {B}, members_known=False) == ([], [A, B], 0)


def test_plan_adds_do_not_depend_on_members_known() -> None:
    assert plan({A: True, B: True}, {A}, members_known=False) == ([B], [], 1)


def test_plan_mixed_keeps_signal_order() -> None:
    signals = {D: True, A: False, C: True, B: False}
    assert plan(signals, {A, C}, members_known=True) == ([D], [A], 2)


def test_plan_empty() -> None:
    assert plan({}, {A}, members_known=True) == ([], [], 0)


def test_plan_counts_every_signal_once() -> None:
    signals = {A: True, B: False, C: True, D: False}
    for known in (set(), {A}, {A, B}, {A, B, C, D}):
        for members_known in (True, False):
            adds, removes, unchanged = plan(signals, known, members_known=members_known)
            assert len(adds) + len(removes) + unchanged == len(signals)
            assert not set(adds) & set(removes)


# -- chunked ------------------------------------------------------------------------------


def test_chunked_exact() -> None:
    assert list(chunked(["1", "2", "3", "4"], 2)) == [["1", "2"], ["3", "4"]]


def test_chunked_remainder() -> None:
    assert list(chunked(["1", "2", "3", "4", "5"], 2)) == [["1", "2"], ["3", "4"], ["5"]]


def test_chunked_larger_than_items() -> None:
    assert list(chunked(["1", "2"], 5000)) == [["1", "2"]]


def test_chunked_empty() -> None:
    assert list(chunked([], 3)) == []


def test_chunked_one() -> None:
    assert list(chunked(["1", "2", "3"], 1)) == [["1"], ["2"], ["3"]]


def test_chunked_keeps_everything_in_order() -> None:
    items = [str(i) for i in range(10_007)]
    chunks = list(chunked(items, 5000))
    assert [len(c) for c in chunks] == [5000, 5000, 7]
    assert [x for c in chunks for x in c] == items


# -- SyncOptions --------------------------------------------------------------------------


def test_list_name_from_template() -> None:
    options = SyncOptions(ad_account_id="1", list_name_template="{audience} ({list_type})", records_per_request=10)
    assert options.list_name("vip", "EMAIL") == "vip (EMAIL)"
    assert SyncOptions("1", "seg-{audience}", 10).list_name("vip", "MAID") == "seg-vip"


# -- RunReport ----------------------------------------------------------------------------


def filled_report() -> RunReport:
    report = RunReport(dry_run=False, sync_mode="mirror")
    report.started = time.monotonic() - 2.5
    vip = report.list_report("vip (EMAIL)", "vip", "EMAIL")
    report.count(vip, added=10, removed=2, unchanged=3, requests=2, retries=1)
    vip.id = "77"
    vip.created = True
    vip.status = "READY"
    churn = report.list_report("churn (MAID)", "churn", "MAID")
    report.count(churn, added=1, removals_not_sent=4, invalid=1, requests=1)
    churn.id = "78"
    churn.status = TOO_SMALL
    report.records_read = 20
    report.count_invalid("no identifier")
    report.count_invalid("no identifier")
    report.count_invalid("bad email")
    report.count_ignored("not an audience event")
    report.requests = 5
    report.retries = 1
    report.status = "succeeded"
    return report


def test_list_report_is_made_once() -> None:
    report = RunReport()
    first = report.list_report("vip (EMAIL)", "vip", "EMAIL")
    assert report.list_report("vip (EMAIL)", "other", "MAID") is first
    assert first == ListReport(name="vip (EMAIL)", audience="vip", list_type="EMAIL")


def test_rows_from_the_sender_process_keep_the_invalid_records_counted_here() -> None:
    report = RunReport()
    report.count(report.list_report("vip (EMAIL)", "vip", "EMAIL"), invalid=2)
    sent = [
        ListReport("vip (EMAIL)", "vip", "EMAIL", id="77", created=True, added=5, requests=1),
        ListReport("vip (MAID)", "vip", "MAID", added=1),
    ]
    report.take_sent(sent)
    assert report.lists["vip (EMAIL)"] == ListReport(
        "vip (EMAIL)", "vip", "EMAIL", id="77", created=True, added=5, invalid=2, requests=1
    )
    assert report.lists["vip (MAID)"] == ListReport("vip (MAID)", "vip", "MAID", added=1)


def test_count_adds() -> None:
    report = RunReport()
    row = report.list_report("x", "x", "EMAIL")
    report.count(row, added=2)
    report.count(row, added=3, removed=1)
    assert (row.added, row.removed, row.unchanged) == (5, 1, 0)


def test_as_dict() -> None:
    data = filled_report().as_dict()
    duration = data.pop("duration_seconds")
    assert 2.5 <= duration < 3.5
    assert data == {
        "status": "succeeded",
        "error": None,
        "dry_run": False,
        "sync_mode": "mirror",
        "records_read": 20,
        "invalid_records": {"bad email": 1, "no identifier": 2},
        "ignored_records": {"not an audience event": 1},
        "requests": 5,
        "retries": 1,
        "lists": [
            {
                "name": "churn (MAID)",
                "audience": "churn",
                "list_type": "MAID",
                "id": "78",
                "created": False,
                "added": 1,
                "removed": 0,
                "unchanged": 0,
                "removals_not_sent": 4,
                "invalid": 1,
                "requests": 1,
                "retries": 0,
                "status": "TOO_SMALL",
            },
            {
                "name": "vip (EMAIL)",
                "audience": "vip",
                "list_type": "EMAIL",
                "id": "77",
                "created": True,
                "added": 10,
                "removed": 2,
                "unchanged": 3,
                "removals_not_sent": 0,
                "invalid": 0,
                "requests": 2,
                "retries": 1,
                "status": "READY",
            },
        ],
        "totals": {
            "added": 11,
            "removed": 2,
            "unchanged": 3,
            "removals_not_sent": 4,
            "invalid": 1,
            "requests": 3,
            "retries": 1,
            "lists_created": 1,
        },
    }


def test_as_dict_is_json() -> None:
    data = filled_report().as_dict()
    assert json.loads(json.dumps(data)) == data


def test_as_dict_empty() -> None:
    data = RunReport(dry_run=True).as_dict()
    assert data["lists"] == []
    assert data["totals"] == {
        "added": 0,
        "removed": 0,
        "unchanged": 0,
        "removals_not_sent": 0,
        "invalid": 0,
        "requests": 0,
        "retries": 0,
        "lists_created": 0,
    }
    assert (data["status"], data["dry_run"], data["sync_mode"]) == ("running", True, "changes")


def test_write(tmp_path: Path) -> None:
    report = filled_report()
    path = tmp_path / "deep" / "report.json"
    report.write(path)
    written = json.loads(path.read_text())
    assert written["totals"]["added"] == 11
    assert written["lists"][0]["name"] == "churn (MAID)"


def test_too_small() -> None:
    report = filled_report()
    assert [row.name for row in report.too_small()] == ["churn (MAID)"]
    report.lists["vip (EMAIL)"].status = TOO_SMALL
    assert sorted(row.name for row in report.too_small()) == ["churn (MAID)", "vip (EMAIL)"]
    assert RunReport().too_small() == []
    assert TOO_SMALL == "TOO_SMALL"


def test_table() -> None:
    lines = filled_report().table().splitlines()
    assert re.fullmatch(r"Run succeeded in (2\.[5-9]|3\.\d)s: 20 records, 5 requests, 1 retries", lines[0])
    header = lines[1].split()
    assert header == ["list", "type", "id", "added", "removed", "unchanged", "invalid", "requests", "retries", "status"]
    assert set(lines[2].replace(" ", "")) == {"-"}
    assert lines[3].split() == [
        "churn",
        "(MAID)",
        "MAID",
        "78",
        "1",
        "0",
        "(+4",
        "not",
        "sent)",
        "0",
        "1",
        "1",
        "0",
        "TOO_SMALL",
    ]
    assert lines[4].split() == ["vip", "(EMAIL)", "(new)", "EMAIL", "77", "10", "2", "3", "0", "2", "1", "READY"]
    assert lines[5] == lines[2]
    assert lines[6].split() == ["total", "11", "2", "3", "3", "5", "1"]
    assert lines[7] == "invalid records: {'bad email': 1, 'no identifier': 2}"
    assert lines[8] == "ignored records: {'not an audience event': 1}"
    assert len(lines) == 9


def test_table_columns_are_aligned() -> None:
    lines = filled_report().table().splitlines()[1:7]
    column = lines[0].index("added")
    for line in lines[2:5]:
        if line.startswith("-"):
            continue
        assert line[column - 1] == " "
        assert line[column] != " "


def test_table_dry_run_and_empty() -> None:
    report = RunReport(dry_run=True)
    report.status = "succeeded"
    lines = report.table().splitlines()
    assert lines[0].startswith("DRY RUN, nothing sent. Run succeeded in 0.0s: 0 records, 0 requests, 0 retries")
    assert lines[-1].split() == ["total", "0", "0", "0", "0", "0", "0"]
    assert not any(line.startswith(("invalid records", "ignored records")) for line in lines)


def test_table_missing_id_and_status_are_dashes() -> None:
    report = RunReport()
    report.list_report("vip (EMAIL)", "vip", "EMAIL")
    row_line = report.table().splitlines()[3]
    assert row_line.split() == ["vip", "(EMAIL)", "EMAIL", "-", "0", "0", "0", "0", "0", "0", "-"]


def test_counters_are_counters() -> None:
    report = RunReport()
    assert report.invalid == Counter()
    report.count_ignored("x")
    assert report.ignored == Counter({"x": 1})


def test_each_list_reports_its_retries() -> None:
    report = RunReport()
    report.list_report("vip (EMAIL)", "vip", "EMAIL")
    assert report.as_dict()["lists"][0]["retries"] == 0


# -- ListSync's unrecorded requests -------------------------------------------------------


class HeldStore:
    """A store whose recording waits until the test lets it go."""

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.recording = threading.Event()
        self.release = threading.Event()

    def journal(self, accepted: Accepted) -> Accepted:
        return accepted

    def members_among(self, list_id: str, candidates: Iterable[str]) -> set[str]:
        del list_id
        return self.members & set(candidates)

    def record_all(self, accepted: list[Accepted]) -> None:
        self.recording.set()
        assert self.release.wait(5)
        for item in accepted:
            if item.operation_type == "ADD":
                self.members.update(item.members)
            else:
                self.members.difference_update(item.members)


def test_a_member_being_recorded_is_still_known_to_a_lookup_meanwhile() -> None:
    """The idle sender records while a flush may look members up: neither may miss a member."""
    store = HeldStore()
    sync = ListSync(SyncOptions("1", "{audience}", 10), store, None, RunReport())  # type: ignore[arg-type]
    sync._accept("list", "ADD", [A], None)
    recorder = threading.Thread(target=sync._record_accepted)
    recorder.start()
    assert store.recording.wait(5)
    assert sync._known("list", {A: False, B: False}) == {A}  # in the overlay until the store holds it
    store.release.set()
    recorder.join()
    assert store.members == {A}
    assert sync._known("list", {A: False, B: False}) == {A}
    assert sync._accepted == []
