"""Throughput, memory and request counts of the target against no-op baselines and its tap.

    python benchmarks/throughput.py                                  # every row, 200k and 1M, quota
    python benchmarks/throughput.py --sizes 200000 --only pipeline,target
    python benchmarks/throughput.py --only quota                     # the quota run alone
    python benchmarks/throughput.py --quick                          # 20k records, a smoke run
    python benchmarks/throughput.py --write                          # also benchmarks/results.md
    python benchmarks/throughput.py --repeat 3                       # each row's fastest of 3 runs

Every program runs as a child process, one after another (the machine has 2 cores), on the
same generated input per size: Segment Engage identify calls. Rows (``--only`` takes these
names, or the groups ``noop``, ``floor``, ``reading``, ``target``, ``pipeline``, ``quota``):

- noop-sdk-defaults: ``benchmarks/noop_target.py``, a singer-sdk BatchSink target that drops
  everything (default reader, record validation on);
- noop-sdk-fast: the same with the msgspec reader and ``validate_records: false``;
- plain-python-floor: ``benchmarks/floor.py`` (read, ``json.loads``, strip+lower, SHA-256);
- target-reading-only: ``benchmarks/reading_only.py``, the target itself with each batch
  dropped at ``AudienceSink.process_batch``: reading, the SCHEMA check, classifying and
  hashing, batching; nothing planned, sent or stored. Its records/s bound the target's;
- target: ``target-pinterest-audiences --input`` on the Singer file, against the Pinterest
  emulator in its own process (``benchmarks/emulator_server.py``), unthrottled
  (``max_requests_per_second: 0``);
- tap-alone: ``tap-jsonl`` 0.3.1 (the demo's ``tap-segment``, see ``meltano.yml``) reading the
  same records as a Segment export (JSONL files of 100,000 lines), its output to /dev/null;
- pipeline: the shell pipeline ``tap-jsonl | target-pinterest-audiences`` on that export, the
  target against the emulator as in the target row. tap-jsonl pins singer-sdk 0.53, so it
  lives in its own venv, ``benchmarks/.venv-tap``, made on first use;
- quota (``--quota``, in the default set): the target at its default pacing (its own default
  ``max_requests_per_second``) against an emulator with 0.2 s latency and a quota of
  ``--quota-rps`` requests/s (default 7: the ``ads_write`` figure Braze quotes, which the
  target's default is chosen under).

Wall time is from the child's start to its exit (Python start-up and imports included);
peak RSS is the largest sum of resident memory over the child and its own children, read
from ``/proc`` every 20 ms, and at least the child's ``ru_maxrss`` from ``os.wait4``; in the
pipeline, each side's own peak is kept too. Progress goes to stderr, the Markdown results to
stdout (and ``benchmarks/results.md`` with ``--write``, or ``--output FILE``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
TARGET_NAME = "target-pinterest-audiences"
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
PIPELINE_GOAL = 1.2
NOOP_GOAL = 2.0
QUOTA_USE_GOAL = 0.9
#: The emulator's quota in the quota run: 7 requests/s, the ads_write figure Braze quotes for
#: Pinterest (the target's default pacing is chosen under it; see the README).
QUOTA_RPS = 7.0
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
TAP_VENV = HERE / ".venv-tap"
TAP = TAP_VENV / "bin" / "tap-jsonl"
TAP_REQUIREMENT = "tap-jsonl==0.3.1"
TAP_STREAM = "segment_audiences"
#: Lines per export file: tap-jsonl holds a whole file's records before emitting them, and
#: Segment's archives come in many files anyway.
EXPORT_FILE_RECORDS = 100_000
#: The rows, in the order they run; --only takes these or the group names.
ROWS = (
    "noop-sdk-defaults",
    "noop-sdk-fast",
    "plain-python-floor",
    "target-reading-only",
    "target",
    "tap-alone",
    "pipeline",
)
GROUPS = {
    "noop": ("noop-sdk-defaults", "noop-sdk-fast"),
    "floor": ("plain-python-floor",),
    "reading": ("target-reading-only",),
    "target": ("target",),
    "pipeline": ("tap-alone", "pipeline"),
}


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


class ExportFiles:
    """A Segment export as tap-jsonl reads it: one message a line, a new file every EXPORT_FILE_RECORDS."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.file: Any = None

    def write(self, number: int, record: dict[str, Any]) -> None:
        if number % EXPORT_FILE_RECORDS == 0:
            self.close()
            name = f"engage-audiences-{number // EXPORT_FILE_RECORDS:04d}.jsonl"
            self.file = (self.folder / name).open("w", encoding="utf-8")
        self.file.write(json.dumps(record))
        self.file.write("\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def generate_input(path: Path, records: int, seed: int = 7, export: Path | None = None) -> Expected:
    """Write SCHEMA + RECORD lines + a STATE; return the members each list must end with.

    With ``export``, the same records also go there as a Segment export: JSONL files of
    ``EXPORT_FILE_RECORDS`` lines each, one message a line, as tap-jsonl reads them.
    """
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    keys = [key for key, _ in AUDIENCES]
    weights = [share for _, share in AUDIENCES]
    expected = Expected(records)
    dumps = json.dumps
    files = ExportFiles(export) if export is not None else None
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
            if files is not None:
                files.write(number, record)
            if member:
                for list_type in list_types:
                    name = f"{key} ({list_type})"
                    expected.members[name] = expected.members.get(name, 0) + 1
            else:
                expected.leaves += 1
        out.write(dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"position": records}}}}))
        out.write("\n")
    if files is not None:
        files.close()
    return expected


# -- child processes --------------------------------------------------------------------------


@dataclass
class Run:
    program: str
    records: int
    seconds: float
    max_rss_mb: float
    cpu_seconds: float
    load: float = 0.0
    requests: int | None = None
    #: In the pipeline: each side's own peak RSS in MB (with its children).
    sides_mb: dict[str, float] = field(default_factory=dict)
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


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


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
    share of a core that the measured program would miss on 2 cores). Each direct child's
    subtree also has its own peak, under its command line (the two sides of a shell pipeline).
    """

    def __init__(self, pid: int) -> None:
        self.peak_kb = 0
        self.side_peaks_kb: dict[str, int] = {}
        self._pid = pid
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        pids, sides, looked = [self._pid], {}, 0.0
        while not self._done.wait(0.02):
            if time.monotonic() - looked >= 1.0:
                parents = _parents()
                pids, looked = _tree(self._pid, parents), time.monotonic()
                children = [child for child, parent in parents.items() if parent == self._pid]
                sides = {_cmdline(child): _tree(child, parents) for child in children}
            rss = {pid: _rss_kb(pid) for pid in pids}
            self.peak_kb = max(self.peak_kb, sum(rss.values()))
            for name, members in sides.items():
                total = sum(rss.get(pid, 0) for pid in members)
                self.side_peaks_kb[name] = max(self.side_peaks_kb.get(name, 0), total)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._done.set()
        self._thread.join()
        return self.peak_kb / 1024

    def side_mb(self, part: str) -> float:
        """The peak of the direct child whose command line holds ``part``, in MB.

        A child seen before it ran exec still shows the shell's command line (both sides'
        names): that one is left out.
        """
        sides = self.side_peaks_kb.items()
        return max((kb for name, kb in sides if part in name and not name.startswith("bash ")), default=0) / 1024


@dataclass
class Child:
    seconds: float
    max_rss_mb: float
    cpu_seconds: float
    tree: TreeRss


def run_child(argv: list[str], stderr_path: Path, cwd: Path) -> Child:
    """Run a child to its end: wall seconds, peak RSS in MB (with its children), CPU seconds (the same)."""
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
    return Child(seconds, max(tree_mb, usage.ru_maxrss / 1024), usage.ru_utime + usage.ru_stime, tree)


def ensure_tap() -> Path:
    """tap-jsonl in its own venv (it pins singer-sdk 0.53), made on first use."""
    if TAP.exists():
        return TAP
    log(f"creating {TAP_VENV} with {TAP_REQUIREMENT} (once)")
    pip = [str(TAP_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for argv in ([PYTHON, "-m", "venv", str(TAP_VENV)], [*pip, TAP_REQUIREMENT]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"{' '.join(argv[:4])} failed: {done.stderr[-2000:]}"
            raise RuntimeError(msg)
    if not TAP.exists():
        msg = f"{TAP} is missing after installing {TAP_REQUIREMENT}"
        raise RuntimeError(msg)
    return TAP


def default_pacing() -> float:
    """The target's own default max_requests_per_second, from its --about."""
    about = subprocess.run([TARGET, "--about", "--format", "json"], capture_output=True, text=True, check=True)
    return float(json.loads(about.stdout)["settings"]["properties"]["max_requests_per_second"]["default"])


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


def target_config(workdir: Path, url: str, tag: str, pacing: float | None = 0, **extra: Any) -> Path:  # noqa: ANN401
    """A config file for the target; ``pacing`` None leaves max_requests_per_second at the target's default."""
    config = {
        "access_token": ACCESS_TOKEN,
        "ad_account_id": AD_ACCOUNT,
        "api_url": url,
        "store_url": f"sqlite:///{workdir / f'store-{tag}.db'}",
        "report_path": str(workdir / f"report-{tag}.json"),
        **({} if pacing is None else {"max_requests_per_second": pacing}),
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
class Emulated:
    """What the emulator saw in a row that ran against it."""

    checks: list[ListCheck]
    server_seconds: float
    emulator_cpu: float


@dataclass
class SizeResult:
    records: int
    runs: dict[str, Run]
    emulated: dict[str, Emulated]


def measure_size(  # noqa: C901, PLR0915
    workdir: Path, records: int, rows: tuple[str, ...], failures: list[str], repeat: int = 1
) -> SizeResult:
    """Run the chosen rows on one generated input; a failing row is reported and the others go on.

    Each row runs ``repeat`` times and keeps its fastest run: on a shared machine the other
    work only ever slows a run down.
    """
    input_path = workdir / f"input-{records}.jsonl"
    export = workdir / f"export-{records}"
    wants_export = "tap-alone" in rows or "pipeline" in rows
    log(f"{records:,} records: writing {input_path.name}" + (f" and {export.name}/" if wants_export else ""))
    expected = generate_input(input_path, records, export=export if wants_export else None)
    log(f"  {input_path.stat().st_size / 1e6:.0f} MB, {len(expected.members)} lists, {expected.leaves} leaves")
    result = SizeResult(records, {}, {})

    def child(program: str, argv: list[str]) -> Run:
        log(f"  {program} ...")
        ran = run_child(argv, workdir / f"{program}-{records}.stderr", workdir)
        run = Run(program, records, ran.seconds, ran.max_rss_mb, ran.cpu_seconds, load=os.getloadavg()[0])
        if program == "pipeline":
            run.sides_mb = {"tap-jsonl": ran.tree.side_mb("tap-jsonl"), "target": ran.tree.side_mb(TARGET_NAME)}
        log(
            f"  {program}: {ran.seconds:.1f} s, {run.rate:,.0f} records/s, {ran.max_rss_mb:.0f} MB, load {run.load:.2f}"
        )
        best = result.runs.get(program)
        if best is None or run.seconds < best.seconds:
            result.runs[program] = run
        return run

    def against_emulator(program: str, argv: Callable[[Path], list[str]]) -> None:
        """A row whose target writes to an emulator of its own; the lists must end as expected."""
        tag = f"{records}-{program}-{len(list(workdir.glob(f'config-{records}-{program}-*')))}"  # a new store each time
        emulator = Emulator(workdir)
        try:
            run = child(program, argv(target_config(workdir, emulator.url, tag)))
        finally:
            summary = emulator.stop()
        report = json.loads((workdir / f"report-{tag}.json").read_text(encoding="utf-8"))
        run.requests = len(summary["requests"])
        if report.get("requests") != run.requests:
            run.notes.append(f"the run report counts {report.get('requests')} requests, the emulator {run.requests}")
        checks = check_emulator(summary, expected, DEFAULT_RECORDS_PER_REQUEST)
        server = sum(row["end"] - row["start"] for row in summary["requests"])
        if result.runs.get(program) is run:
            result.emulated[program] = Emulated(checks, server, emulator.cpu_seconds)
        log(f"  {program}: the emulator holds the expected members in all {len(expected.members)} lists")

    noop = str(HERE / "noop_target.py")
    tap_config = workdir / f"tap-{records}.json"
    tap_config.write_text(
        json.dumps({"path": str(export / "*.jsonl"), "stream_name": TAP_STREAM, "primary_keys": ["messageId"]}),
        encoding="utf-8",
    )
    tap_argv = [str(TAP), "--config", str(tap_config)]

    def pipeline(config: Path) -> list[str]:
        tap_err = shlex.quote(str(workdir / f"pipeline-tap-{records}.stderr"))
        target_argv = shlex.join([TARGET, "--config", str(config)])
        return ["bash", "-c", f"set -o pipefail; {shlex.join(tap_argv)} 2>{tap_err} | {target_argv}"]

    def fast_noop() -> None:
        fast_config = workdir / "noop-fast.json"
        fast_config.write_text(json.dumps({"validate_records": False}), encoding="utf-8")
        child("noop-sdk-fast", [PYTHON, noop, "--fast", "--config", str(fast_config), "--input", str(input_path)])

    def reading_only() -> None:
        dry_config = target_config(workdir, "http://127.0.0.1:9/v5", f"{records}-dry", dry_run=True)
        child(
            "target-reading-only",
            [PYTHON, str(HERE / "reading_only.py"), "--config", str(dry_config), "--input", str(input_path)],
        )

    steps: dict[str, Callable[[], object]] = {
        "noop-sdk-defaults": lambda: child("noop-sdk-defaults", [PYTHON, noop, "--input", str(input_path)]),
        "noop-sdk-fast": fast_noop,
        "plain-python-floor": lambda: child(
            "plain-python-floor", [PYTHON, str(HERE / "floor.py"), "--input", str(input_path)]
        ),
        "target-reading-only": reading_only,
        "target": lambda: against_emulator(
            "target", lambda config: [TARGET, "--config", str(config), "--input", str(input_path)]
        ),
        "tap-alone": lambda: child("tap-alone", tap_argv),
        "pipeline": lambda: against_emulator("pipeline", pipeline),
    }
    for program in ROWS:
        if program not in rows:
            continue
        try:
            for _ in range(repeat):
                steps[program]()
        except (RuntimeError, OSError, ValueError) as exc:
            log(f"FAILED {program} at {records:,} records: {exc}")
            failures.append(f"{program} at {records:,} records: {' '.join(str(exc).split())[-600:]}")
    input_path.unlink()
    shutil.rmtree(export, ignore_errors=True)
    return result


@dataclass
class QuotaResult:
    records: int
    lists: int
    quota_rps: float
    pacing: float
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

    @property
    def use(self) -> float:
        return self.achieved / self.quota_rps


def measure_quota(workdir: Path, quota_rps: float) -> QuotaResult:
    """The target at its default pacing against an emulator with latency and a quota."""
    pacing = default_pacing()
    input_path = workdir / "input-quota.jsonl"
    log(f"quota: writing {QUOTA_RECORDS} records")
    expected = generate_input(input_path, QUOTA_RECORDS, seed=11)
    emulator = Emulator(workdir, latency=QUOTA_LATENCY, quota_rps=quota_rps)
    try:
        config = target_config(
            workdir, emulator.url, "quota", pacing=None, records_per_request=QUOTA_RECORDS_PER_REQUEST
        )
        log(f"  target at its default pacing ({pacing:g}/s) against a {quota_rps:g}/s quota with latency ...")
        ran = run_child(
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
        quota_rps=quota_rps,
        pacing=pacing,
        seconds=ran.seconds,
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


def _verdict(ok: bool | None) -> str:  # noqa: FBT001
    return "n/a" if ok is None else ("**met**" if ok else "**NOT met**")


def _ratio(run: Run | None, base: Run | None) -> str:
    return f"{run.rate / base.rate:.2f}" if run is not None and base is not None and base.rate else ""


def target_peak_mb(result: SizeResult) -> float | None:
    """The target's own peak RSS at a size: its row, or its side of the pipeline, whichever is larger."""
    peaks = []
    if "target" in result.runs:
        peaks.append(result.runs["target"].max_rss_mb)
    if "pipeline" in result.runs and result.runs["pipeline"].sides_mb.get("target"):
        peaks.append(result.runs["pipeline"].sides_mb["target"])
    return max(peaks) if peaks else None


def goals(results: list[SizeResult], quota: QuotaResult | None) -> list[str]:
    """One line per goal of issue 13, each with its figures and met / NOT met."""
    pipe, noop = [], []
    for result in results:
        runs = result.runs
        if "pipeline" in runs and "tap-alone" in runs:
            ratio = runs["pipeline"].seconds / runs["tap-alone"].seconds
            pipe.append(
                f"{result.records:,}: {ratio:.2f}x ({runs['pipeline'].seconds:.1f} s /"
                f" {runs['tap-alone'].seconds:.1f} s) {_verdict(ratio <= PIPELINE_GOAL)}"
            )
        if "target" in runs and "noop-sdk-defaults" in runs:
            target, base = runs["target"], runs["noop-sdk-defaults"]
            ratio = target.rate / base.rate
            # CPU seconds are less at the mercy of the machine's other work than wall time.
            noop.append(
                f"{result.records:,}: {ratio:.2f}x ({target.rate:,.0f} / {base.rate:,.0f} records/s;"
                f" by CPU seconds {base.cpu_seconds / target.cpu_seconds:.2f}x) {_verdict(ratio >= NOOP_GOAL)}"
            )
    lines = [
        f"- pipeline `tap-jsonl | target` ≤ {PIPELINE_GOAL}x tap-jsonl alone (wall time): "
        + ("; ".join(pipe) or "n/a (tap-alone and pipeline not both run)"),
        f"- target unthrottled ≥ {NOOP_GOAL:g}x noop-sdk-defaults (records/s): "
        + ("; ".join(noop) or "n/a (target and noop-sdk-defaults not both run)"),
    ]
    if quota is None:
        lines.append(f"- default pacing uses ≥ {QUOTA_USE_GOAL:.0%} of the quota with no 429: n/a (quota run not run)")
    else:
        ok = quota.use >= QUOTA_USE_GOAL and quota.rejections == 0 and quota.status_429 == 0
        lines.append(
            f"- default pacing ({quota.pacing:g}/s) uses ≥ {QUOTA_USE_GOAL:.0%} of a {quota.quota_rps:g}/s quota"
            f" with no 429: {quota.use:.0%} ({quota.achieved:.2f} requests/s), {quota.rejections} quota"
            f" rejections, {quota.status_429} 429 replies {_verdict(ok)}"
        )
    peaks = {result.records: peak for result in results if (peak := target_peak_mb(result)) is not None}
    if not peaks:
        lines.append(f"- target peak RSS ≤ {RSS_LIMIT_MB} MB and flat from 200k to 1M: n/a (no target row run)")
    else:
        under = all(peak <= RSS_LIMIT_MB for peak in peaks.values())
        figures = "; ".join(f"{records:,}: {peak:.0f} MB" for records, peak in sorted(peaks.items()))
        line = f"- target peak RSS ≤ {RSS_LIMIT_MB} MB: {figures} {_verdict(under)}"
        if SIZE_200K in peaks and SIZE_1M in peaks:
            growth = peaks[SIZE_1M] / peaks[SIZE_200K] - 1
            line += f"; flat from 200k to 1M (within {RSS_FLAT:.0%}): {growth:+.0%} {_verdict(growth <= RSS_FLAT)}"
        else:
            line += "; flat from 200k to 1M: n/a (needs both sizes)"
        lines.append(line)
    return lines


def render(  # noqa: C901
    results: list[SizeResult],
    quota: QuotaResult | None,
    header: list[str],
) -> str:
    lines = ["# Benchmark results", "", *header, ""]
    if any(result.runs for result in results):
        lines += [
            (
                "| program | records | seconds | records/s | x noop-defaults | x floor | peak RSS MB | CPU s | load"
                " | requests |"
            ),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in results:
            base = result.runs.get("noop-sdk-defaults")
            floor = result.runs.get("plain-python-floor")
            for program in ROWS:
                run = result.runs.get(program)
                if run is None:
                    continue
                lines.append(
                    f"| {program} | {run.records:,} | {run.seconds:.1f} | {run.rate:,.0f} | {_ratio(run, base)} |"
                    f" {_ratio(run, floor)} | {run.max_rss_mb:.0f} | {run.cpu_seconds:.1f} | {run.load:.2f} |"
                    f" {'' if run.requests is None else run.requests} |"
                )
        lines += [
            "",
            (
                "CPU s: user+sys of the child and its children (the pipeline: the shell, tap-jsonl and the target)."
                " load: the 1-minute load average when the row ended (2 cores; others' work included)."
            ),
            "",
        ]
        for result in results:
            for program, emulated in result.emulated.items():
                waited = emulated.server_seconds
                lines.append(
                    f"- {result.records:,} records, {program}: the emulator process used {emulated.emulator_cpu:.1f}"
                    f" CPU s; the target waited {waited:.1f} s ({waited / result.runs[program].seconds:.0%}"
                    " of the row's wall time) for its replies."
                )
            pipeline = result.runs.get("pipeline")
            if pipeline is not None and pipeline.sides_mb:
                sides = pipeline.sides_mb
                lines.append(
                    f"- {result.records:,} records, pipeline: peak RSS tap-jsonl {sides.get('tap-jsonl', 0):.0f} MB,"
                    f" target {sides.get('target', 0):.0f} MB."
                )
            for run in result.runs.values():
                lines.extend(f"- {result.records:,} records, {run.program}: {note}" for note in run.notes)
    if quota is not None:
        lines += [
            "",
            "## Quota use",
            "",
            (
                f"Emulator with {QUOTA_LATENCY} s latency per request and a {quota.quota_rps:g} requests/s quota (fixed"
                f" one-second windows); the target at its default pacing (max_requests_per_second {quota.pacing:g})"
                f" and records_per_request {QUOTA_RECORDS_PER_REQUEST}, {quota.records:,} records into {quota.lists}"
                " lists. The write phase runs from the start of the first create/ADD/REMOVE request to the end of the"
                " last (emulator-side wall-clock timestamps); every /v5 request that started in it counts."
            ),
            "",
            (
                "| run seconds | requests | write requests | write phase s | requests in phase | requests/s |"
                " quota use | quota 429s |"
            ),
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            (
                f"| {quota.seconds:.1f} | {quota.requests} | {quota.write_requests} | {quota.window_seconds:.1f} |"
                f" {quota.window_requests} | {quota.achieved:.2f} | {quota.use:.0%} | {quota.rejections} |"
            ),
        ]
    lines += ["", "## Goals (issue 13)", "", *goals(results, quota)]
    checked = [(result, program, emulated) for result in results for program, emulated in result.emulated.items()]
    if checked:
        lines.append("")
        for result, program, emulated in checked:
            over = [check for check in emulated.checks if not check.ok]
            lines.append(
                f"- {result.records:,} records, {program}: requests per list and operation ≤ ceil(identifiers /"
                f" {DEFAULT_RECORDS_PER_REQUEST}): {len(emulated.checks) - len(over)} of {len(emulated.checks)}"
                f" within the bound, {sum(c.requests for c in emulated.checks)} requests where"
                f" {sum(c.bound for c in emulated.checks)} suffice {_verdict(not over)}"
            )
        result, program, emulated = checked[-1]
        lines += [
            "",
            f"### Requests per list and operation ({result.records:,} records, {program})",
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
            for c in emulated.checks
        )
    return "\n".join(lines) + "\n"


# -- command line -----------------------------------------------------------------------------


def choose_sizes(args: argparse.Namespace) -> list[int]:
    if args.quick:
        return [20_000]
    if args.sizes:
        return [int(size) for size in args.sizes.split(",") if size.strip()]
    if args.records:
        return [args.records]
    return [SIZE_200K, SIZE_1M]


def choose_rows(args: argparse.Namespace) -> tuple[tuple[str, ...], bool]:
    """The rows to run per size, and whether the quota run is on."""
    if args.only_quota:
        return (), True
    if not args.only:
        return ROWS, True
    chosen: set[str] = set()
    quota = args.quota
    for name in (part.strip() for part in args.only.split(",") if part.strip()):
        if name == "quota":
            quota = True
        elif name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in ROWS:
            chosen.add(name)
        else:
            msg = f"--only: unknown row '{name}'; rows: {', '.join(ROWS)}; groups: {', '.join(GROUPS)}, quota"
            raise SystemExit(msg)
    return tuple(row for row in ROWS if row in chosen), quota


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def with_tap(rows: tuple[str, ...], failures: list[str]) -> tuple[str, ...]:
    """The rows, once tap-jsonl is installed if they need it; without its rows if it cannot be."""
    if "tap-alone" not in rows and "pipeline" not in rows:
        return rows
    try:
        ensure_tap()
    except (RuntimeError, OSError) as exc:
        log(f"FAILED installing {TAP_REQUIREMENT}: {exc}")
        failures.append(f"installing {TAP_REQUIREMENT}: {exc}")
        return tuple(row for row in rows if row not in GROUPS["pipeline"])
    return rows


def header(label: str | None, version: str, seconds: float, load_start: str) -> list[str]:
    """What was run, on what, when, and how busy the machine was."""
    command = ("python benchmarks/throughput.py " + shlex.join(sys.argv[1:])).strip()
    lines = [
        (
            f"`{command}` on {os.cpu_count()} cores, Python {sys.version.split()[0]},"
            f" {time.strftime('%Y-%m-%d %H:%M %Z')}; target at {version}; took {seconds:.0f} s."
        ),
        "",
        f"Load average (1, 5, 15 min) at the start {load_start}, at the end {load_line()}.",
    ]
    return [f"**{label}**", "", *lines] if label else lines


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated sizes (default 200000,1000000)")
    parser.add_argument("--records", type=int, help="one size to run (instead of --sizes)")
    parser.add_argument("--quick", action="store_true", help="20,000 records only, a smoke run")
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated rows or groups to run (rows: {', '.join(ROWS)}; groups: {', '.join(GROUPS)}, quota);"
        " default: all of them",
    )
    parser.add_argument("--quota", action="store_true", help="add the quota run to an --only selection")
    parser.add_argument("--only-quota", action="store_true", help="run only the quota run (as --only quota)")
    parser.add_argument(
        "--quota-rps",
        type=float,
        default=QUOTA_RPS,
        help=f"the emulator's quota in the quota run (default {QUOTA_RPS:g})",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each row this many times and keep its fastest run (default 1)"
    )
    parser.add_argument("--write", action="store_true", help="also write benchmarks/results.md")
    parser.add_argument("--output", type=Path, default=None, help="also write the results to this file")
    parser.add_argument("--label", default=None, help="a line put under the heading (what this run measures)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, reports, logs)")
    args = parser.parse_args()
    sizes = choose_sizes(args)
    rows, with_quota = choose_rows(args)
    if not rows:
        sizes = []
    version = code_version()
    stamp = src_stamp()
    failures: list[str] = []
    started = time.perf_counter()
    load_start = load_line()
    rows = with_tap(rows, failures)
    workdir = Path(tempfile.mkdtemp(prefix="tpa-bench-"))
    log(f"working in {workdir}; rows {', '.join(rows) or 'none'}; sizes {sizes}; quota run {with_quota}")
    quota = None
    try:
        results = [measure_size(workdir, size, rows, failures, args.repeat) for size in sorted(sizes)]
        if with_quota:
            try:
                quota = measure_quota(workdir, args.quota_rps)
            except (RuntimeError, OSError, ValueError, subprocess.CalledProcessError) as exc:
                log(f"FAILED quota run: {exc}")
                failures.append(f"quota run: {' '.join(str(exc).split())[-600:]}")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if src_stamp() != stamp:
        version += " (WARNING: the package changed during the run, so the rows may measure different code)"
        log("the package changed during the run")
    text = render(results, quota, header(args.label, version, time.perf_counter() - started, load_start))
    if failures:
        text += "\n## Failures\n\n" + "".join(f"- {failure}\n" for failure in failures)
    print(text)
    for line in goals(results, quota):
        log(line)
    outputs = ([HERE / "results.md"] if args.write else []) + ([args.output] if args.output else [])
    for output in outputs:
        output.write_text(text, encoding="utf-8")
        log(f"wrote {output}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
