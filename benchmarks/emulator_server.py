"""The Pinterest emulator in its own process, keeping a compact log for the benchmarks.

    python benchmarks/emulator_server.py --summary FILE [--latency S] [--quota-rps R]

Prints the base URL on stdout once listening; on SIGTERM or SIGINT writes a JSON summary to
``--summary`` (each /v5 request's wall-clock start and end, method, path, status, operation
and number of records; each list's name, type and member count; quota rejections) and exits.
While it runs, ``GET /_benchmark/lists`` answers each list's name and member count (the
emulator's own ``/_emulator/state`` lists every member: too much at millions).
The emulator itself is used unchanged: a subclass only notes what it answered.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pinterest_emulator import Faults, PinterestEmulator
from pinterest_emulator.server import Response


class LoggingEmulator(PinterestEmulator):
    """Keeps one small row per request instead of the full request log."""

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(**kwargs)
        self.rows: list[dict[str, Any]] = []
        self._rows_lock = threading.Lock()

    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> Any:  # noqa: ANN401
        if target == "/_benchmark/lists" and method == "GET":
            return Response(200, self.summary()["lists"], {})
        started = time.time()
        response = super().handle(method, target, headers, raw_body)
        ended = time.time()
        operation = None
        name = None
        records = 0
        path = target.split("?", maxsplit=1)[0]
        if "/customer_lists" in path and method in {"POST", "PATCH"} and raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = {}
            if isinstance(body, dict):
                operation = body.get("operation_type", "CREATE" if method == "POST" else None)
                name = body.get("name")
                text = body.get("records")
                records = text.count(",") + 1 if isinstance(text, str) and text else 0
        row = {
            "start": started,
            "end": ended,
            "method": method,
            "path": path,
            "status": response.status,
            "operation": operation,
            "records": records,
            "name": name,
        }
        with self._rows_lock:
            self.rows.append(row)
        with self._lock:
            self.requests.clear()  # the full log (every body) is not needed here
        return response

    def summary(self) -> dict[str, Any]:
        lists = [
            {"id": item.id, "name": item.name, "list_type": item.list_type, "members": len(item.members)}
            for item in self.customer_lists()
        ]
        with self._rows_lock:
            rows = list(self.rows)
        return {
            "requests": rows,
            "lists": lists,
            "quota_rejections": self.quota_rejections,
            "fault_counts": self.fault_counts,
            "duplicate_name_creates": self.duplicate_name_creates,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--quota-rps", type=float, default=None)
    args = parser.parse_args()
    faults = Faults(latency_seconds=args.latency, requests_per_second=args.quota_rps)
    emulator = LoggingEmulator(faults=faults)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    emulator.start()
    print(emulator.url, flush=True)
    while not stopping.wait(0.2):
        pass
    emulator.stop()
    args.summary.write_text(json.dumps(emulator.summary()), encoding="utf-8")
    sys.exit(0)


if __name__ == "__main__":
    main()
