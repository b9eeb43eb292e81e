"""The target's reading side alone: the real target, its batches dropped at the hand-off.

    python benchmarks/reading_only.py --config FILE --input FILE

Everything before a batch goes to the sender runs as in a real run: the line reader and
msgspec, each record's SCHEMA check, classifying, normalising and hashing, batching. The
batches are then dropped: nothing is planned, sent or stored (use a ``dry_run`` config, so
the store stays untouched). Its records/s bound the target's, whatever sending costs.
"""

from __future__ import annotations

import typing as t

from target_pinterest_audiences import sender
from target_pinterest_audiences.cli import main

if t.TYPE_CHECKING:
    from target_pinterest_audiences.sync import Pending


def _drop(self: sender.Sending, pending: Pending, *, full: bool = False) -> None:
    """Take a batch and do nothing with it: no sender is ever started."""
    del self, pending, full


if __name__ == "__main__":
    sender.Sending.submit = _drop  # type: ignore[method-assign]
    main()
