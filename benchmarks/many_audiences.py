"""Many audiences at default pacing: requests and seconds of a first and a second run (issue 24, item 7).

Usage: .venv/bin/python benchmarks/many_audiences.py 300 1000
Each size: a fresh emulator (in this process) and store; N audiences of 10 members each, run
twice with the same input through the real executable, max_requests_per_second at its default.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pinterest_emulator import PinterestEmulator

EXECUTABLE = Path(sys.executable).with_name("target-pinterest-audiences")
ACCOUNT = "549755885175"


def singer(lists: int) -> str:
    lines: list[dict[str, object]] = [
        {"type": "SCHEMA", "stream": "rows", "schema": {"type": "object"}, "key_properties": []}
    ]
    for index in range(lists):
        for member in range(10):
            record = {"audience": f"aud{index:04d}", "email": f"m{member}@a{index}.example"}
            lines.append({"type": "RECORD", "stream": "rows", "record": record})
    return "".join(json.dumps(line) + "\n" for line in lines)


def measure(lists: int) -> list[tuple[int, float]]:
    text = singer(lists)
    results = []
    with tempfile.TemporaryDirectory() as folder, PinterestEmulator(ad_account_ids=(ACCOUNT,)) as emulator:
        config = Path(folder) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "ad_account_id": ACCOUNT,
                    "api_url": emulator.url,
                    "access_token": "emulator-access-token",
                    "store_url": f"sqlite:///{folder}/store.db",
                }
            )
        )
        for _ in range(2):
            before = len(emulator.requests)
            started = time.monotonic()
            subprocess.run(
                [str(EXECUTABLE), "--config", str(config)], input=text, text=True, capture_output=True, check=True
            )
            results.append((len(emulator.requests) - before, time.monotonic() - started))
    return results


def main() -> None:
    for lists in [int(arg) for arg in sys.argv[1:]] or [300]:
        (first_requests, first_seconds), (second_requests, second_seconds) = measure(lists)
        print(
            f"{lists} lists x 10: first run {first_requests} requests in {first_seconds:.1f} s;"
            f" second run {second_requests} requests in {second_seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
