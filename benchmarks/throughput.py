"""Throughput, memory and request counts of the target against no-op baselines.

    python benchmarks/throughput.py                       # 200k and 1M records
    python benchmarks/throughput.py --quick               # 20k records, a smoke run
    python benchmarks/throughput.py --sizes 200000 --quota --write

Every program runs as a child process, one after another (the machine has 2 cores), on the
same generated input per size: Segment Engage identify calls (SCHEMA, RECORDs, a STATE).

- noop-sdk-defaults: ``benchmarks/noop_target.py``, a singer-sdk BatchSink target that drops
  everything (default reader, record validation on);
- noop-sdk-fast: the same with the msgspec reader and ``validate_records: false``;
- plain-python-floor: ``benchmarks/floor.py`` (read, ``json.loads``, strip+lower, SHA-256);
- target-reading-only: ``benchmarks/reading_only.py``, the target itself with its batches
  dropped where they would go to the sender: reading, the SCHEMA check, classifying and
  hashing, batching; nothing planned, sent or stored. Its records/s bound the target's,
  whatever sending costs;
- target: ``target-pinterest-audiences`` against the Pinterest emulator, which runs in its
  own process (``benchmarks/emulator_server.py``), so its CPU is not the target's, although
  on 2 cores the two do share the machine; the target waits for each reply anyway.

Wall time is from the child's start to its exit (Python start-up and imports included);
peak RSS is the largest sum of resident memory over the child and its own children (the
target's sender process), read from ``/proc`` every 20 ms, and at least the child's
``ru_maxrss`` from ``os.wait4``. ``--quota`` adds a run against an
emulator with 0.2 s latency and a 10 requests/s quota, with the target paced at 10/s.
Progress goes to stderr, the Markdown results to stdout (and ``benchmarks/results.md`` with
``--write``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
TARGET = shutil.which("target-pinterest-audiences") or str(Path(PYTHON).parent / "target-pinterest-audiences")
AD_ACCOUNT = "549755885175"
ACCESS_TOKEN = "emulator-access-token"  # noqa: S105 - the emulator's fixed test token
DEFAULT_RECORDS_PER_REQUEST = 5000
STREAM = "identifies"
#: Audience keys and their share of the records: lists of different sizes.
AUDIENCES = (
    ("high_value_customers", 0.34),
    ("cart_abandoners", 0.26),
    ("newsletter_subscribers", 0.2),
    ("lapsed_buyers", 0.12),
    ("vip_loyalty", 0.08),
)
LEAVE_SHARE = 0.10
DEVICE_SHARE = 1 / 3
IOS_SHARE = 0.5
PADDED_SHARE = 0.1
AS_IS_SHARE = 0.5
UPPER_SHARE = 0.2
CAPITAL_SHARE = 0.3
SIZE_200K = 200_000
SIZE_1M = 1_000_000
RSS_LIMIT_MB = 200
RSS_FLAT = 0.20
QUOTA_RPS = 10
# The target paces a notch under the quota: the emulator counts arrivals in fixed one-second
# windows, and network jitter can put an eleventh request paced at exactly 10/s into one.
QUOTA_CLIENT_RPS = 9.5
QUOTA_LATENCY = 0.2
QUOTA_RECORDS = 24_000
QUOTA_RECORDS_PER_REQUEST = 200

SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "messageId": {"type": "string"},
        "userId": {"type": ["string", "null"]},
        "anonymousId": {"type": ["string", "null"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "traits": {"type": "object", "additionalProperties": True},
        "context": {"type": "object", "additionalProperties": True},
    },
    "required": ["type", "messageId"],
}


SRC = HERE.parent / "target_pinterest_audiences"


def code_version() -> str:
    """The commit measured, and whether the package differs from it (others may edit it meanwhile)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", str(SRC)], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (f" with {len(changed)} uncommitted change(s) in the package" if changed else "")


def src_stamp() -> float:
    """The newest modification time of the package's source files."""
    return max((path.stat().st_mtime for path in SRC.rglob("*.py")), default=0.0)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- input ------------------------------------------------------------------------------------


@dataclass
class Expected:
    """What the emulator must hold after the target ran on an input: members per list name."""

    records: int
    members: dict[str, int] = field(default_factory=dict)
    leaves: int = 0


def _mixed_case(rng: random.Random, text: str) -> str:
    """Half as is, a fifth upper case, the rest with random capitals."""
    style = rng.random()
    if style < AS_IS_SHARE:
        return text
    if style < AS_IS_SHARE + UPPER_SHARE:
        return text.upper()
    return "".join(c.upper() if rng.random() < CAPITAL_SHARE else c for c in text)


def generate_input(path: Path, records: int, seed: int = 7) -> Expected:
    """Write SCHEMA + RECORD lines + a STATE; return the members each list must end with."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    keys = [key for key, _ in AUDIENCES]
    weights = [share for _, share in AUDIENCES]
    expected = Expected(records)
    dumps = json.dumps
    with path.open("w", encoding="utf-8") as out:
        out.write(dumps({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": ["messageId"]}))
        out.write("\n")
        for number in range(records):
            key = rng.choices(keys, weights)[0]
            member = rng.random() >= LEAVE_SHARE
            email = _mixed_case(rng, f"user{number:08d}.{rng.randrange(10_000):04d}@example.com")
            if rng.random() < PADDED_SHARE:
                email = f"  {email} "
            context: dict[str, Any] = {
                "personas": {
                    "computation_class": "audience",
                    "computation_key": key,
                    "computation_id": f"aud_{keys.index(key)}",
                    "space_id": "spa_benchmark",
                },
                "library": {"name": "analytics.js", "version": "2.11.1"},
            }
            list_types = ["EMAIL"]
            if rng.random() < DEVICE_SHARE:
                ios = rng.random() < IOS_SHARE
                device_id = str(uuid.UUID(int=rng.getrandbits(128) | 1, version=4))
                context["device"] = {
                    "type": "ios" if ios else "android",
                    "advertisingId": device_id.upper() if ios else device_id,
                }
                list_types.append("IDFA" if ios else "MAID")
            record = {
                "type": "identify",
                "messageId": f"msg-{number}",
                "userId": f"u{number}",
                "anonymousId": None,
                "timestamp": "2024-05-01T12:00:00.000Z",
                "traits": {"email": email, key: member},
                "context": context,
            }
            out.write(dumps({"type": "RECORD", "stream": STREAM, "record": record}))
            out.write("\n")
            if member:
                for list_type in list_types:
                    name = f"{key} ({list_type})"
                    expected.members[name] = expected.members.get(name, 0) + 1
            else:
                expected.leaves += 1
        out.write(dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"position": records}}}}))
        out.write("\n")
    return expected


# -- child processes --------------------------------------------------------------------------


@dataclass
class Run:
    program: str
    records: int
    seconds: float
    max_rss_mb: float
    cpu_seconds: float
    requests: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def _parent(stat: Path) -> int | None:
    """A process's parent from /proc/<pid>/stat (field 4, after the command in brackets)."""
    try:
        return int(stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


def _parents() -> dict[int, int | None]:
    """Every process's parent."""
    return {int(stat.parent.name): _parent(stat) for stat in Path("/proc").glob("[0-9]*/stat")}


def _tree(pid: int, parents: dict[int, int | None]) -> list[int]:
    """A process and its descendants."""
    return [pid, *(found for child, parent in parents.items() if parent == pid for found in _tree(child, parents))]


def _rss_kb(pid: int) -> int:
    """Resident memory of a process, in KiB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


class TreeRss:
    """The peak of a process tree's summed RSS, sampled by a thread every 20 ms.

    The tree is looked up once a second (reading every /proc/<pid>/stat costs ~6 ms, a
    share of a core that the measured program would miss on 2 cores); the sender process
    starts once and lives until the target ends.
    """

    def __init__(self, pid: int) -> None:
        self.peak_kb = 0
        self._pid = pid
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        pids, looked = [self._pid], 0.0
        while not self._done.wait(0.02):
            if time.monotonic() - looked >= 1.0:
                pids, looked = _tree(self._pid, _parents()), time.monotonic()
            self.peak_kb = max(self.peak_kb, sum(map(_rss_kb, pids)))

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._done.set()
        self._thread.join()
        return self.peak_kb / 1024


def run_child(argv: list[str], stderr_path: Path, cwd: Path) -> tuple[float, float, float]:
    """Run a child to its end; return wall seconds, peak RSS in MB (with its children) and CPU seconds."""
    with stderr_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd)
        tree = TreeRss(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        tree_mb = tree.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        msg = f"{argv[:3]} exited with {proc.returncode}; stderr ends with:\n{tail}"
        raise RuntimeError(msg)
    return seconds, max(tree_mb, usage.ru_maxrss / 1024), usage.ru_utime + usage.ru_stime


class Emulator:
    """``benchmarks/emulator_server.py`` as a child; ``stop()`` returns its summary."""

    def __init__(self, workdir: Path, *, latency: float = 0.0, quota_rps: float | None = None) -> None:
        self.summary_path = workdir / f"emulator-{time.monotonic_ns()}.json"
        argv = [PYTHON, str(HERE / "emulator_server.py"), "--summary", str(self.summary_path)]
        if latency:
            argv += ["--latency", str(latency)]
        if quota_rps:
            argv += ["--quota-rps", str(quota_rps)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None  # noqa: S101
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.proc.kill()
            msg = "the emulator did not start"
            raise RuntimeError(msg)
        self.cpu_seconds = 0.0
        self.max_rss_mb = 0.0

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.max_rss_mb = usage.ru_maxrss / 1024
        return json.loads(self.summary_path.read_text(encoding="utf-8"))


def target_config(workdir: Path, url: str, tag: str, **extra: Any) -> Path:  # noqa: ANN401
    config = {
        "access_token": ACCESS_TOKEN,
        "ad_account_id": AD_ACCOUNT,
        "api_url": url,
        "store_url": f"sqlite:///{workdir / f'store-{tag}.db'}",
        "max_requests_per_second": 0,
        "report_path": str(workdir / f"report-{tag}.json"),
        **extra,
    }
    path = workdir / f"config-{tag}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@dataclass
class ListCheck:
    name: str
    operation: str
    identifiers: int
    requests: int
    records_sent: int
    bound: int

    @property
    def ok(self) -> bool:
        return self.requests <= self.bound


def check_emulator(summary: dict[str, Any], expected: Expected, per_request: int) -> list[ListCheck]:  # noqa: C901
    """Fail loudly unless every list holds its expected members; count requests per list and operation."""
    held = {item["name"]: item for item in summary["lists"]}
    problems = []
    for name, count in sorted(expected.members.items()):
        found = held.get(name)
        if found is None:
            problems.append(f"list '{name}' is missing (expected {count} members)")
        elif found["members"] != count:
            problems.append(f"list '{name}' holds {found['members']} members, expected {count}")
    extra = sorted(set(held) - set(expected.members))
    if extra:
        problems.append(f"unexpected lists: {extra}")
    if len(held) != len(summary["lists"]) or summary.get("duplicate_name_creates"):
        problems.append("a list name was created twice")
    if problems:
        raise RuntimeError("emulator check failed: " + "; ".join(problems))
    names_by_id = {item["id"]: item["name"] for item in summary["lists"]}
    counts: dict[tuple[str, str], list[int]] = {}
    for row in summary["requests"]:
        if row["operation"] is None or row["status"] != 200:  # noqa: PLR2004
            continue
        name = row["name"] if row["operation"] == "CREATE" else names_by_id.get(row["path"].rsplit("/", 1)[-1])
        operation = "REMOVE" if row["operation"] == "REMOVE" else "ADD"  # a create carries the first ADD
        tally = counts.setdefault((str(name), operation), [0, 0])
        tally[0] += 1
        tally[1] += row["records"]
    checks = []
    for name, count in sorted(expected.members.items()):
        requests, sent = counts.pop((name, "ADD"), [0, 0])
        checks.append(ListCheck(name, "ADD", count, requests, sent, math.ceil(count / per_request)))
    for (name, operation), (requests, sent) in sorted(counts.items()):
        checks.append(ListCheck(name, operation, 0, requests, sent, 0))
    return checks


# -- measurements -----------------------------------------------------------------------------


@dataclass
class SizeResult:
    records: int
    runs: dict[str, Run]
    checks: list[ListCheck]
    server_seconds: float
    emulator_cpu: float


def measure_size(workdir: Path, records: int) -> SizeResult:
    input_path = workdir / f"input-{records}.jsonl"
    log(f"{records} records: writing {input_path.name}")
    expected = generate_input(input_path, records)
    log(f"  {input_path.stat().st_size / 1e6:.0f} MB, {len(expected.members)} lists, {expected.leaves} leaves")
    runs: dict[str, Run] = {}

    def child(program: str, argv: list[str]) -> Run:
        log(f"  {program} ...")
        seconds, rss, cpu = run_child(argv, workdir / f"{program}-{records}.stderr", workdir)
        run = Run(program, records, seconds, rss, cpu)
        log(f"  {program}: {seconds:.1f} s, {run.rate:,.0f} records/s, {rss:.0f} MB")
        runs[program] = run
        return run

    fast_config = workdir / "noop-fast.json"
    fast_config.write_text(json.dumps({"validate_records": False}), encoding="utf-8")
    noop = str(HERE / "noop_target.py")
    child("noop-sdk-defaults", [PYTHON, noop, "--input", str(input_path)])
    child("noop-sdk-fast", [PYTHON, noop, "--fast", "--config", str(fast_config), "--input", str(input_path)])
    child("plain-python-floor", [PYTHON, str(HERE / "floor.py"), "--input", str(input_path)])
    dry_config = target_config(workdir, "http://127.0.0.1:9/v5", f"{records}-dry", dry_run=True)
    reading = [PYTHON, str(HERE / "reading_only.py"), "--config", str(dry_config), "--input", str(input_path)]
    child("target-reading-only", reading)

    emulator = Emulator(workdir)
    try:
        config = target_config(workdir, emulator.url, str(records))
        run = child("target", [TARGET, "--config", str(config), "--input", str(input_path)])
    finally:
        summary = emulator.stop()
    report = json.loads((workdir / f"report-{records}.json").read_text(encoding="utf-8"))
    run.requests = len(summary["requests"])
    if report.get("requests") != run.requests:
        run.notes.append(f"the run report counts {report.get('requests')} requests, the emulator {run.requests}")
    checks = check_emulator(summary, expected, DEFAULT_RECORDS_PER_REQUEST)
    server = sum(row["end"] - row["start"] for row in summary["requests"])
    log(f"  emulator holds the expected members in all {len(expected.members)} lists")
    input_path.unlink()
    return SizeResult(records, runs, checks, server, emulator.cpu_seconds)


@dataclass
class QuotaResult:
    records: int
    lists: int
    seconds: float
    requests: int
    write_requests: int
    window_requests: int
    window_seconds: float
    rejections: int
    status_429: int

    @property
    def achieved(self) -> float:
        return self.window_requests / self.window_seconds if self.window_seconds else 0.0


def measure_quota(workdir: Path) -> QuotaResult:
    input_path = workdir / "input-quota.jsonl"
    log(f"quota: writing {QUOTA_RECORDS} records")
    expected = generate_input(input_path, QUOTA_RECORDS, seed=11)
    emulator = Emulator(workdir, latency=QUOTA_LATENCY, quota_rps=QUOTA_RPS)
    try:
        config = target_config(
            workdir,
            emulator.url,
            "quota",
            max_requests_per_second=QUOTA_CLIENT_RPS,
            records_per_request=QUOTA_RECORDS_PER_REQUEST,
        )
        log("  target against the emulator with latency and quota ...")
        seconds, _, _ = run_child(
            [TARGET, "--config", str(config), "--input", str(input_path)], workdir / "quota.stderr", workdir
        )
    finally:
        summary = emulator.stop()
    check_emulator(summary, expected, QUOTA_RECORDS_PER_REQUEST)
    rows = summary["requests"]
    writes = [row for row in rows if row["operation"] is not None]
    first = min(row["start"] for row in writes)
    last = max(row["end"] for row in writes)
    in_window = [row for row in rows if first <= row["start"] <= last]
    result = QuotaResult(
        records=QUOTA_RECORDS,
        lists=len(summary["lists"]),
        seconds=seconds,
        requests=len(rows),
        write_requests=len(writes),
        window_requests=len(in_window),
        window_seconds=last - first,
        rejections=summary["quota_rejections"],
        status_429=sum(1 for row in rows if row["status"] == 429),  # noqa: PLR2004
    )
    log(f"  {result.achieved:.2f} requests/s over the write phase, {result.rejections} quota rejections")
    return result


# -- report -----------------------------------------------------------------------------------

PROGRAMS = ("noop-sdk-defaults", "noop-sdk-fast", "plain-python-floor", "target-reading-only", "target")


def _verdict(ok: bool | None) -> str:  # noqa: FBT001
    return "n/a" if ok is None else ("**met**" if ok else "**NOT met**")


def render(results: list[SizeResult], quota: QuotaResult | None, command: str, version: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        (
            f"`{command}` on {os.cpu_count()} cores, Python {sys.version.split()[0]},"
            f" {time.strftime('%Y-%m-%d %H:%M')}; target at {version}."
        ),
        "",
    ]
    if results:
        lines += [
            "| program | records | seconds | records/s | x noop-defaults | x floor | peak RSS MB | requests |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in results:
            base = result.runs["noop-sdk-defaults"].rate
            floor = result.runs["plain-python-floor"].rate
            for program in PROGRAMS:
                run = result.runs[program]
                lines.append(
                    f"| {program} | {run.records:,} | {run.seconds:.1f} | {run.rate:,.0f} | {run.rate / base:.2f} |"
                    f" {run.rate / floor:.2f} | {run.max_rss_mb:.0f} | {'' if run.requests is None else run.requests} |"
                )
        lines.append("")
        for result in results:
            target = result.runs["target"]
            cpu = ", ".join(f"{p} {result.runs[p].cpu_seconds:.1f}" for p in PROGRAMS)
            lines.append(
                f"- {result.records:,} records: CPU seconds (user+sys): {cpu}; emulator process"
                f" {result.emulator_cpu:.1f}. The target waited {result.server_seconds:.1f} s"
                f" ({result.server_seconds / target.seconds:.0%} of its wall time) for the emulator's replies."
            )
            lines.extend(f"- {result.records:,} records: {note}" for note in target.notes)
        lines += ["", "## Goals", ""]
        speed = []
        floor_share = []
        reading_share = []
        for result in results:
            target = result.runs["target"].rate
            ratio = target / result.runs["noop-sdk-defaults"].rate
            share = target / result.runs["plain-python-floor"].rate
            speed.append(f"{result.records:,}: {ratio:.2f}x {_verdict(ratio >= 3)}")  # noqa: PLR2004
            floor_share.append(f"{result.records:,}: {share:.2f}x {_verdict(share >= 0.5)}")  # noqa: PLR2004
            reading = result.runs["target-reading-only"].rate / result.runs["plain-python-floor"].rate
            reading_share.append(f"{result.records:,}: {reading:.2f}x")
        lines.append(f"- target ≥ 3x noop-sdk-defaults (records/s): {'; '.join(speed)}")
        lines.append(f"- target ≥ 0.5x plain-python-floor (records/s): {'; '.join(floor_share)}")
        lines.append(
            "  - its ceiling, the reading side alone (target-reading-only) against the floor:"
            f" {'; '.join(reading_share)}"
        )
        by_size = {result.records: result.runs["target"].max_rss_mb for result in results}
        at_1m = by_size.get(SIZE_1M)
        if at_1m is None:
            lines.append(f"- target peak RSS ≤ {RSS_LIMIT_MB} MB at 1,000,000 records: n/a (1M not run)")
        else:
            ok = at_1m <= RSS_LIMIT_MB
            lines.append(f"- target peak RSS ≤ {RSS_LIMIT_MB} MB at 1,000,000 records: {at_1m:.0f} MB {_verdict(ok)}")
        if SIZE_200K in by_size and SIZE_1M in by_size:
            growth = by_size[SIZE_1M] / by_size[SIZE_200K] - 1
            lines.append(
                f"- target peak RSS flat from 200k to 1M (within {RSS_FLAT:.0%}):"
                f" {by_size[SIZE_200K]:.0f} → {by_size[SIZE_1M]:.0f} MB ({growth:+.0%}) {_verdict(growth <= RSS_FLAT)}"
            )
        else:
            lines.append("- target peak RSS flat from 200k to 1M: n/a (needs both sizes)")
        for result in results:
            over = [check for check in result.checks if not check.ok]
            lines.append(
                f"- {result.records:,} records: requests per list and operation ≤ ceil(identifiers /"
                f" {DEFAULT_RECORDS_PER_REQUEST}): {len(result.checks) - len(over)} of {len(result.checks)}"
                f" within the bound, {sum(c.requests for c in result.checks)} requests where"
                f" {sum(c.bound for c in result.checks)} suffice {_verdict(not over)}"
            )
        largest = results[-1]
        lines += [
            "",
            f"### Requests per list and operation ({largest.records:,} records)",
            "",
            (
                "A create carries the list's first ADD records, so it counts as an ADD request."
                " Unique identifiers only: leaves (10%) name no existing member, so they send no REMOVE."
            ),
            "",
            "| list | operation | identifiers | requests | ceil(ids / per request) | records sent | within |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        lines.extend(
            f"| {c.name} | {c.operation} | {c.identifiers:,} | {c.requests} | {c.bound} | {c.records_sent:,} |"
            f" {'yes' if c.ok else 'NO'} |"
            for c in largest.checks
        )
    if quota is not None:
        use = quota.achieved / QUOTA_RPS
        lines += [
            "",
            "## Quota use",
            "",
            (
                f"Emulator with {QUOTA_LATENCY} s latency per request and a {QUOTA_RPS} requests/s quota (fixed"
                f" one-second windows); target with max_requests_per_second {QUOTA_CLIENT_RPS} and records_per_request"
                f" {QUOTA_RECORDS_PER_REQUEST}, {quota.records:,} records into {quota.lists} lists. The write phase"
                " runs from the start of the first create/ADD/REMOVE request to the end of the last (emulator-side"
                " wall-clock timestamps); every /v5 request that started in it counts."
            ),
            "",
            (
                "| run seconds | requests | write requests | write phase s | requests in phase | requests/s |"
                " quota use | quota 429s |"
            ),
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            (
                f"| {quota.seconds:.1f} | {quota.requests} | {quota.write_requests} | {quota.window_seconds:.1f} |"
                f" {quota.window_requests} | {quota.achieved:.2f} | {use:.0%} | {quota.rejections} |"
            ),
            "",
            f"- quota use ≥ 90 %: {use:.0%} {_verdict(use >= 0.9)}",  # noqa: PLR2004
            (
                f"- no 429 (quota rejections {quota.rejections}, 429 replies {quota.status_429}):"
                f" {_verdict(quota.rejections == 0 and quota.status_429 == 0)}"
            ),
        ]
    return "\n".join(lines) + "\n"


def attempt(label: str, measure: Any, workdir: Path, size: int | None, failures: list[str]) -> Any:  # noqa: ANN401
    """Run one measurement; a crashed program or a wrong emulator state is reported, and the rest go on."""
    try:
        return measure(workdir) if size is None else measure(workdir, size)
    except RuntimeError as exc:
        log(f"FAILED {label}: {exc}")
        failures.append(f"{label}: {' '.join(str(exc).split())[-600:]}")
        return None


def choose_sizes(args: argparse.Namespace) -> list[int]:
    if args.only_quota:
        return []
    if args.quick:
        return [20_000]
    if args.sizes:
        return [int(size) for size in args.sizes.split(",") if size.strip()]
    if args.records:
        return [args.records]
    return [200_000, 1_000_000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, help="one size to run (instead of --sizes)")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes (default 200000,1000000)")
    parser.add_argument("--quick", action="store_true", help="20,000 records only, a smoke run")
    parser.add_argument("--quota", action="store_true", help="add the quota-use run")
    parser.add_argument("--only-quota", action="store_true", help="run only the quota-use run")
    parser.add_argument("--write", action="store_true", help="also write benchmarks/results.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, reports, logs)")
    args = parser.parse_args()
    sizes = choose_sizes(args)
    version = code_version()
    stamp = src_stamp()
    failures: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="tpa-bench-"))
    log(f"working in {workdir}")
    try:
        measured = [attempt(f"{size:,} records", measure_size, workdir, size, failures) for size in sorted(sizes)]
        results = [result for result in measured if result is not None]
        quota = attempt("quota run", measure_quota, workdir, None, failures) if args.quota or args.only_quota else None
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:])
    if src_stamp() != stamp:
        version += " (WARNING: the package changed during the run, so the rows may measure different code)"
        log("the package changed during the run")
    text = render(results, quota, command.strip(), version)
    if failures:
        text += "\n## Failures\n\n" + "".join(f"- {failure}\n" for failure in failures)
    print(text)
    if args.write:
        (HERE / "results.md").write_text(text, encoding="utf-8")
        log(f"wrote {HERE / 'results.md'}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
