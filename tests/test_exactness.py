"""Regressions for issue 13: exact whatever happens, one test per numbered case.

Each test drives the real executable against the emulator and asserts on what the emulator
ends up holding; expectations come from CONTRACT.md's Semantics, never from the code.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    ACCESS_TOKEN,
    AD_ACCOUNT,
    EXECUTABLE,
    TargetRun,
    assert_one_audience_per_list,
    emulator_settings,
    held,
    openapi_path,
    run_target,
    sha,
    singer_lines,
)
from pinterest_emulator import Faults, PinterestEmulator

#: The schema conftest's singer_lines sends (a bare {"type": "object"} is another issue's test).
SCHEMA = {"type": "object", "properties": {}}


def rows(audience: str, emails: list[str], *, member: bool = True) -> list[dict[str, Any]]:
    return [{"audience": audience, "email": email, "in_audience": member} for email in emails]


def people(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index}@example.com" for index in range(count)]


def hashes(emails: list[str]) -> frozenset[str]:
    return frozenset(sha(email) for email in emails)


def multi_stream(*parts: tuple[str, list[dict[str, Any]]], state: dict[str, Any] | None = None) -> str:
    """SCHEMA for each stream first, then the records in the order given, then an optional STATE."""
    streams = dict.fromkeys(stream for stream, _ in parts)
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": stream, "schema": SCHEMA, "key_properties": []} for stream in streams
    ]
    lines += [{"type": "RECORD", "stream": stream, "record": record} for stream, records in parts for record in records]
    if state is not None:
        lines.append({"type": "STATE", "value": state})
    return "".join(json.dumps(line) + "\n" for line in lines)


@contextlib.contextmanager
def started(config: dict[str, Any], text: str, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The executable running in its own process group on ``text``; killed (the group) on the way out."""
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "input.singer").write_text(text)
    with (
        (folder / "input.singer").open() as stdin,
        (folder / "stdout").open("w") as stdout,
        (folder / "stderr").open("w") as stderr,
    ):
        proc = subprocess.Popen(
            [str(EXECUTABLE), "--config", str(folder / "config.json")],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def finished(proc: subprocess.Popen[bytes], folder: Path, seconds: float) -> TargetRun:
    """Wait at most ``seconds`` for the process; fail the test if it is still running (a hang)."""
    try:
        returncode = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {seconds:.0f} s: {tail(folder)}")
    report_file = folder / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return TargetRun(returncode, (folder / "stdout").read_text(), (folder / "stderr").read_text(), report)


def tail(folder: Path) -> str:
    lines = [line for line in (folder / "stderr").read_text().splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"


# -- 1. killed while an applied write's answer is in flight --------------------------------------


def test_1_killed_while_an_applied_writes_answer_is_held_then_everyone_leaves(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    audiences = {name: people(name, 60) for name in ("vip", "cart", "newsletter")}
    target_config |= {"records_per_request": 5, "parallel_requests": 1, "batch_size_rows": 50}
    joined = multi_stream(*(("rows", rows(name, emails)) for name, emails in audiences.items()))
    held_writes = 0
    number = 3
    while held_writes < 2 and number < 60:
        emulator.faults = Faults(hold_after_effect_nth={number: 60})
        with started(target_config, joined, tmp_path) as proc:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if emulator.wait_applied(number, timeout=0.05):
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
        request = next((r for r in emulator.requests if r.number == number and r.fault == "hold_after_effect"), None)
        if request is not None and request.method in {"POST", "PATCH"} and "/customer_lists" in request.path:
            held_writes += 1
        number += 7
    assert held_writes == 2, "no applied write was held when the target was killed"
    assert any(held(emulator).values()), "nothing was applied before the kills"
    emulator.faults = Faults()
    left = multi_stream(*(("rows", rows(name, emails, member=False)) for name, emails in audiences.items()))
    result = run_target(target_config, left, tmp_path)
    assert result.returncode == 0, result.last_line
    assert {name: len(members) for name, members in held(emulator).items() if members} == {}
    assert_one_audience_per_list(emulator)


# -- 2. SIGTERM and SIGINT with a big input ---------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_2_sigterm_and_sigint_settle_report_interrupted_and_exit(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path, signum: int, code: int
) -> None:
    count = 20_000
    emails = people("user", count)
    records = rows("vip", emails)
    lines = [{"type": "SCHEMA", "stream": "rows", "schema": SCHEMA, "key_properties": []}]
    for index, record in enumerate(records):
        lines.append({"type": "RECORD", "stream": "rows", "record": record})
        if index % 1000 == 999:
            lines.append({"type": "STATE", "value": {"bookmarks": {"rows": index + 1}}})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    target_config |= {"records_per_request": 100, "batch_size_rows": 1000}
    emulator.faults = Faults(latency_seconds=0.02)
    with started(target_config, text, tmp_path) as proc:
        deadline = time.monotonic() + 60
        while proc.poll() is None and emulator.applied_writes < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before the signal: {tail(tmp_path)}"
        sent = time.monotonic()
        proc.send_signal(signum)
        result = finished(proc, tmp_path, 30)
        took = time.monotonic() - sent
    assert result.returncode == code, f"exit {result.returncode} after {took:.1f} s: {result.last_line}"
    assert result.report is not None, "no report written"
    assert result.report["status"] == "interrupted"
    # STATE only for what Pinterest accepted: resuming after the last one ends exact.
    emulator.faults = Faults()
    done = result.states[-1]["bookmarks"]["rows"] if result.states else 0
    rest = singer_lines("rows", records[done:], {"bookmarks": {"rows": count}})
    final = run_target(target_config, rest, tmp_path)
    assert final.returncode == 0, final.last_line
    assert held(emulator) == {"vip (EMAIL)": hashes(emails)}


# -- 3. last signal wins across streams -----------------------------------------------------------


@pytest.mark.parametrize("last", ["joined", "left"])
def test_3_last_signal_wins_across_two_streams(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path, last: str
) -> None:
    members = people("member", 10)
    movers = people("mover", 20)
    first = run_target(target_config, singer_lines("rows_a", rows("vip", members + movers)), tmp_path)
    assert first.returncode == 0, first.last_line
    if last == "joined":  # stream b says they left, then stream a says they joined
        text = multi_stream(
            ("rows_a", []), ("rows_b", rows("vip", movers, member=False)), ("rows_a", rows("vip", movers))
        )
        expected = members + movers
    else:  # stream a says they joined, then stream b says they left
        text = multi_stream(("rows_a", rows("vip", movers)), ("rows_b", rows("vip", movers, member=False)))
        expected = members
    result = run_target(target_config, text, tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": hashes(expected)}


def test_3_last_signal_wins_between_a_flat_row_and_a_stream_as_audience(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    """Stream ``newsletter`` (every record a member) and flat rows on another stream speak of one audience."""
    movers = people("mover", 20)
    text = multi_stream(
        ("newsletter", []),
        ("rows", rows("newsletter", movers, member=False)),
        ("newsletter", [{"email": email} for email in movers]),
        ("rows", rows("newsletter", movers[:10], member=False)),
    )
    result = run_target(target_config, text, tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"newsletter (EMAIL)": hashes(movers[10:])}


# -- 4. one 404 on a live list ----------------------------------------------------------------------


def _first_list_request(emulator: PinterestEmulator, since: int) -> int:
    """The number of the first GET or PATCH of one customer list among the requests since ``since``."""
    numbers = sorted(
        r.number
        for r in emulator.requests[since:]
        if r.number is not None
        and r.method in {"GET", "PATCH"}
        and r.path.rsplit("/", 1)[-1].isdigit()
        and "/customer_lists/" in r.path
    )
    assert numbers, "the run read or updated no single list"
    return numbers[0]


def test_4_one_404_on_a_live_list_then_a_mirror_run_leaves_exactly_its_member(
    target_config: dict[str, Any], tmp_path: Path
) -> None:
    old, new, last = people("old", 11), people("new", 1), people("last", 1)
    target_config |= {"parallel_requests": 1, "max_removal_fraction": 1}

    def first_two_runs(emulator: PinterestEmulator, folder: Path, faults: Faults) -> int:
        config = {**target_config, **emulator_settings(emulator, folder)}
        assert run_target(config, singer_lines("rows", rows("vip", old)), folder).returncode == 0
        since = len(emulator.requests)
        emulator.faults = faults
        second = run_target(config, singer_lines("rows", rows("vip", new)), folder)
        assert second.returncode == 0, second.last_line
        return _first_list_request(emulator, since)

    # A rehearsal on a fresh emulator and store finds which request the 404 must hit.
    rehearsal = tmp_path / "rehearsal"
    rehearsal.mkdir()
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), openapi_path=openapi_path()) as emulator:
        number = first_two_runs(emulator, rehearsal, Faults())
    real = tmp_path / "real"
    real.mkdir()
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), openapi_path=openapi_path()) as emulator:
        first_two_runs(emulator, real, Faults(not_found_nth={number}))
        assert emulator.fault_counts.get("not_found") == 1, "the 404 hit no list"
        assert held(emulator) == {"vip (EMAIL)": hashes(old + new)}, "the 404 lost the list"
        emulator.faults = Faults()
        config = {**target_config, **emulator_settings(emulator, real), "sync_mode": "mirror"}
        mirror = run_target(config, singer_lines("rows", rows("vip", last)), real)
        assert mirror.returncode == 0, mirror.last_line
        assert held(emulator) == {"vip (EMAIL)": hashes(last)}
        assert_one_audience_per_list(emulator)


# -- 5. a list deleted in Ads Manager ---------------------------------------------------------------


def test_5_a_deleted_list_comes_back_with_every_known_member_also_without_a_change(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    vip, churn = people("vip", 5), people("churn", 3)
    first = run_target(target_config, singer_lines("rows", rows("vip", vip) + rows("churn", churn)), tmp_path)
    assert first.returncode == 0, first.last_line
    for item in emulator.customer_lists():
        emulator.delete_list(item.id)
    assert held(emulator) == {}
    # vip gets a change (one more member); churn only says again what the store knows.
    again = rows("vip", people("extra", 1)) + rows("churn", churn[:1])
    result = run_target(target_config, singer_lines("rows", again), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {
        "vip (EMAIL)": hashes(vip + people("extra", 1)),
        "churn (EMAIL)": hashes(churn),
    }
    assert_one_audience_per_list(emulator)
    # And the next run finds the lists made again: nothing left to repair.
    result = run_target(target_config, singer_lines("rows", again), tmp_path)
    assert result.returncode == 0, result.last_line
    assert len(emulator.customer_lists()) == 2


# -- 6. a repeated page bookmark -------------------------------------------------------------------


def test_6_a_repeated_page_bookmark_stops_the_run_with_one_line(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    emulator.faults = Faults(repeat_bookmark=True)
    began = time.monotonic()
    with started(target_config, singer_lines("rows", rows("vip", people("user", 3))), tmp_path) as proc:
        result = finished(proc, tmp_path, 30)
    took = time.monotonic() - began
    assert result.returncode != 0
    assert took < 20, f"took {took:.0f} s"
    assert "bookmark" in result.last_line.lower(), result.last_line
    pages = [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/customer_lists")]
    assert len(pages) < 10, f"{len(pages)} list pages asked for"


# -- 7. nothing listening, a host that does not resolve --------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A loopback port where a connection attempt times out, as with a non-routable address.

    A listening socket that never accepts, its backlog filled first: the kernel drops the
    SYNs that follow, so connect() waits for its timeout. No traffic leaves the machine.
    """
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)  # noqa: FBT003 - the socket API
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            yield port
        finally:
            for filler in fillers:
                filler.close()


def unreachable(where: str, hole: int) -> tuple[str, int, str]:
    """One way api_url can be out of reach: the host and port the error must name, and the URL."""
    if where == "no-such-host":
        return "nonexistent.invalid", 80, "http://nonexistent.invalid/v5"
    port = hole if where == "connect-times-out" else free_port()
    return "127.0.0.1", port, f"http://127.0.0.1:{port}/v5"


def test_7_an_unreachable_api_fails_within_60_s_naming_host_and_port(tmp_path: Path) -> None:
    """Before any input is read, whatever the input (here a line that is not JSON), one warning per retry.

    The three ways run at once: each waits on the network, not on the CPU, so the test takes
    as long as the slowest (the connect timeouts), not as long as all three.
    """
    wheres = ("nothing-listening", "no-such-host", "connect-times-out")
    with black_hole() as hole, contextlib.ExitStack() as stack:
        began = time.monotonic()
        running = {}
        for where in wheres:
            host, shown_port, url = unreachable(where, hole)
            folder = tmp_path / where
            folder.mkdir()
            config = {
                "ad_account_id": AD_ACCOUNT,
                "access_token": ACCESS_TOKEN,
                "api_url": url,
                "store_url": f"sqlite:///{folder / 'store.db'}",
                "report_path": str(folder / "report.json"),
            }
            proc = stack.enter_context(started(config, "this line is not JSON\n", folder))
            running[where] = (proc, folder, f"Cannot reach {host}:{shown_port}")
        for where, (proc, folder, expected) in running.items():
            result = finished(proc, folder, 90)
            took = time.monotonic() - began  # at most this long: it started no later than ``began``
            assert result.returncode == 1, where
            assert took < 60, f"{where} took {took:.0f} s"
            assert expected in result.last_line, result.last_line
            assert "while reading ad account" in result.last_line, result.last_line
            retries = int(re.search(r"after (\d+) retries", result.last_line)[1])  # type: ignore[index]
            assert len([line for line in result.stderr.splitlines() if "Retrying" in line]) == retries, where
            if where == "connect-times-out":
                assert "connection timed out" in result.last_line


# -- 8. a dry run emits no STATE -----------------------------------------------------------------


def test_8_a_dry_run_emits_no_state(emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path) -> None:
    target_config |= {"dry_run": True, "batch_size_rows": 2}
    text = singer_lines("rows", rows("vip", people("user", 5)), {"bookmarks": {"rows": 5}})
    result = run_target(target_config, text, tmp_path)
    assert result.returncode == 0, result.last_line
    assert result.stdout == ""
    assert held(emulator) == {}


# -- 9. a shared PostgreSQL store; a private SQLite store ----------------------------------------------


def test_9_three_processes_on_one_postgresql_store_end_exact_without_duplicates(
    emulator: PinterestEmulator, tmp_path: Path, postgres_url: str
) -> None:
    shared_a, shared_b = people("shared-a", 150), people("shared-b", 150)
    own = {f"own{index}": people(f"own{index}-", 10) for index in range(15)}
    plans = {
        "first": (rows("shared", shared_a) + rows("alpha", people("alpha", 40)), {}),
        "second": (rows("shared", shared_b) + rows("beta", people("beta", 40)), {}),
        # Fifteen new lists at once, fifteen requests in parallel: one connection each, no more.
        "third": ([row for name, emails in own.items() for row in rows(name, emails)], {"parallel_requests": 15}),
    }
    # Slow answers, so that each process opens the store while the others are mid-run.
    emulator.faults = Faults(latency_seconds=0.1)
    with contextlib.ExitStack() as stack:
        procs = {}
        for name, (records, extra) in plans.items():
            folder = tmp_path / name
            folder.mkdir()
            config = {
                **emulator_settings(emulator, folder),
                "access_token": ACCESS_TOKEN,
                "store_url": postgres_url,
                "records_per_request": 10,
                **extra,
            }
            procs[name] = (stack.enter_context(started(config, singer_lines("rows", records), folder)), folder)
            time.sleep(0.5)
        results = {name: finished(proc, folder, 120) for name, (proc, folder) in procs.items()}
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.last_line}"
    expected = {
        "shared (EMAIL)": hashes(shared_a + shared_b),
        "alpha (EMAIL)": hashes(people("alpha", 40)),
        "beta (EMAIL)": hashes(people("beta", 40)),
        **{f"{name} (EMAIL)": hashes(emails) for name, emails in own.items()},
    }
    assert held(emulator) == expected
    assert emulator.duplicate_name_creates == 0
    assert_one_audience_per_list(emulator)


def test_9_the_sqlite_store_and_its_folder_are_readable_by_their_owner_only(
    target_config: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "new" / "store"
    target_config["store_url"] = f"sqlite:///{folder / 'store.db'}"
    previous = os.umask(0o022)  # the usual umask: files 0644 unless the target says otherwise
    try:
        result = run_target(target_config, singer_lines("rows", rows("vip", people("user", 3))), tmp_path)
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.last_line
    assert stat.S_IMODE((folder / "store.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
