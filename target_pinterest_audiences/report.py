"""The run report: what each list got, in a table for the log and JSON for machines."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_pinterest_audiences.matching import audience_text, change_text, share_text

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from target_pinterest_audiences.matching import Matching

#: Pinterest's status for a list with fewer than 100 matched users (spec, CustomerList.status).
TOO_SMALL = "TOO_SMALL"
#: How a Meltano user sends an audience's whole membership once (Meltano 4.4: ``meltano run --help``).
FULL_REFRESH_COMMAND = "meltano run --full-refresh <tap> target-pinterest-audiences"


def full_refresh_line(name: str, audience: str, removed: int, *, dry_run: bool = False) -> str:
    """What a list written the old way needs (schema 7 upgrade), in one line."""
    verb = "would remove" if dry_run else "removed"
    return (
        f"Customer list '{name}' held {removed} entries hashed from lowercase IDFAs, which Pinterest matches to"
        f" nobody; the upgrade {verb} them from Pinterest. The tap must send audience '{audience}''s whole membership"
        f" once (a full refresh: {FULL_REFRESH_COMMAND})."
    )


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
    removals_no_list: int = 0
    """Leaves for a list that does not exist yet (nothing to remove them from)."""
    would_send: int = 0
    """A dry run: the writes to this list a real run would send."""
    invalid: int = 0
    """Records meant for this list that had no usable identifier at all."""
    dropped_identifiers: int = 0
    """Identifiers of this list's type that were unusable (the record's others still counted)."""
    requests: int = 0
    """Writes to this list (create, ADD, REMOVE), retries not included."""
    retries: int = 0
    status: str | None = None
    full_refresh: bool = False
    """The upgrade removed entries an older version hashed wrong: the tap must send the audience's
    whole membership once."""


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
    dropped: Counter[str] = field(default_factory=Counter)
    """Unusable identifiers by reason (each reason names its identifier type)."""
    requests: int = 0
    retries: int = 0
    status: str = "running"
    error: str | None = None
    calls: Callable[[], tuple[int, int]] | None = field(default=None, repr=False)
    """Where live (requests, retries) come from while the run goes on."""
    matching: list[Matching] = field(default_factory=list)
    """Pinterest's feedback on every list the store knows in the account, at the end of the run."""
    feedback_requests: int = 0
    """Requests that read that feedback (list and audience pages; counted in other_requests too)."""
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

    def count_invalid(self, reason: str) -> None:
        """Count an unusable record by reason."""
        with self._lock:
            self.invalid[reason] += 1

    def count_dropped(self, reason: str) -> None:
        """Count an unusable identifier by reason."""
        with self._lock:
            self.dropped[reason] += 1

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
        """The JSON form written to ``report_path``; every total is the sum of its column."""
        rows = [asdict(row) for row in sorted(self.lists.values(), key=lambda r: r.name)]
        requests, retries = self.live_calls()
        other = {
            "requests": requests - sum(row["requests"] for row in rows),
            "retries": retries - sum(row["retries"] for row in rows),
        }
        totals = {
            key: sum(row[key] for row in rows)
            for key in (*_COUNTERS, "removals_not_sent", "removals_no_list", "would_send")
        }
        totals["requests"] += other["requests"]
        totals["retries"] += other["retries"]
        totals["lists_created"] = sum(1 for row in rows if row["created"])
        matching = [item.as_dict() for item in self.matching]
        return {
            "status": self.status,
            "error": self.error,
            "dry_run": self.dry_run,
            "sync_mode": self.sync_mode,
            "duration_seconds": round(self.duration, 3),
            "records_read": self.records_read,
            "invalid_records": dict(sorted(self.invalid.items())),
            "dropped_identifiers": dict(sorted(self.dropped.items())),
            "ignored_records": dict(sorted(self.ignored.items())),
            "requests": totals["requests"],
            "retries": totals["retries"],
            "lists": rows,
            "other_requests": other,
            "totals": totals,
            "full_refresh_needed": [row["name"] for row in rows if row["full_refresh"]],
            "matching": matching,
            "feedback_requests": self.feedback_requests,
            "warnings": [warning for item in matching for warning in item["warnings"]],
        }

    def write(self, path: str | Path) -> None:
        """Write the JSON report, creating its folder."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")

    def table(self) -> str:
        """A summary line, a fixed-width table of the lists and totals, and the details."""
        data = self.as_dict()
        totals = data["totals"]
        prefix = "DRY RUN, nothing sent. " if self.dry_run else ""
        counts: tuple[str, ...] = (
            _plural(data["records_read"], "record"),
            _plural(totals["requests"], "request"),
            _plural(totals["retries"], "retry", "retries"),
        )
        if self.dry_run:
            counts = (counts[0], "would send " + _plural(totals["would_send"], "write request"))
        summary = f"{prefix}Run {data['status']} in {data['duration_seconds']:.1f}s: {', '.join(counts)}"
        details = [f"invalid records: {data['invalid_records']}"] if data["invalid_records"] else []
        if data["dropped_identifiers"]:
            details.append(f"unusable identifiers (dropped, the record's others kept): {data['dropped_identifiers']}")
        if data["ignored_records"]:
            details.append(f"ignored records: {data['ignored_records']}")
        if not data["lists"] and not data["other_requests"]["requests"]:
            what = "the input held no records" if not data["records_read"] else "no record named a list to change"
            return "\n".join([summary, f"Nothing to do: {what}.", *details])
        headers = ("list", "type", "id", *_COUNTERS, "status")
        body = []
        for row in data["lists"]:
            cells = {key: str(row[key]) for key in _COUNTERS}
            if row["removals_not_sent"]:
                cells["removed"] += f" (+{row['removals_not_sent']} not sent)"
            if row["removals_no_list"]:
                cells["removed"] += f" (+{row['removals_no_list']} for no list yet)"
            if self.dry_run:
                cells["requests"] = f"({row['would_send']})"
            name = (
                row["name"]
                + (" (new)" if row["created"] else "")
                + (" (full refresh needed)" if row["full_refresh"] else "")
            )
            body.append((name, row["list_type"], row["id"] or "-", *cells.values(), row["status"] or "-"))
        other = data["other_requests"]
        blank = dict.fromkeys(_COUNTERS, "") | {key: str(other[key]) for key in ("requests", "retries")}
        body.append(("other requests (lookups, tokens, audiences, statuses)", "", "", *blank.values(), ""))
        total = {key: str(totals[key]) for key in _COUNTERS}
        if self.dry_run:
            total["requests"] = f"({totals['would_send']})"
        body.append(("total", "", "", *total.values(), ""))
        widths = [max(len(line[i]) for line in (headers, *body)) for i in range(len(headers))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in (headers, *body)
        ]
        rule = "  ".join("-" * width for width in widths)
        lines.insert(1, rule)
        lines.insert(len(lines) - 1, rule)
        return "\n".join([summary, *lines, *self.matching_table(), *details])

    def matching_table(self) -> list[str]:
        """Pinterest's feedback per list, as table lines (none before the run's end)."""
        if not self.matching:
            return []
        headers = ("list", "members held", "audience size", "audience status", "share matched", "change", "list status")
        body = [
            (
                item.observation.name,
                str(item.observation.members_held),
                audience_text(item.observation),
                item.observation.audience_status or "-",
                share_text(item.observation),
                change_text(item),
                item.observation.list_status or "-",
            )
            for item in self.matching
        ]
        lines = [f"Matching ({self.feedback_requests} requests read it; Pinterest's sizes lag 24 to 48 h):"]
        lines += _fixed_width(headers, body)
        return lines


#: The per-list counters shown in the table, in its order.
_COUNTERS = ("added", "removed", "unchanged", "invalid", "dropped_identifiers", "requests", "retries")


def _fixed_width(headers: tuple[str, ...], body: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(line[i]) for line in (headers, *body)) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *body)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"
