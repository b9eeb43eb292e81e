"""``target-pinterest-audiences-report``: the store's matching history, in the terminal or as a page.

It reads the store only (never Pinterest) and writes nothing to it: a store of an older schema
is read as it is, or refused with one line saying that a real run upgrades it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from target_pinterest_audiences import settings
from target_pinterest_audiences.history import page, text_tables
from target_pinterest_audiences.store import UPPERCASE_IDFA, Store, StoreError, redact_url


def parser() -> argparse.ArgumentParser:
    """The command line."""
    made = argparse.ArgumentParser(
        prog="target-pinterest-audiences-report",
        description="Show each customer list's matching history kept in the target's store: members held, "
        "Pinterest's audience size and the share matched, run after run. Reads only the store (its store_url); "
        "never Pinterest, never writes.",
        epilog="Is my audience reaching people? See the README's section on matching and docs/matching.md.",
    )
    made.add_argument("--config", required=True, metavar="CONFIG", help="the target's config JSON (for store_url)")
    made.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="also write one self-contained page (opens offline) with a chart per list",
    )
    return made


def main(argv: list[str] | None = None) -> int:
    """Print the history; with --html write the page too. Exit 1 with one line when the store cannot be read."""
    args = parser().parse_args(argv)
    try:
        config = settings.resolve([args.config], os.environ)
    except settings.ConfigFileError as exc:
        return _fail(str(exc), 2)
    url = config.get("store_url") or None
    try:
        store = Store.open(url, read_only=True, create=False)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        account = config.get("ad_account_id")
        history = store.history(str(account) if account else None)
        last = store.last_report()
        where = redact_url(store.url or "")
    finally:
        store.close()
    report = json.loads(last[2]) if last is not None and last[2] else None
    warnings = list(report.get("warnings", [])) if isinstance(report, dict) else []
    if history:
        sys.stdout.write(text_tables(history) + "\n")
    elif store.version < UPPERCASE_IDFA:
        sys.stdout.write(f"No matching history: the store is at schema {store.version}; a real run upgrades it.\n")
    else:
        sys.stdout.write("No matching history yet: each real run records it.\n")
    for warning in warnings:
        sys.stdout.write(f"warning: {warning}\n")
    if args.html is not None:
        try:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(page(history, warnings, report, where), encoding="utf-8")
        except OSError as exc:
            return _fail(f"--html {args.html}: {exc.strerror or exc}")
        sys.stdout.write(f"Wrote {args.html}\n")
    return 0


def _fail(line: str, code: int = 1) -> int:
    sys.stderr.write(f"target-pinterest-audiences-report: error: {' '.join(line.split())}\n")
    return code


def run() -> None:
    """The console script."""
    raise SystemExit(main())
