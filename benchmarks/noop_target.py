"""A singer-sdk target that reads, validates and drops every record: the SDK's own cost.

    python benchmarks/noop_target.py --input FILE                  # SDK defaults
    python benchmarks/noop_target.py --fast --config C --input FILE # msgspec reader

``--fast`` (taken off the command line before the SDK's CLI sees it) switches to the SDK's
msgspec reader; put ``{"validate_records": false}`` in the config to skip validation too.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk import Target
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.sinks import BatchSink


class NoopSink(BatchSink):
    """Drops every batch."""

    def process_batch(self, context: dict[str, t.Any]) -> None:
        """Nothing to write."""


class NoopTarget(Target):
    """SDK defaults: the default JSON reader, record validation on."""

    name = "noop-target"
    config_jsonschema: t.ClassVar[dict[str, t.Any]] = {"type": "object", "properties": {}}
    default_sink_class = NoopSink


class FastNoopTarget(NoopTarget):
    """The SDK's faster msgspec reader."""

    message_reader_class = MsgSpecReader


if __name__ == "__main__":
    if "--fast" in sys.argv:
        sys.argv.remove("--fast")
        FastNoopTarget.cli()
    else:
        NoopTarget.cli()
