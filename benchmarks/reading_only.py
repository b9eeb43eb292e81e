"""The target's reading side alone: the real target, each batch dropped at the SDK's sink.

    python benchmarks/reading_only.py --config FILE --input FILE

Everything up to the SDK handing a batch to ``AudienceSink.process_batch`` runs as in a real
run: the target's reader, each record's SCHEMA check, classifying, normalising and hashing,
batching. The batch is then dropped: nothing is planned, sent or stored (use a ``dry_run``
config, so the store stays untouched). Its records/s bound the target's, whatever the write
path costs. Only the SDK's public sink method is replaced, so the write path behind it may
change freely.
"""

from __future__ import annotations

import typing as t

from target_pinterest_audiences.cli import main
from target_pinterest_audiences.sinks import AudienceSink


def _drop(self: AudienceSink, context: dict[str, t.Any]) -> None:
    """Take the run's pending signals and do nothing with them (every stream's, as a drain does)."""
    del context
    self.run.pending.take()


if __name__ == "__main__":
    AudienceSink.process_batch = _drop  # type: ignore[method-assign]
    main()
