"""Shared fixtures: the Pinterest emulator on loopback and the real executable."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pinterest_emulator import PinterestEmulator

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
#: Pinterest's official OpenAPI file, beside the checkout as ../shared (CI copies it there).
OPENAPI = TESTS.parents[1] / "shared" / "pinterest-openapi" / "openapi.yaml"
AD_ACCOUNT = "549755885175"
ACCESS_TOKEN = "emulator-access-token"
EXECUTABLE = Path(sys.executable).with_name("target-pinterest-audiences")
#: A PostgreSQL server for the store's PostgreSQL mode (.ci/run starts one and sets it).
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def sha(value: str, list_type: str = "EMAIL") -> str:
    """What the target must send for a raw identifier (CONTRACT.md, Normalisation): SHA-256 of
    the trimmed value, uppercase for an IDFA, lowercase for an email or a MAID."""
    trimmed = value.strip()
    return hashlib.sha256((trimmed.upper() if list_type == "IDFA" else trimmed.lower()).encode()).hexdigest()


def sha_for(list_name: str, value: str) -> str:
    """``sha`` for a list named "<audience> (<TYPE>)", as the default list_name_template names it."""
    return sha(value, "IDFA" if list_name.endswith("(IDFA)") else "EMAIL")


def openapi_path() -> Path | None:
    """The official OpenAPI file when it is beside the checkout."""
    return OPENAPI if OPENAPI.is_file() else None


def require_postgres() -> str:
    """TEST_POSTGRES_URL; a skip without it locally, a failure under CI."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test the PostgreSQL store: set TEST_POSTGRES_URL (.ci/run starts a server)")
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL to run these")
    return POSTGRES_URL


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """TEST_POSTGRES_URL with a schema of this test's own, dropped afterwards.

    Tests (and test runs sharing one server) never see each other's tables.
    """
    server = require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in server else "?"
        yield f"{server}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def emulator() -> Iterator[PinterestEmulator]:
    """A fresh emulator that validates request bodies against the official schemas when it can."""
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), openapi_path=openapi_path()) as emu:
        yield emu


@dataclass
class TargetRun:
    """What one run of the executable left behind."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    @property
    def states(self) -> list[dict[str, Any]]:
        """The STATE values written to stdout, in order."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def last_line(self) -> str:
        """The last line of stderr: what a user reads when a run fails."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def emulator_settings(emulator: PinterestEmulator, tmp_path: Path) -> dict[str, Any]:
    """Settings that point the target at an emulator, with a store and report in tmp_path (no credentials)."""
    return {
        "ad_account_id": AD_ACCOUNT,
        "api_url": emulator.url,
        "store_url": f"sqlite:///{tmp_path / 'store.db'}",
        "report_path": str(tmp_path / "report.json"),
        "max_requests_per_second": 0,
    }


@pytest.fixture
def target_config(emulator: PinterestEmulator, tmp_path: Path) -> dict[str, Any]:
    """Settings for the emulator fixture, with its static access token."""
    return {**emulator_settings(emulator, tmp_path), "access_token": ACCESS_TOKEN}


@pytest.fixture(params=["one-batch", "a-batch-a-record"])
def sending(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for each way a run's input is cut into batches: all in one drain at the end,
    and one drain per record (``batch_size_rows`` 1), so every signal crosses a drain."""
    return {} if request.param == "one-batch" else {"batch_size_rows": 1}


def _parent(stat: Path) -> int | None:
    """A process's parent from /proc/<pid>/stat (field 4, after the command in brackets)."""
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent(stat) == pid]


def running(pid: int) -> bool:
    """Whether a process still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def held(emulator: PinterestEmulator) -> dict[str, frozenset[str]]:
    """Every list the emulator holds, by name; fails on two lists of one name."""
    lists = emulator.customer_lists()
    names = [item.name for item in lists]
    assert len(names) == len(set(names)), f"duplicate lists: {sorted(names)}"
    return {item.name: item.members for item in lists}


def assert_one_audience_per_list(emulator: PinterestEmulator) -> None:
    """Each list has one CUSTOMER_LIST audience of its own name, and no audience is without a list."""
    audiences = emulator.audiences()
    by_list = sorted(str(a["rule"]["customer_list_id"]) for a in audiences)
    assert by_list == sorted(item.id for item in emulator.customer_lists())
    assert {a["audience_type"] for a in audiences} == {"CUSTOMER_LIST"}
    names = {item.id: item.name for item in emulator.customer_lists()}
    assert all(a["name"] == names[str(a["rule"]["customer_list_id"])] for a in audiences)


def run_target(config: dict[str, Any], singer_input: str | Path, tmp_path: Path, *extra: str) -> TargetRun:
    """Run the installed executable on Singer input, as Meltano or a shell pipe would."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    text = singer_input.read_text() if isinstance(singer_input, Path) else singer_input
    report_path = Path(config["report_path"]) if config.get("report_path") else None
    if report_path is not None and report_path.exists():
        report_path.unlink()
    completed = subprocess.run(
        [str(EXECUTABLE), "--config", str(config_file), *extra],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(report_path.read_text()) if report_path is not None and report_path.exists() else None
    return TargetRun(completed.returncode, completed.stdout, completed.stderr, report)


def singer_lines(stream: str, records: list[dict[str, Any]], state: dict[str, Any] | None = None) -> str:
    """A SCHEMA message, the RECORDs and an optional STATE, as a tap writes them."""
    lines = [{"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": {}}, "key_properties": []}]
    lines += [{"type": "RECORD", "stream": stream, "record": record} for record in records]
    if state is not None:
        lines.append({"type": "STATE", "value": state})
    return "".join(json.dumps(line) + "\n" for line in lines)
