"""Nothing secret or personal leaves the process: not in logs, state, the report or the store.

The end-to-end inputs run at DEBUG through the refresh-token flow against an emulator that
rotates refresh tokens and expires access tokens after three uses, so several tokens pass
through the target; then everything it wrote is searched for each token, the client secret
and every raw identifier of the inputs. Identifiers reach Pinterest only as hashes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import AD_ACCOUNT, DATA, EXECUTABLE, openapi_path
from pinterest_emulator import Faults, PinterestEmulator
from target_pinterest_audiences.pinterest.client import Credentials, PinterestClient

SRC = Path(__file__).resolve().parents[1] / "target_pinterest_audiences"
INPUTS = (DATA / "segment_audiences.singer", DATA / "flat_rows.singer", DATA / "stream_audience.singer")
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
REFRESH = "emulator-refresh-token"
HASHED = re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}")

EMAIL_PATHS = (("traits", "email"), ("properties", "email"), ("context", "traits", "email"), ("email",))
MOBILE_KEYS = ("idfa", "ios_idfa", "maid", "android_id", "gaid")


class Watched:
    """An emulator that rotates refresh tokens, and remembers every access token it minted."""

    def __init__(self) -> None:
        self.emulator = PinterestEmulator(
            ad_account_ids=(AD_ACCOUNT,), rotate_refresh_tokens=True, openapi_path=openapi_path()
        )
        self.issued: list[str] = []
        mint = self.emulator.issue_access_token

        def issue() -> str:
            token = mint()
            self.issued.append(token)
            return token

        self.emulator.issue_access_token = issue  # type: ignore[method-assign]

    def secrets(self) -> set[str]:
        """Every token and secret that went through a run, and the Basic credentials."""
        found = {REFRESH, CLIENT_SECRET, *self.issued, *self.emulator.refresh_tokens}
        for request in self.emulator.requests:
            header = request.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                found.add(header.removeprefix("Bearer "))
            if request.path == "/oauth/token" and isinstance(request.body, dict):
                found.add(str(request.body.get("refresh_token")))
        found.add(base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode())
        return {secret for secret in found if secret and secret != "None"}


@pytest.fixture
def watched() -> Iterator[Watched]:
    spy = Watched()
    with spy.emulator:
        yield spy


def raw_identifiers(singer_file: Path) -> set[str]:
    """Every raw (unhashed) identifier of an input, as written, trimmed and lowercased."""
    values: set[str] = set()
    for line in singer_file.read_text().splitlines():
        message = json.loads(line)
        if message.get("type") != "RECORD":
            continue
        record = message["record"]
        found: list[object] = []
        for path in EMAIL_PATHS:
            node: object = record
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            found.append(node)
        device = (record.get("context") or {}).get("device") or {}
        found += [device.get("advertisingId"), *(record.get(key) for key in MOBILE_KEYS)]
        for value in found:
            if isinstance(value, str) and value.strip() and not HASHED.fullmatch(value.strip().lower()):
                values |= {value, value.strip(), value.strip().lower()}
    return values


RAW = set().union(*(raw_identifiers(path) for path in INPUTS))


def run_debug(config: dict[str, Any], singer_input: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the executable at DEBUG, as ``LOGLEVEL=DEBUG meltano run ...`` would."""
    config_file = directory / "config.json"
    config_file.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_PINTEREST_AUDIENCES_")}
    env["LOGLEVEL"] = "DEBUG"
    return subprocess.run(
        [str(EXECUTABLE), "--config", str(config_file), "--input", str(singer_input)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def refresh_config(emulator: PinterestEmulator, directory: Path) -> dict[str, Any]:
    return {
        "ad_account_id": AD_ACCOUNT,
        "refresh_token": REFRESH,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_url": emulator.url,
        "store_url": f"sqlite:///{directory / 'store.db'}",
        "report_path": str(directory / "report.json"),
        "max_requests_per_second": 0,
        "max_retry_seconds": 2,
    }


def written(outputs: list[str], directory: Path) -> list[tuple[str, bytes]]:
    """Everything a run wrote: its stdout and stderr, the report and the store's files."""
    found = [(f"output {i}", text.encode()) for i, text in enumerate(outputs)]
    found += [(path.name, path.read_bytes()) for path in sorted(directory.glob("store.db*"))]
    report = directory / "report.json"
    if report.exists():
        found.append((report.name, report.read_bytes()))
    return found


def assert_nothing_leaks(places: list[tuple[str, bytes]], secrets: set[str]) -> None:
    lowered = [(where, data.lower()) for where, data in places]
    for secret in secrets:
        leaks = [where for where, data in places if secret.encode() in data]
        assert not leaks, f"a token or secret ({len(secret)} chars) is in {leaks}"
    for raw in RAW:
        leaks = [where for where, data in lowered if raw.lower().encode() in data]
        assert not leaks, f"a raw identifier ({len(raw)} chars) is in {leaks}"


def sent_records(emulator: PinterestEmulator) -> list[str]:
    return [
        str(request.body["records"])
        for request in emulator.requests
        if isinstance(request.body, dict) and "records" in request.body
    ]


def test_debug_runs_with_rotating_tokens_leak_nothing(watched: Watched, tmp_path: Path) -> None:
    emulator = watched.emulator
    emulator.faults = Faults(access_token_max_uses=3)
    config = refresh_config(emulator, tmp_path)
    outputs: list[str] = []
    for singer_file in INPUTS:
        result = run_debug(config, singer_file, tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "| DEBUG    |" in result.stderr, "LOGLEVEL=DEBUG took effect"
        outputs += [result.stdout, result.stderr]
        # The report of every run is searched, not only the last one's.
        outputs.append((tmp_path / "report.json").read_text())
    token_calls = [r for r in emulator.requests if r.path == "/oauth/token"]
    assert len(token_calls) >= 4, "the access token was renewed several times"
    assert len(watched.issued) >= 4
    rotated = {str(r.body["refresh_token"]) for r in token_calls if isinstance(r.body, dict)} - {REFRESH}
    assert rotated, "later refreshes used rotated refresh tokens"
    assert len(emulator.customer_lists()) == 10

    assert_nothing_leaks(written(outputs, tmp_path), watched.secrets())

    records = sent_records(emulator)
    assert records
    for batch in records:
        assert all(HASHED.fullmatch(value) for value in batch.split(",")), "only lowercase hex hashes are sent"


def test_failing_debug_runs_leak_nothing(watched: Watched, tmp_path: Path) -> None:
    emulator = watched.emulator
    config = refresh_config(emulator, tmp_path)

    emulator.revoke_refresh_token(REFRESH)
    revoked = run_debug(config, INPUTS[0], tmp_path)
    assert revoked.returncode == 1
    assert "Re-authorise" in revoked.stderr.splitlines()[-1]
    assert "Traceback" not in revoked.stderr

    other = tmp_path / "other"
    other.mkdir()
    spy = Watched()
    with spy.emulator as second:
        second.faults = Faults(fail_nth={4: 400}, access_token_max_uses=3)  # 1 token, 2 ad account
        refused = run_debug(refresh_config(second, other), INPUTS[0], other)
        assert refused.returncode == 1
        assert "HTTP 400" in refused.stderr.splitlines()[-1]
        assert "Traceback" not in refused.stderr
        secrets = watched.secrets() | spy.secrets()
        assert_nothing_leaks(
            written([revoked.stdout, revoked.stderr], tmp_path) + written([refused.stdout, refused.stderr], other),
            secrets,
        )
        for batch in sent_records(second):
            assert all(HASHED.fullmatch(value) for value in batch.split(","))


def test_https_certificates_are_checked() -> None:
    client = PinterestClient("https://api.pinterest.com/v5", Credentials(access_token="x"))
    assert client.session.verify is True
    pattern = re.compile(r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False")
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
