"""STATE keeps up with what Pinterest accepted, and a signal at any moment ends the run as interrupted.

CONTRACT.md, Semantics: STATE at least once a minute while the run goes on, and on SIGINT/SIGTERM
for what was accepted before the signal; a stopped run reports ``interrupted`` and exits 128 +
the signal, also when the signal comes during the end-of-run status reads. The minute is the
private setting ``_state_interval_seconds`` here, so a run of seconds shows the cadence.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EXECUTABLE, held, sha
from pinterest_emulator import Faults, PinterestEmulator

INTERVAL = 2.0
STATE_EVERY = 500


def emails(count: int) -> list[str]:
    return [f"user{i}@example.com" for i in range(count)]


def tap_output(names: list[str]) -> str:
    """One stream-as-audience, with the tap's STATE every STATE_EVERY records."""
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "vip", "schema": {"type": "object", "properties": {}}, "key_properties": []}
    ]
    for index, name in enumerate(names, start=1):
        lines.append({"type": "RECORD", "stream": "vip", "record": {"email": name}})
        if index % STATE_EVERY == 0 or index == len(names):
            lines.append({"type": "STATE", "value": {"position": index}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def start(config: dict[str, Any], text: str, tmp_path: Path) -> subprocess.Popen[str]:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    input_path = tmp_path / "input.singer"
    input_path.write_text(text)
    command = [str(EXECUTABLE), "--config", str(config_path), "--input", str(input_path)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def positions(stdout: str) -> list[int]:
    return [json.loads(line)["position"] for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def slow_config(emulator: PinterestEmulator, target_config: dict[str, Any]) -> dict[str, Any]:
    emulator.faults = Faults(latency_seconds=0.02)
    return target_config | {"records_per_request": 10, "parallel_requests": 1, "_state_interval_seconds": INTERVAL}


def test_a_long_run_emits_a_state_every_interval(
    emulator: PinterestEmulator, slow_config: dict[str, Any], tmp_path: Path
) -> None:
    names = emails(6000)
    started = time.monotonic()
    proc = start(slow_config, tap_output(names), tmp_path)
    stdout, stderr = proc.communicate(timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, stderr[-2000:]
    states = positions(stdout)
    intervals = int(elapsed // INTERVAL)
    assert intervals >= 5, f"the run took {elapsed:.1f} s: too short to show a cadence"
    assert len(states) >= intervals - 1, f"{len(states)} STATEs in {elapsed:.1f} s: {states}"
    assert states == sorted(states)
    assert states[-1] == len(names)
    assert held(emulator) == {"vip (EMAIL)": frozenset(sha(name) for name in names)}


def test_sigterm_after_intervals_emits_the_state_of_what_was_accepted(
    emulator: PinterestEmulator, slow_config: dict[str, Any], tmp_path: Path
) -> None:
    names = emails(6000)
    proc = start(slow_config, tap_output(names), tmp_path)
    time.sleep(3 * INTERVAL)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    states = positions(stdout)
    assert states, "no STATE after three intervals and thousands of members accepted"
    members = held(emulator)["vip (EMAIL)"]
    # Every record before the last STATE is held by Pinterest.
    assert {sha(name) for name in names[: states[-1]]} <= members
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"


def test_sigterm_during_the_status_reads_reports_interrupted(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    # Requests: 1 the ad account check, 2 the account's lists, 3 the create, 4 its audience, 5 the
    # first page of the account's lists read for the feedback at the end.
    emulator.faults = Faults(hold_after_effect_nth={5: 30.0})
    proc = start(target_config, tap_output(emails(3)), tmp_path)
    try:
        assert emulator.wait_applied(5, timeout=60)
        assert (emulator.requests[4].method, emulator.requests[4].path.rsplit("/", 1)[-1]) == ("GET", "customer_lists")
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert positions(stdout) == [3]  # everything was accepted before the reads
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
