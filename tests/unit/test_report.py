"""Unit tests of the run report: its JSON, its table, and totals that add up."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from target_pinterest_audiences.report import TOO_SMALL, ListReport, RunReport


def filled_report() -> RunReport:
    report = RunReport(dry_run=False, sync_mode="mirror")
    report.started = time.monotonic() - 2.5
    vip = report.list_report("vip (EMAIL)", "vip", "EMAIL")
    report.count(vip, added=10, removed=2, unchanged=3, requests=2, retries=1)
    vip.id = "77"
    vip.created = True
    vip.status = "READY"
    churn = report.list_report("churn (MAID)", "churn", "MAID")
    report.count(churn, added=1, removals_not_sent=4, invalid=1, dropped_identifiers=2, requests=1)
    churn.id = "78"
    churn.status = TOO_SMALL
    report.records_read = 20
    report.count_invalid("no identifier")
    report.count_invalid("no identifier")
    report.count_dropped("MAID is the all-zeros id of a device that limits ad tracking")
    report.count_ignored("not an audience event")
    report.requests = 8  # three list writes, five other requests
    report.retries = 1
    report.status = "succeeded"
    return report


def test_a_list_report_is_made_once() -> None:
    report = RunReport()
    first = report.list_report("vip (EMAIL)", "vip", "EMAIL")
    assert report.list_report("vip (EMAIL)", "other", "MAID") is first
    assert first == ListReport(name="vip (EMAIL)", audience="vip", list_type="EMAIL")


def test_totals_add_up_with_the_other_requests_in_their_own_row() -> None:
    data = filled_report().as_dict()
    assert data["other_requests"] == {"requests": 5, "retries": 0}
    totals = data["totals"]
    for key in ("added", "removed", "unchanged", "invalid", "dropped_identifiers", "removals_not_sent"):
        assert totals[key] == sum(row[key] for row in data["lists"])
    for key in ("requests", "retries"):
        assert totals[key] == sum(row[key] for row in data["lists"]) + data["other_requests"][key]
        assert totals[key] == data[key]
    assert totals["lists_created"] == 1
    assert data["dropped_identifiers"] == {"MAID is the all-zeros id of a device that limits ad tracking": 1}
    assert json.loads(json.dumps(data)) == data


def test_write(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "report.json"
    filled_report().write(path)
    written = json.loads(path.read_text())
    assert written["totals"]["added"] == 11
    assert written["lists"][0]["name"] == "churn (MAID)"


def test_too_small() -> None:
    report = filled_report()
    assert [row.name for row in report.too_small()] == ["churn (MAID)"]
    assert RunReport().too_small() == []


def test_table_rows_and_totals() -> None:
    lines = filled_report().table().splitlines()
    assert re.fullmatch(r"Run succeeded in (2\.[5-9]|3\.\d)s: 20 records, 8 requests, 1 retry", lines[0])
    assert lines[1].split() == [
        "list", "type", "id", "added", "removed", "unchanged", "invalid", "dropped_identifiers", "requests",
        "retries", "status",
    ]  # fmt: skip
    assert lines[3].split() == ["churn", "(MAID)", "MAID", "78", "1", "0", "(+4", "not", "sent)", "0", "1", "2", "1",
                                "0", "TOO_SMALL"]  # fmt: skip
    assert lines[4].split() == ["vip", "(EMAIL)", "(new)", "EMAIL", "77", "10", "2", "3", "0", "0", "2", "1", "READY"]
    assert lines[5].split()[-2:] == ["5", "0"]
    assert lines[5].startswith("other requests")
    assert lines[7].split() == ["total", "11", "2", "3", "1", "2", "8", "1"]
    assert lines[8] == "invalid records: {'no identifier': 2}"
    assert lines[9].startswith("unusable identifiers")
    assert lines[10] == "ignored records: {'not an audience event': 1}"


def test_an_empty_run_says_there_was_nothing_to_do() -> None:
    report = RunReport(dry_run=True)
    report.status = "succeeded"
    lines = report.table().splitlines()
    assert lines[0] == "DRY RUN, nothing sent. Run succeeded in 0.0s: 0 records, would send 0 write requests"
    assert lines[1] == "Nothing to do: the input held no records."
    assert len(lines) == 2


def test_missing_id_and_status_are_dashes() -> None:
    report = RunReport()
    report.list_report("vip (EMAIL)", "vip", "EMAIL")
    row_line = report.table().splitlines()[3]
    assert row_line.split() == ["vip", "(EMAIL)", "EMAIL", "-", "0", "0", "0", "0", "0", "0", "0", "-"]


def test_matching_in_the_table_and_the_json() -> None:
    import datetime as dt  # noqa: PLC0415

    from target_pinterest_audiences.matching import Matching, Observation  # noqa: PLC0415

    now = dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc)
    report = filled_report()
    report.feedback_requests = 2
    report.matching = [
        Matching(Observation(3, now, "1", "vip (EMAIL)", "77", "EMAIL", 200, 210, 10, "READY", "9", 150, "READY"), 0.8),
        Matching(Observation(3, now, "1", "new (EMAIL)", "79", "EMAIL", 20, 20, 0, "READY", "8", None, "INITIALIZING")),
        Matching(
            Observation(3, now, "1", "churn (MAID)", "78", "MAID", 5, 6, 1, TOO_SMALL, None, None, None), None, ["w1"]
        ),
    ]
    data = report.as_dict()
    assert data["feedback_requests"] == 2
    assert data["warnings"] == ["w1"]
    by_name = {item["name"]: item for item in data["matching"]}
    assert (by_name["vip (EMAIL)"]["share_matched"], by_name["vip (EMAIL)"]["share_change"]) == (0.75, -0.05)
    assert (by_name["new (EMAIL)"]["audience"], by_name["new (EMAIL)"]["share_matched"]) == ("pending", None)
    assert (by_name["churn (MAID)"]["audience"], by_name["churn (MAID)"]["list_status"]) == ("no audience", TOO_SMALL)
    table = report.table()
    assert "Matching (2 requests read it" in table
    assert re.search(r"vip \(EMAIL\)\s+200\s+150\s+READY\s+75\.0%\s+-5\.0 pt\s+READY", table)
    assert re.search(r"new \(EMAIL\)\s+20\s+pending\s+INITIALIZING\s+pending\s+-", table)
    assert re.search(r"churn \(MAID\)\s+5\s+no audience\s+-\s+-\s+-\s+TOO_SMALL", table)
