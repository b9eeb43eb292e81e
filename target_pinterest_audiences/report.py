"""The run report: what each list got, in a table for the log and JSON for machines."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

#: Pinterest's status for a list with fewer than 100 matched users (spec, CustomerList.status).
TOO_SMALL = "TOO_SMALL"


@dataclass
class ListReport:
    """One customer list's part of a run."""

    name: str
    audience: str
    list_type: str
    id: str | None = None
    created: bool = False
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    removals_not_sent: int = 0
    invalid: int = 0
    requests: int = 0
    retries: int = 0
    status: str | None = None


class Progress:
    """Logs a progress line at a steady interval from a daemon thread, until stopped."""

    def __init__(self, report: RunReport, interval: float, log: Callable[[str], None]) -> None:
        """``interval`` seconds between lines; 0 turns progress lines off."""
        self._report = report
        self._interval = interval
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin logging (no-op when the interval is 0)."""
        if self._interval > 0:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        last_records, last_time = 0, time.monotonic()
        while not self._stop.wait(self._interval):
            now, records = time.monotonic(), self._report.records_read
            rate = (records - last_records) / max(now - last_time, 1e-9)
            last_records, last_time = records, now
            requests, retries = self._report.live_calls()
            self._log(
                f"Progress: {records} records read ({rate:,.0f}/s), {requests} requests, {retries} retries,"
                f" {self._report.duration:.0f}s"
            )

    def stop(self) -> None:
        """Stop logging."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class RunReport:
    """Counters of a run, shared by every sink thread."""

    dry_run: bool = False
    sync_mode: str = "changes"
    started: float = field(default_factory=time.monotonic)
    lists: dict[str, ListReport] = field(default_factory=dict)
    records_read: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    status: str = "running"
    error: str | None = None
    calls: Callable[[], tuple[int, int]] | None = field(default=None, repr=False)
    """Where live (requests, retries) come from while the run goes on."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def list_report(self, name: str, audience: str, list_type: str) -> ListReport:
        """The report row of a list, made on first use."""
        with self._lock:
            row = self.lists.get(name)
            if row is None:
                row = self.lists[name] = ListReport(name=name, audience=audience, list_type=list_type)
            return row

    def count(self, row: ListReport, **amounts: int) -> None:
        """Add to a list's counters under the report's lock."""
        with self._lock:
            for key, amount in amounts.items():
                setattr(row, key, getattr(row, key) + amount)

    def restore(self, row: ListReport, saved: ListReport) -> None:
        """Put a list's counters back as they were (its writes start over)."""
        with self._lock:
            row.__dict__.update(saved.__dict__)

    def take_sent(self, rows: list[ListReport]) -> None:
        """Take the sender process's rows; invalid records are counted on this side."""
        with self._lock:
            for sent in rows:
                row = self.lists.setdefault(sent.name, sent)
                if row is not sent:
                    row.__dict__.update(sent.__dict__ | {"invalid": row.invalid})

    def count_invalid(self, reason: str) -> None:
        """Count an unusable record by reason."""
        with self._lock:
            self.invalid[reason] += 1

    def count_ignored(self, reason: str) -> None:
        """Count a valid record that carried nothing to sync."""
        with self._lock:
            self.ignored[reason] += 1

    def live_calls(self) -> tuple[int, int]:
        """(requests, retries) so far."""
        return self.calls() if self.calls is not None else (self.requests, self.retries)

    @property
    def duration(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def too_small(self) -> list[ListReport]:
        """Lists Pinterest cannot target yet: fewer than 100 matched users."""
        return [row for row in self.lists.values() if row.status == TOO_SMALL]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form written to ``report_path``."""
        rows = [asdict(row) for row in sorted(self.lists.values(), key=lambda r: r.name)]
        totals = {
            key: sum(row[key] for row in rows)
            for key in ("added", "removed", "unchanged", "removals_not_sent", "invalid", "requests", "retries")
        }
        totals["lists_created"] = sum(1 for row in rows if row["created"])
        return {
            "status": self.status,
            "error": self.error,
            "dry_run": self.dry_run,
            "sync_mode": self.sync_mode,
            "duration_seconds": round(self.duration, 3),
            "records_read": self.records_read,
            "invalid_records": dict(sorted(self.invalid.items())),
            "ignored_records": dict(sorted(self.ignored.items())),
            "requests": self.requests,
            "retries": self.retries,
            "lists": rows,
            "totals": totals,
        }

    def write(self, path: str | Path) -> None:
        """Write the JSON report, creating its folder."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")

    def table(self) -> str:
        """A fixed-width table of the lists and totals, for the log."""
        data = self.as_dict()
        counters = ("added", "removed", "unchanged", "invalid", "requests", "retries")
        headers = ("list", "type", "id", *counters, "status")
        body = []
        for row in data["lists"]:
            cells = {key: str(row[key]) for key in counters}
            if row["removals_not_sent"]:
                cells["removed"] += f" (+{row['removals_not_sent']} not sent)"
            name = row["name"] + (" (new)" if row["created"] else "")
            body.append((name, row["list_type"], row["id"] or "-", *cells.values(), row["status"] or "-"))
        totals = {key: str(data["totals"][key]) for key in counters}
        totals |= {
            "invalid": str(sum(data["invalid_records"].values())),
            "requests": str(data["requests"]),
            "retries": str(data["retries"]),
        }
        body.append(("total", "", "", *totals.values(), ""))
        widths = [max(len(line[i]) for line in (headers, *body)) for i in range(len(headers))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in (headers, *body)
        ]
        rule = "  ".join("-" * width for width in widths)
        lines.insert(1, rule)
        lines.insert(len(lines) - 1, rule)
        prefix = "DRY RUN, nothing sent. " if self.dry_run else ""
        summary = (
            f"{prefix}Run {data['status']} in {data['duration_seconds']:.1f}s: "
            f"{data['records_read']} records, {data['requests']} requests, {data['retries']} retries"
        )
        details = [f"invalid records: {data['invalid_records']}"] if data["invalid_records"] else []
        if data["ignored_records"]:
            details.append(f"ignored records: {data['ignored_records']}")
        return "\n".join([summary, *lines, *details])
