"""Every kind of bad input, through the real executable against the emulator: one table.

Each row is one run: the Singer bytes fed to stdin, the settings changed, the Pinterest faults,
and what must follow: the exit code, the one line the user reads last on stderr, no traceback,
no raw identifier on stderr, exactly what the emulator holds afterwards and the STATE on stdout.

The runs start about two seconds each (imports), so the module plays all rows at once in a
thread pool (each with its own emulator and directory) and each row then checks its outcome.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_TOKEN, AD_ACCOUNT, EXECUTABLE, openapi_path, sha
from pinterest_emulator import Faults, PinterestEmulator

ERROR = "target-pinterest-audiences: error: "
MIB = 1024 * 1024

ALICE, BOB, CAROL, DAN = "Alice@Example.com", "bob@example.com", "carol@example.com", "dan.secret@example.com"
#: Raw identifiers that appear in some row's input: none may reach stderr, in any case.
RAW = (ALICE, BOB, CAROL, DAN, "erin@example.com", "not-an-email-at-all", "aaaaaaaaaaaaaaaaaaaa@example.com")
PG_PASSWORD = "hunter2pw"


def _lines(*messages: object) -> bytes:
    return b"".join(json.dumps(message).encode() + b"\n" for message in messages)


def _record(record: dict[str, Any], stream: str = "members") -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": record}


def _state(n: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": {"members": {"n": n}}}}


SCHEMA = {
    "type": "SCHEMA",
    "stream": "members",
    "schema": {"type": "object", "properties": {"email": {"type": "string"}}},
    "key_properties": [],
}
#: Lines 1-4; a bad line put after them is line 5.
BEFORE = _lines(SCHEMA, _record({"email": ALICE}), _state(1), _record({"email": BOB}))
AFTER = _lines(_record({"email": CAROL}), _state(2))
GOOD = BEFORE + AFTER
S1, S2 = _state(1)["value"], _state(2)["value"]

#: What the emulator holds when the records before line 5 were delivered, or all of them.
DELIVERED_BEFORE = {"members (EMAIL)": frozenset({sha(ALICE), sha(BOB)})}
DELIVERED_ALL = {"members (EMAIL)": frozenset({sha(ALICE), sha(BOB), sha(CAROL)})}


def around(bad: bytes) -> bytes:
    """Good lines, the bad line 5, then good lines and a STATE that must never be emitted."""
    return BEFORE + bad + AFTER


def bad_record(record: dict[str, Any]) -> bytes:
    return around(_lines(_record(record)))


@dataclass(frozen=True)
class Case:
    """One row: the input and settings, and everything that must be true after the run."""

    singer: bytes
    exit_code: int
    last_line: str | None
    """A regex the last stderr line must match from its start (after the error prefix when
    ``exit_code`` is not 0); None: the run succeeds and any last line will do."""
    held: dict[str, frozenset[str]]
    states: tuple[dict[str, Any], ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    """Settings changed from the defaults below; None removes one."""
    faults: Faults | None = None
    invalid: dict[str, int] | None = None
    """The report's ``invalid_records``, when the row checks it."""
    stderr_has: tuple[str, ...] = ()
    stderr_lacks: tuple[str, ...] = ()
    """Besides the raw identifiers: text that must not appear on stderr (a password, a value)."""


SETTINGS_BEFORE_INPUT = "Invalid settings: "
FAST_RETRIES = {"max_retry_seconds": 1}


def settings_case(change: dict[str, Any], message: str) -> Case:
    """A settings error: one line, exit 2, before input is read, so the emulator gets no request."""
    return Case(GOOD, 2, re.escape(SETTINGS_BEFORE_INPUT) + message, {}, config=change)


#: Records a run cannot use, one per reason; under ``on_invalid_record: skip`` they are records 3-8.
UNUSABLE: tuple[dict[str, Any], ...] = (
    {"customer_id": 7},
    {"email": "not-an-email-at-all"},
    {"audience": "members", "email": "erin@example.com", "in_audience": "maybe"},
    {"email": "a" * 288 + "@example.com"},
    {"audience": "k" * 300, "email": "erin@example.com"},
    {"type": "track", "event": "Page Viewed", "properties": {"audience_key": "vip", "email": "erin@example.com"}},
)


def line5(message: str) -> str:
    return re.escape(f"Line 5: {message}")


CASES: dict[str, Case] = {
    # -- malformed Singer input: the run stops at the bad line, after delivering the lines before it
    "not-json": Case(around(b'{"type": "RECORD", oops\n'), 1, line5("it is not valid JSON."), DELIVERED_BEFORE, (S1,)),
    "truncated-last-line": Case(
        BEFORE + b'{"type": "RECORD", "stream": "members", "record": {"email": "car',
        1,
        line5("it is not valid JSON; the input ends in the middle of a message (truncated?)."),
        DELIVERED_BEFORE,
        (S1,),
    ),
    "record-before-schema": Case(
        around(_lines(_record({"email": DAN}, stream="ghost"))),
        1,
        line5("A record for stream 'ghost' was encountered before a corresponding schema. Fix the tap."),
        DELIVERED_BEFORE,
        (S1,),
    ),
    "record-breaks-schema": Case(
        bad_record({"email": 987654321}),
        1,
        line5("Record does not match its SCHEMA (stream 'members', record 3): email fails 'type'."),
        DELIVERED_BEFORE,
        (S1,),
        stderr_lacks=("987654321",),
    ),
    "message-without-type": Case(
        around(_lines({"stream": "members", "record": {"email": DAN}})),
        1,
        line5('the message has no "type".'),
        DELIVERED_BEFORE,
        (S1,),
    ),
    "unknown-message-type": Case(
        around(_lines({"type": "RECORDZ", "stream": "members", "record": {"email": DAN}})),
        1,
        line5("unknown message type 'RECORDZ'."),
        DELIVERED_BEFORE,
        (S1,),
    ),
    "line-of-17-mib": Case(
        around(json.dumps(_record({"email": DAN, "notes": "x" * (17 * MIB)})).encode() + b"\n"),
        1,
        line5("longer than 16 MiB;"),
        DELIVERED_BEFORE,
        (S1,),
    ),
    "valid-line-of-2-mb-is-accepted": Case(
        around(_lines(_record({"email": DAN, "notes": "x" * 2_000_000}))),
        0,
        None,
        {"members (EMAIL)": frozenset({sha(ALICE), sha(BOB), sha(DAN), sha(CAROL)})},
        (S2,),
    ),
    "invalid-utf-8": Case(
        around(b'{"type": "RECORD", "stream": "members", "record": {"email": "dan.s\xff\xfecret@example.com"}}\n'),
        1,
        line5("it is not valid UTF-8."),
        DELIVERED_BEFORE,
        (S1,),
    ),
    "json-array-not-object": Case(
        around(b"[1, 2]\n"), 1, line5("not a Singer message (a JSON object)."), DELIVERED_BEFORE, (S1,)
    ),
    # -- unusable records, on_invalid_record: skip (default): counted by reason, logged by position
    "skip-unusable-records": Case(
        around(_lines(*(_record(record) for record in UNUSABLE))),
        0,
        None,
        DELIVERED_ALL,
        (S2,),
        invalid={
            "no identifier (email, IDFA or Android advertising id)": 1,
            "email is not an address (one @ with text on both sides, no spaces)": 1,
            "membership value is not a boolean (true/false, 1/0)": 1,
            "email longer than 254 characters": 1,
            "audience key longer than 200 characters": 1,
            "track names an audience but carries no membership (property or event name)": 1,
        },
        stderr_has=tuple(f"stream 'members', record {n}" for n in range(3, 3 + len(UNUSABLE))),
        stderr_lacks=("maybe", "k" * 40, "a" * 40),
    ),
    "fail-on-invalid-record": Case(
        bad_record({"email": "not-an-email-at-all"}),
        1,
        line5("Invalid record (stream 'members', record 3): email is not an address"),
        DELIVERED_BEFORE,
        (S1,),
        config={"on_invalid_record": "fail"},
    ),
    # -- settings: every wrong one named in one line, before any input is read or request sent
    "settings-no-ad-account": settings_case({"ad_account_id": None}, "ad_account_id is required"),
    "settings-ad-account-not-digits": settings_case(
        {"ad_account_id": "act_549755885175"}, "ad_account_id must be a string of digits"
    ),
    "settings-no-credentials": settings_case(
        {"access_token": None},
        re.escape("access_token, or all of refresh_token, client_id and client_secret, is required"),
    ),
    "settings-refresh-token-without-secret": settings_case(
        {"access_token": None, "refresh_token": "emulator-refresh-token", "client_id": "emulator-client-id"},
        r".*\(missing: client_secret\)",
    ),
    "settings-template-without-audience": settings_case(
        {"list_name_template": "pinterest {list_type}"}, re.escape("list_name_template must contain {audience}")
    ),
    "settings-bad-sync-mode": settings_case(
        {"sync_mode": "everything"}, "sync_mode must be one of changes, add_only, mirror"
    ),
    "settings-removal-fraction-2": settings_case({"max_removal_fraction": 2}, "max_removal_fraction must be at most 1"),
    "settings-records-per-request-0": settings_case(
        {"records_per_request": 0}, "records_per_request must be at least 1"
    ),
    "settings-api-url-ftp": settings_case({"api_url": "ftp://x"}, re.escape("api_url must be an http(s) URL")),
    "settings-store-in-proc": Case(
        GOOD,
        1,
        re.escape("store_url sqlite:////proc/forbidden/x.db cannot be opened"),
        {},
        config={"store_url": "sqlite:////proc/forbidden/x.db"},
    ),
    "settings-store-postgres-unreachable": Case(
        GOOD,
        1,
        r"store_url postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/db cannot be opened",
        {},
        config={"store_url": f"postgresql+psycopg://u:{PG_PASSWORD}@127.0.0.1:1/db"},
        stderr_lacks=(PG_PASSWORD,),
    ),
    "settings-several-wrong": Case(
        GOOD,
        2,
        re.escape(SETTINGS_BEFORE_INPUT)
        + r"(?=.*ad_account_id must be a string of digits)(?=.*sync_mode must be one of)"
        + r"(?=.*records_per_request must be at least 1)(?=.*api_url must be an http\(s\) URL)"
        + r"(?=.*list_name_template must contain \{audience\})(?=.*max_removal_fraction must be at most 1)"
        + r"(?=.*missing: client_secret)",
        {},
        config={
            "ad_account_id": "act_1",
            "sync_mode": "all",
            "records_per_request": 0,
            "api_url": "ftp://x",
            "list_name_template": "{list_type}",
            "max_removal_fraction": 2,
            "access_token": None,
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client-id",
        },
    ),
    # -- Pinterest answers nobody expects. Requests: 1 GET the ad account (the start-of-run check),
    # 2 GET customer_lists, 3 POST the list, 4 POST its audience.
    "pinterest-html-502-always": Case(
        GOOD,
        1,
        re.escape("Pinterest refused reading ad account 549755885175, HTTP 502: unexpected reply (text/html"),
        {},
        config=FAST_RETRIES,
        faults=Faults(odd_reply_nth=dict.fromkeys(range(1, 200), "html")),
        stderr_lacks=("<html",),
    ),
    "pinterest-empty-reply-to-create": Case(
        GOOD,
        1,
        re.escape("Pinterest refused creating customer list 'members (EMAIL)', HTTP 200: reply is not JSON"),
        DELIVERED_ALL,  # the emulator made the list; only its reply was lost
        config=FAST_RETRIES,
        faults=Faults(odd_reply_nth={3: "empty"}),
    ),
    "pinterest-other-json-to-create": Case(
        GOOD,
        1,
        re.escape("Pinterest refused creating customer list 'members (EMAIL)'") + r".*reply carries no list id",
        DELIVERED_ALL,
        config=FAST_RETRIES,
        faults=Faults(odd_reply_nth={3: "wrong_json"}),
    ),
    "pinterest-text-to-listing": Case(
        GOOD,
        1,
        re.escape("Pinterest refused listing customer lists, HTTP 200: reply is not JSON"),
        {},
        config=FAST_RETRIES,
        faults=Faults(odd_reply_nth={2: "not_json"}),
    ),
}

#: Rows that fail because of a bug in the package, each explained in its reason.
XFAIL: dict[str, str] = {}


@dataclass
class Outcome:
    """What one row's run left behind."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    held: dict[str, frozenset[str]]
    requests: list[str]

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def states(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def play(case: Case, directory: Path) -> Outcome:
    """Run the executable on the row's bytes against a fresh emulator; collect what it left."""
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), openapi_path=openapi_path(), faults=case.faults) as emu:
        config: dict[str, Any] = {
            "ad_account_id": AD_ACCOUNT,
            "access_token": ACCESS_TOKEN,
            "api_url": emu.url,
            "store_url": f"sqlite:///{directory / 'store.db'}",
            "report_path": str(directory / "report.json"),
            "max_requests_per_second": 0,
        }
        for name, value in case.config.items():
            if value is None:
                config.pop(name, None)
            else:
                config[name] = value
        config_file = directory / "config.json"
        config_file.write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_PINTEREST_AUDIENCES_")}
        completed = subprocess.run(
            [str(EXECUTABLE), "--config", str(config_file)],
            input=case.singer,
            capture_output=True,
            timeout=120,
            check=False,
            env=env,
        )
        lists = emu.customer_lists()
        names = [item.name for item in lists]
        assert len(names) == len(set(names)), f"duplicate lists: {sorted(names)}"
        report_file = directory / "report.json"
        return Outcome(
            completed.returncode,
            completed.stdout.decode(),
            completed.stderr.decode(errors="replace"),
            json.loads(report_file.read_text()) if report_file.exists() else None,
            {item.name: item.members for item in lists},
            [f"{r.method} {r.path}" for r in emu.requests],
        )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every row played once, several at a time."""
    with ThreadPoolExecutor(max_workers=max(4, (os.cpu_count() or 1) * 2)) as pool:
        futures = {name: pool.submit(play, case, tmp_path_factory.mktemp(name)) for name, case in CASES.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, id=name, marks=[pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else [])
        for name in CASES
    ],
)
def test_bad_input(name: str, outcomes: dict[str, Outcome]) -> None:
    case, run = CASES[name], outcomes[name]
    assert run.returncode == case.exit_code, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    if case.exit_code:
        errors = [line for line in run.stderr.splitlines() if line.startswith(ERROR)]
        assert errors == [run.last_line], run.stderr[-3000:]
    if case.last_line is not None:
        pattern = re.escape(ERROR) + case.last_line if case.exit_code else case.last_line
        assert re.match(pattern, run.last_line), run.last_line
    lowered = run.stderr.lower()
    for raw in RAW:
        assert raw.lower() not in lowered
    for text in case.stderr_lacks:
        assert text not in run.stderr
    for text in case.stderr_has:
        assert text in run.stderr
    assert run.held == case.held
    assert run.states == list(case.states)
    if name.startswith("settings-"):
        assert run.requests == [], "settings are checked before anything is sent"
    if case.invalid is not None:
        assert run.report is not None
        assert run.report["invalid_records"] == case.invalid
