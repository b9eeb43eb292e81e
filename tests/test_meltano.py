"""A real Meltano run: meltano run tap-segment target-pinterest-audiences, on the demo export.

The lists it must leave are a fixed file written by hand from the contract, not worked out by
a second copy of the classifier.

Meltano installs tap-segment (tap-jsonl under that name) and the loader (pip_url `-e .`) into
.meltano/, then runs the pipeline; the loader is pointed at a fresh emulator through the
TARGET_PINTEREST_AUDIENCES_<NAME> variables Meltano passes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import AD_ACCOUNT, sha_for
from pinterest_emulator import PinterestEmulator

ROOT = Path(__file__).resolve().parents[1]
MELTANO = Path(sys.executable).with_name("meltano")
DEMO_EXPORT = ROOT / "demo" / "segment-export"


#: What the demo export means, written by hand from the contract's rules (see its _comment).
EXPECTED_FILE = ROOT / "tests" / "data" / "demo_expected_lists.json"


def expected_lists() -> dict[str, frozenset[str]]:
    """The expected file's plain identifiers, hashed with the contract's rule (trim, lowercase, SHA-256)."""
    plain: dict[str, list[str]] = json.loads(EXPECTED_FILE.read_text())
    return {
        name: frozenset(sha_for(name, value) for value in values)
        for name, values in plain.items()
        if not name.startswith("_")
    }


@pytest.fixture(scope="module")
def installed() -> None:
    env = os.environ | {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run([str(MELTANO), "install"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)


@pytest.fixture
def meltano_run(installed: None, emulator: PinterestEmulator, tmp_path: Path) -> Callable[..., Any]:
    del installed

    def run(**settings: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_ENVIRONMENT": "demo",
            "TARGET_PINTEREST_AUDIENCES_API_URL": emulator.url,
            "TARGET_PINTEREST_AUDIENCES_ACCESS_TOKEN": "emulator-access-token",
            "TARGET_PINTEREST_AUDIENCES_AD_ACCOUNT_ID": AD_ACCOUNT,
            "TARGET_PINTEREST_AUDIENCES_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "TARGET_PINTEREST_AUDIENCES_REPORT_PATH": str(tmp_path / "report.json"),
        }
        env |= {f"TARGET_PINTEREST_AUDIENCES_{name.upper()}": value for name, value in settings.items()}
        command = [str(MELTANO), "run", "--full-refresh", "tap-segment", "target-pinterest-audiences"]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)

    return run


def test_meltano_pipeline_fills_the_lists(meltano_run: Any, emulator: PinterestEmulator, tmp_path: Path) -> None:
    completed = meltano_run()
    assert completed.returncode == 0, completed.stderr[-3000:]
    expected = expected_lists()
    held = {item.name: item.members for item in emulator.customer_lists()}
    assert held == expected
    assert len(emulator.audiences()) == len(expected)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "succeeded"
    rows = {row["name"]: row for row in report["lists"]}
    assert {name: rows[name]["added"] for name in rows} == {name: len(members) for name, members in expected.items()}
    assert {name: rows[name]["id"] for name in rows} == {item.name: item.id for item in emulator.customer_lists()}
    assert {row["status"] for row in rows.values()} == {"TOO_SMALL"}
    # The computed trait and the plain identify name no audience; a page view carries none.
    assert report["ignored_records"] == {
        "not an audience event": 2,
        "page, screen, group or alias message (no membership)": 1,
    }
    assert report["invalid_records"] == {}


def test_meltano_dry_run_and_env_overrides(meltano_run: Any, emulator: PinterestEmulator, tmp_path: Path) -> None:
    completed = meltano_run(dry_run="true", list_name_template="segment {audience} {list_type}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert emulator.requests == []
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dry_run"] is True
    assert {row["name"] for row in report["lists"]} == {
        "segment " + name.replace(" (", " ").rstrip(")") for name in expected_lists()
    }
