"""The target alone at scale: a first sync of millions of people, then a run that changes 1 %.

    python benchmarks/scale.py                                    # 1M, 5M, 10M on SQLite; PostgreSQL at 1M
                                                                  # and 10M (with --postgres); mirror at 10M
    python benchmarks/scale.py --sizes 100000,500000 --no-mirror  # a smaller run
    python benchmarks/scale.py --postgres postgresql+psycopg://user:pw@127.0.0.1:5432/db
    python benchmarks/scale.py --write                            # also docs/scale.md and docs/scale.svg

Each size N is N records of N distinct people (``person<p>@example.com``; every third person
also has an iOS device, every third an Android one) over 20 audiences and the three list
types: 60 customer lists. The target runs as a child against the emulator in its own process
(``benchmarks/emulator_server.py``), unthrottled (``max_requests_per_second: 0``), on a new
store, then again on the same store and emulator with the change: 1 % of the people, half of
them leaving their audience and as many new people joining. In mirror mode the second run
carries the whole membership again (that is what mirror means), with the same change.

Per run: seconds, records/s, time per record and its ratio to the smallest size's, the peak
RSS of the target process (not the emulator's, which holds every member), the store's bytes
per member held (SQLite: the file and its WAL; PostgreSQL: the member table with its index),
and the requests the run report counts. After each run the emulator must hold exactly the
expected number of members in every list, or the row fails. The chart (SVG, no dependency)
plots time per record and peak RSS against the size, a line per store and mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from throughput import TARGET, Emulator, code_version, log, run_child, target_config

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
STREAM = "identifies"
AUDIENCES = tuple(f"audience_{number:02d}" for number in range(20))
CHANGE_SHARE = 0.01
DEFAULT_SIZES = (1_000_000, 5_000_000, 10_000_000)
POSTGRES_SIZES = (1_000_000, 10_000_000)
MIRROR_SIZE = 10_000_000
#: The goals of issue 23, each checked against a figure of the table.
TIME_GROWTH_GOAL = 1.25
RSS_GOAL_MB = 200
SQLITE_BYTES_GOAL = 64
SCHEMA = {"type": "object", "properties": {}}


# -- input ------------------------------------------------------------------------------------


def person(number: int, *, member: bool = True) -> dict[str, Any]:
    """One Segment Engage identify call: the person's audience and identifiers, joining or leaving."""
    audience = AUDIENCES[number % len(AUDIENCES)]
    context: dict[str, Any] = {"personas": {"computation_class": "audience", "computation_key": audience}}
    kind = number % 3
    if kind:
        device = f"{number:08x}-0000-4000-8000-{number:012x}"
        context["device"] = (
            {"type": "ios", "advertisingId": device.upper()}
            if kind == 1
            else {
                "type": "android",
                "advertisingId": device,
            }
        )
    return {
        "type": "identify",
        "messageId": f"m{number}",
        "userId": f"u{number}",
        "traits": {"email": f"person{number:09d}@example.com", audience: member},
        "context": context,
    }


def lists_of(number: int) -> list[str]:
    """The customer lists a person's identify call speaks to."""
    audience = AUDIENCES[number % len(AUDIENCES)]
    kind = number % 3
    return [f"{audience} (EMAIL)", *([f"{audience} ({'IDFA' if kind == 1 else 'MAID'})"] if kind else [])]


@dataclass
class Change:
    """The second run's change: who leaves, who joins."""

    leaving: range
    joining: range

    @classmethod
    def of(cls, size: int) -> Change:
        half = max(1, int(size * CHANGE_SHARE) // 2)
        # Every k-th person leaves (spread over every list), as many new people join.
        return cls(range(0, size, max(1, size // half))[:half], range(size, size + half))


def write_input(path: Path, numbers: list[range], leaving: range | None = None) -> int:
    """Write SCHEMA, one identify per person (a leave for ``leaving``), and a STATE; return the records."""
    gone = set(leaving or ())
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": []}) + "\n")
        for span in numbers:
            for number in span:
                record = person(number, member=number not in gone)
                out.write(json.dumps({"type": "RECORD", "stream": STREAM, "record": record}) + "\n")
                written += 1
        out.write(json.dumps({"type": "STATE", "value": {"position": written}}) + "\n")
    return written


def expected_members(size: int, change: Change | None) -> dict[str, int]:
    """How many members each list must hold after the first run (no change) or the second."""
    counts: dict[str, int] = {}
    for number in range(size):
        for name in lists_of(number):
            counts[name] = counts.get(name, 0) + 1
    if change is not None:
        for number in change.leaving:
            for name in lists_of(number):
                counts[name] -= 1
        for number in change.joining:
            for name in lists_of(number):
                counts[name] = counts.get(name, 0) + 1
    return counts


# -- runs -------------------------------------------------------------------------------------


@dataclass
class Row:
    store: str
    mode: str
    run: str
    size: int
    records: int
    seconds: float
    rss_mb: float
    bytes_per_member: float
    requests: int
    members: int
    notes: list[str] = field(default_factory=list)

    @property
    def per_record_us(self) -> float:
        return self.seconds / self.records * 1e6 if self.records else 0.0


def store_bytes(store: str, url: str, workdir: Path) -> int:
    """The store's size on disk: the SQLite file and its WAL, or PostgreSQL's member table."""
    if store == "sqlite":
        return sum(path.stat().st_size for path in workdir.glob("store-*.db*") if path.suffix != ".lock")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_total_relation_size('list_members')")).scalar() or 0)
    finally:
        engine.dispose()


def postgres_schema(server: str) -> tuple[str, str]:
    """A schema of this run's own on the server, and the store URL that uses it."""
    schema = f"scale_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    separator = "&" if "?" in server else "?"
    return schema, f"{server}{separator}options=-csearch_path%3D{schema}"


def drop_schema(server: str, schema: str) -> None:
    engine = sa.create_engine(server)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def check(summary: dict[str, Any], expected: dict[str, int]) -> None:
    """Fail unless the emulator holds exactly the expected members in every list, and no other list."""
    held = {item["name"]: item["members"] for item in summary["lists"]}
    if held != expected:
        wrong = sorted(name for name in set(held) | set(expected) if held.get(name) != expected.get(name))
        msg = f"the emulator's lists differ from the expected ones in {len(wrong)} lists, e.g. {wrong[:3]}"
        raise RuntimeError(msg)


def measure(workdir: Path, size: int, store: str, mode: str, server: str | None) -> list[Row]:
    """The first sync and the 1 % change for one size, store and mode."""
    tag = f"{store}-{mode}-{size}"
    schema = None
    url = f"sqlite:///{workdir / f'store-{tag}.db'}"
    if store == "postgresql":
        assert server is not None  # noqa: S101 - chosen only with --postgres
        schema, url = postgres_schema(server)
    change = Change.of(size)
    first_input, second_input = workdir / f"first-{size}.jsonl", workdir / f"second-{tag}.jsonl"
    if not first_input.exists():
        log(f"{size:,} records: writing {first_input.name}")
        write_input(first_input, [range(size)])
    if mode == "mirror":
        # The whole membership again: everyone but the leavers, and the joiners.
        kept = [range(start, stop) for start, stop in _gaps(size, change.leaving)]
        write_input(second_input, [*kept, change.joining])
    else:
        write_input(second_input, [change.leaving, change.joining], leaving=change.leaving)
    emulator = Emulator(workdir)
    rows = []
    try:
        for run, path, expected in (
            ("first sync", first_input, expected_members(size, None)),
            ("1 % change", second_input, expected_members(size, change)),
        ):
            config = target_config(workdir, emulator.url, tag, store_url=url, sync_mode=mode)
            log(f"  {store} {mode} {run} ({size:,}) ...")
            ran = run_child([TARGET, "--config", str(config), "--input", str(path)], workdir / f"{tag}.stderr", workdir)
            report = json.loads((workdir / f"report-{tag}.json").read_text(encoding="utf-8"))
            members = sum(expected.values())
            records = sum(1 for _ in path.open(encoding="utf-8")) - 2
            row = Row(
                store,
                mode,
                run,
                size,
                records,
                ran.seconds,
                ran.max_rss_mb,
                store_bytes(store, url, workdir) / members,
                int(report.get("requests") or 0),
                members,
            )
            rows.append(row)
            emulator_now = _summary(emulator)
            check(emulator_now, expected)
            log(
                f"  {run}: {row.seconds:.1f} s, {row.records / row.seconds:,.0f} records/s, {row.rss_mb:.0f} MB,"
                f" {row.bytes_per_member:.0f} bytes/member, {row.requests} requests; lists exact"
            )
    finally:
        emulator.stop()
        second_input.unlink(missing_ok=True)
        if schema is not None and server is not None:
            drop_schema(server, schema)
        for path in workdir.glob(f"store-{tag}.db*"):
            path.unlink()
    return rows


def measure_into(  # noqa: PLR0913
    rows: list[Row], workdir: Path, size: int, store: str, mode: str, *, server: str | None
) -> str | None:
    """Add one size's rows; a failing size is logged and returned as one line, and the others go on."""
    try:
        rows += measure(workdir, size, store, mode, server)
    except (RuntimeError, OSError, ValueError) as exc:
        log(f"FAILED {store} {mode} at {size:,}: {exc}")
        return f"{store} {mode} at {size:,}: {' '.join(str(exc).split())[-400:]}"
    return None


def _gaps(size: int, leaving: range) -> list[tuple[int, int]]:
    """The spans of 0..size that ``leaving`` does not hold."""
    spans, start = [], 0
    for number in leaving:
        if number > start:
            spans.append((start, number))
        start = number + 1
    if start < size:
        spans.append((start, size))
    return spans


def _summary(emulator: Emulator) -> dict[str, Any]:
    """The emulator's lists and their member counts while it goes on running."""
    with urllib.request.urlopen(emulator.url.rsplit("/v5", 1)[0] + "/_benchmark/lists", timeout=600) as reply:  # noqa: S310 - loopback
        return {"lists": json.loads(reply.read())}


# -- report -----------------------------------------------------------------------------------


def render(rows: list[Row], header: list[str]) -> str:
    lines = ["# Scale: the target alone from 1 to 10 million records", "", *header, ""]
    base = {(row.store, row.mode, row.run): row for row in sorted(rows, key=lambda r: -r.size)}
    lines += [
        (
            "| store | mode | run | records | seconds | records/s | µs/record | x smallest | peak RSS MB"
            " | bytes/member | requests |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        smallest = base[(row.store, row.mode, row.run)]
        ratio = row.per_record_us / smallest.per_record_us if smallest.per_record_us else 0.0
        lines.append(
            f"| {row.store} | {row.mode} | {row.run} | {row.records:,} | {row.seconds:.1f} |"
            f" {row.records / row.seconds:,.0f} | {row.per_record_us:.1f} | {ratio:.2f} | {row.rss_mb:.0f} |"
            f" {row.bytes_per_member:.0f} | {row.requests:,} |"
        )
    lines += ["", "## Goals", "", *goals(rows), ""]
    return "\n".join(lines)


def goals(rows: list[Row]) -> list[str]:
    lines = []
    first = sorted((row for row in rows if row.run == "first sync"), key=lambda r: (r.store, r.mode, r.size))
    for store, mode in sorted({(row.store, row.mode) for row in first}):
        series = [row for row in first if (row.store, row.mode) == (store, mode)]
        if len(series) > 1:
            growth = series[-1].per_record_us / series[0].per_record_us
            lines.append(
                f"- {store} {mode}: time per record at {series[-1].size:,} is {growth:.2f}x its value at"
                f" {series[0].size:,} (goal ≤ {TIME_GROWTH_GOAL}x) {_verdict(growth <= TIME_GROWTH_GOAL)}"
            )
    peak = max((row.rss_mb for row in rows), default=0.0)
    lines.append(
        f"- peak RSS of the target at every size: {peak:.0f} MB (goal ≤ {RSS_GOAL_MB}) {_verdict(peak <= RSS_GOAL_MB)}"
    )
    sqlite = [row.bytes_per_member for row in rows if row.store == "sqlite"]
    if sqlite:
        most = max(sqlite)
        lines.append(
            f"- SQLite store: at most {most:.0f} bytes per member (goal ≤ {SQLITE_BYTES_GOAL})"
            f" {_verdict(most <= SQLITE_BYTES_GOAL)}"
        )
    firsts = {(row.store, row.mode, row.size): row for row in first}
    for row in rows:
        full = firsts.get((row.store, row.mode, row.size))
        if row.run == "1 % change" and row.mode == "changes" and full is not None:
            lines.append(
                f"- {row.store} at {row.size:,}: the 1 % change took {row.seconds:.1f} s,"
                f" {row.seconds / full.seconds:.1%} of the first sync's {full.seconds:.1f} s"
                f" ({row.per_record_us:.1f} µs per changed record vs {full.per_record_us:.1f})"
            )
    return lines


def _verdict(ok: bool) -> str:  # noqa: FBT001
    return "**met**" if ok else "**NOT met**"


def chart(rows: list[Row]) -> str:
    """Two panels, µs per record and peak RSS against records, a line per store and mode (first syncs)."""
    first = [row for row in rows if row.run == "first sync"]
    series: dict[str, list[Row]] = {}
    for row in sorted(first, key=lambda r: r.size):
        series.setdefault(f"{row.store} {row.mode}", []).append(row)
    width, height, pad = 360, 240, 48
    colours = ("#1b6ca8", "#c2410c", "#15803d", "#7c3aed")
    max_size = max((row.size for row in first), default=1)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width + 40}" height="{height + 60}"'
            ' font-family="sans-serif" font-size="11">'
        )
    ]
    for panel, (title, value) in enumerate(
        (("µs per record (first sync)", lambda r: r.per_record_us), ("peak RSS of the target, MB", lambda r: r.rss_mb))
    ):
        left = 10 + panel * (width + 20)
        top_value = max((value(row) for row in first), default=1.0) * 1.15 or 1.0
        parts.append(f'<text x="{left + pad}" y="16" font-weight="bold">{title}</text>')
        parts.append(
            f'<line x1="{left + pad}" y1="{height}" x2="{left + width}" y2="{height}" stroke="#555"/>'
            f'<line x1="{left + pad}" y1="30" x2="{left + pad}" y2="{height}" stroke="#555"/>'
        )
        for tick in range(5):
            val = top_value * tick / 4
            y = height - (height - 30) * tick / 4
            parts.append(f'<text x="{left + pad - 6}" y="{y + 4:.0f}" text-anchor="end">{val:.0f}</text>')
        for size in sorted({row.size for row in first}):
            x = left + pad + (width - pad) * size / max_size
            parts.append(f'<text x="{x:.0f}" y="{height + 16}" text-anchor="middle">{size / 1e6:g}M</text>')
        for index, (name, points) in enumerate(series.items()):
            colour = colours[index % len(colours)]
            coords = " ".join(
                f"{left + pad + (width - pad) * row.size / max_size:.1f},"
                f"{height - (height - 30) * value(row) / top_value:.1f}"
                for row in points
            )
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for pair in coords.split():
                x, y = pair.split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
            if panel == 0:
                parts.append(
                    f'<text x="{left + pad + 8 + 110 * index}" y="{height + 40}" fill="{colour}">■ {name}</text>'
                )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated sizes (default 1000000,5000000,10000000)")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL: also run the PostgreSQL rows")
    parser.add_argument("--postgres-sizes", default=None, help="sizes for PostgreSQL (default 1000000,10000000)")
    parser.add_argument("--no-mirror", action="store_true", help="skip mirror mode (default: at the largest size)")
    parser.add_argument("--write", action="store_true", help="also write docs/scale.md and docs/scale.svg")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else list(DEFAULT_SIZES)
    pg_sizes = [int(size) for size in args.postgres_sizes.split(",")] if args.postgres_sizes else None
    if pg_sizes is None:
        pg_sizes = [size for size in POSTGRES_SIZES if size in sizes] or [min(sizes), max(sizes)]
    plan = [("sqlite", "changes", size) for size in sizes]
    if args.postgres:
        plan += [("postgresql", "changes", size) for size in sorted(set(pg_sizes))]
    if not args.no_mirror:
        plan.append(("sqlite", "mirror", max(sizes)))
    started, version = time.monotonic(), code_version()
    rows: list[Row] = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="scale-") as folder:
        workdir = Path(folder)
        for store, mode, size in plan:
            failure = measure_into(rows, workdir, size, store, mode, server=args.postgres)
            if failure:
                failures.append(failure)
    command = " ".join(["python", "benchmarks/scale.py", *sys.argv[1:]])
    header = [
        f"`{command}` on {version}, {time.strftime('%Y-%m-%d')}, {time.monotonic() - started:.0f} s in all.",
        "The target alone against the emulator in its own process, unthrottled; peak RSS is the target's.",
        *(f"- FAILED: {failure}" for failure in failures),
    ]
    text = render(rows, header)
    print(text)
    if args.write and rows:
        DOCS.mkdir(exist_ok=True)
        (DOCS / "scale.md").write_text(text + "\n![time per record and peak RSS against size](scale.svg)\n")
        (DOCS / "scale.svg").write_text(chart(rows))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
