"""Run the demo pipeline against the local emulator and show what Pinterest would hold.

Called by ``scripts/demo`` inside the project's virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pinterest_emulator import PinterestEmulator

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".meltano" / "demo"
PORT = 8765  # the demo environment of meltano.yml points the loader here
#: Who is "on Pinterest" in the demo: the emulator's audience sizes count these (an assumption).
POPULATION = ROOT / "demo" / "population.csv"
MELTANO = Path(sys.executable).with_name("meltano")
REPORT = Path(sys.executable).with_name("target-pinterest-audiences-report")


def main() -> int:
    """Start the emulator, run the pipeline, print the report and the lists."""
    shutil.rmtree(DEMO_DIR, ignore_errors=True)  # the emulator starts empty: so does the store
    DEMO_DIR.mkdir(parents=True)
    env = os.environ | {
        "MELTANO_ENVIRONMENT": "demo",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The emulator's token: not a secret, it opens nothing but the local emulator.
        "TARGET_PINTEREST_AUDIENCES_ACCESS_TOKEN": "emulator-access-token",
    }
    emulator = PinterestEmulator(port=PORT, population=POPULATION)
    try:
        emulator.start()
    except OSError as exc:
        print(
            f"demo: cannot listen on 127.0.0.1:{PORT} ({exc.strerror}); stop what uses it and retry.", file=sys.stderr
        )
        return 1
    try:
        print(f"Pinterest emulator on {emulator.url}", file=sys.stderr)
        subprocess.run([str(MELTANO), "install"], cwd=ROOT, env=env, check=True)
        command = [str(MELTANO), "run", "--full-refresh", "tap-segment", "target-pinterest-audiences"]
        print("$ " + " ".join(["meltano", *command[1:]]), file=sys.stderr)
        completed = subprocess.run(command, cwd=ROOT, env=env, check=False)
        if completed.returncode:
            return completed.returncode
        report = json.loads((DEMO_DIR / "report.json").read_text())
        print("\nRun report (.meltano/demo/report.json):")
        print(json.dumps({k: report[k] for k in ("status", "records_read", "requests", "totals")}, indent=2))
        print("\nWhat the Pinterest emulator holds:")
        lists = sorted(emulator.customer_lists(), key=lambda found: found.name)
        width = max((len(item.name) for item in lists), default=0)  # a Journeys step's key is long
        for item in lists:
            sample = ", ".join(member[:12] + "…" for member in sorted(item.members)[:2])
            print(f"  {item.name:<{width}} {item.list_type:<5} {len(item.members):>3} members  [{sample}, ...]")
        print(f"  audiences: {', '.join(sorted(a['name'] for a in emulator.audiences()))}")
        print("\nIs each audience reaching people? (the emulator matches demo/population.csv)")
        for item in report.get("matching", []):
            share = "pending" if item["share_matched"] is None else f"{item['share_matched']:.0%}"
            print(
                f"  {item['name']:<{width}} {item['members_held']:>3} held, audience {item['audience']:>11},"
                f" {share} matched, {item['audience_status'] or item['list_status']}"
            )
        print("  (each list has fewer than 100 people, so Pinterest calls every audience TOO_SMALL)")
        show_history()
    finally:
        emulator.stop()
    return 0


def show_history() -> None:
    """The report command on the demo's store: the history table, and the page with its charts."""
    config = DEMO_DIR / "report-config.json"
    config.write_text(json.dumps({"store_url": f"sqlite:///{DEMO_DIR / 'store.db'}"}))
    page = DEMO_DIR / "matching.html"
    command = [str(REPORT), "--config", str(config), "--html", str(page)]
    shown = ["target-pinterest-audiences-report", "--config", ".meltano/demo/report-config.json"]
    print("\n$ " + " ".join([*shown, "--html", ".meltano/demo/matching.html"]))
    subprocess.run(command, check=True)


if __name__ == "__main__":
    raise SystemExit(main())
