"""The store's mirror diff at a million members: record, mark a snapshot, count and page the rest.

    python benchmarks/mirror_diff.py [--members 1000000] [--postgres URL] [--shuffled]

Phases, each timed: record the members as accepted (``record_accepted(..., seen=1)`` in
chunks), mark 99 % of them as seen by snapshot 2 (``mark_seen``), count the members snapshot 2
did not contain (``unseen_count``), and page through them by key (``unseen_members`` with the
last member as ``after``) until exhausted. ``--shuffled`` marks the snapshot's members in
another order than they were recorded in (a snapshot whose rows come in a different order).
SQLite in a temporary folder by default; with ``--postgres`` the store's tables on that
server are dropped first. Prints a Markdown table with the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from target_pinterest_audiences.store import Store, StoredList, metadata

LIST_ID = "2542620230000"
SEEN_FIRST = 1
SEEN_SNAPSHOT = 2
CHUNK = 50_000
PAGE = 5_000
SNAPSHOT_SHARE = 0.99


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def member(number: int) -> str:
    return hashlib.sha256(f"user{number}@example.com".encode()).hexdigest()


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL store URL (its tables are dropped first)")
    parser.add_argument("--shuffled", action="store_true", help="mark the snapshot in another order than recorded")
    args = parser.parse_args()
    count = args.members
    workdir = Path(tempfile.mkdtemp(prefix="tpa-mirror-"))
    try:
        if args.postgres:
            url = args.postgres
            backend = "PostgreSQL"
            dropper = Store.open(url)
            metadata.drop_all(dropper.engine)
            dropper.close()
        else:
            url = f"sqlite:///{workdir / 'store.db'}"
            backend = "SQLite"
        store = Store.open(url)
        store.save_list(
            StoredList(
                ad_account_id="549755885175",
                name="mirror_benchmark (EMAIL)",
                list_id=LIST_ID,
                list_type="EMAIL",
                audience_id=None,
                members_known=True,
                audience="mirror_benchmark",
            )
        )
        log(f"{backend}: hashing {count:,} members")
        members = [member(number) for number in range(count)]
        rss_data = peak_rss_mb()
        rows: list[tuple[str, float, str]] = []

        log("record_accepted ...")
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            store.record_accepted(LIST_ID, "ADD", members[start : start + CHUNK], seen=SEEN_FIRST)
        rows.append(("record_accepted (seen=1)", time.perf_counter() - started, f"{count:,} members"))
        total = store.member_count(LIST_ID)
        if total != count:
            msg = f"the store holds {total} members, expected {count}"
            raise RuntimeError(msg)

        snapshot = int(count * SNAPSHOT_SHARE)
        if args.shuffled:
            # The same 99 % (the unseen rest stays the same), in another order.
            seen = members[:snapshot]
            random.Random(7).shuffle(seen)  # noqa: S311 - an order, not a secret
            members[:snapshot] = seen
        log(f"mark_seen of {snapshot:,} ...")
        started = time.perf_counter()
        for start in range(0, snapshot, CHUNK):
            store.mark_seen(LIST_ID, members[start : min(start + CHUNK, snapshot)], SEEN_SNAPSHOT)
        order = ", shuffled" if args.shuffled else ""
        rows.append((f"mark_seen (seen=2{order})", time.perf_counter() - started, f"{snapshot:,} members"))
        expected_unseen = count - snapshot
        del members

        log("unseen_count ...")
        started = time.perf_counter()
        unseen = store.unseen_count(LIST_ID, SEEN_SNAPSHOT)
        rows.append(("unseen_count", time.perf_counter() - started, f"{unseen:,}"))

        log("unseen_members paging ...")
        started = time.perf_counter()
        after = ""
        paged = pages = 0
        while page := store.unseen_members(LIST_ID, SEEN_SNAPSHOT, PAGE, after):
            after = page[-1]
            paged += len(page)
            pages += 1
        rows.append(
            (f"unseen_members, pages of {PAGE:,}", time.perf_counter() - started, f"{paged:,} in {pages} pages")
        )
        store.close()
        if unseen != expected_unseen or paged != expected_unseen:
            msg = f"the diff found {unseen} (count) and {paged} (pages) members, expected {expected_unseen}"
            raise RuntimeError(msg)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"# Mirror diff, {backend}, {count:,} members\n")
    print("| phase | seconds | result |")
    print("|---|---:|---|")
    for phase, seconds, result in rows:
        print(f"| {phase} | {seconds:.2f} | {result} |")
    print(
        f"\nPeak RSS of the process: {peak_rss_mb():.0f} MB"
        f" ({rss_data:.0f} MB after hashing the members in memory, before any store call)."
    )


if __name__ == "__main__":
    main()
