"""The sink: each record becomes pending membership signals; a drain sends them.

One sink per stream, as the SDK makes them; all sinks put their signals into the run's one
:class:`~target_pinterest_audiences.write.plan.Pending` map in input order, so the last
signal for an identifier wins whichever stream carried it, and an audience that arrives on
several streams still has one list per identifier type.
"""

from __future__ import annotations

import typing as t

import fastjsonschema
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_pinterest_audiences.records import Ignored, InvalidRecordError, classify

if t.TYPE_CHECKING:
    from target_pinterest_audiences.target import TargetPinterestAudiences

#: Records held before a drain when batch_size_rows is not set. A drain sends every list's
#: changes, the last request of each list partly filled: bigger batches fill more requests;
#: 50,000 records' pending hashes take about 10 MB.
DEFAULT_BATCH_ROWS = 50_000


class CompiledValidator(BaseJSONSchemaValidator):
    """A stream's SCHEMA compiled to Python by fastjsonschema.

    No defaults are filled in and no formats checked, as with the SDK's own validator.
    """

    def __init__(self, schema: dict[str, t.Any]) -> None:
        """Compile once per stream."""
        super().__init__(schema)
        self.check: t.Callable[[dict[str, t.Any]], object] = fastjsonschema.compile(
            schema, use_default=False, use_formats=False
        )

    def validate(self, record: dict[str, t.Any]) -> None:
        """Raise the SDK's InvalidRecord, caused by the compiler's error."""
        try:
            self.check(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise InvalidRecord(exc.message, record) from exc


class InvalidRecordStopError(Exception):
    """A record that cannot be used, with ``on_invalid_record: fail``."""


class RecordSchemaError(Exception):
    """A record that breaks its stream's SCHEMA: the tap is broken, so the run stops."""


class AudienceSink(BatchSink):
    """Turns a stream's records into ADD/REMOVE signals per (audience, list type)."""

    MAX_SIZE_DEFAULT = DEFAULT_BATCH_ROWS

    def __init__(
        self,
        target: TargetPinterestAudiences,
        stream_name: str,
        schema: dict[str, t.Any],
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Keep the run this sink feeds."""
        super().__init__(target, stream_name, schema, key_properties)
        self.run = target.run
        self.position = 0
        self.mirror = self.run.options.mirror
        self.audiences_seen: set[str] = set()
        # Worked out once, not per record: the batch size, and the schema check to run.
        self.batch_limit = min(self.max_size, target.batch_rows)
        validator = self._validator
        self._check = validator.check if isinstance(validator, CompiledValidator) else None
        # The SDK checks that every key property is present; a schema that requires them
        # all, checked on every record, already has.
        keys = set(self.key_properties or ())
        self.check_keys = bool(keys) and not (validator is not None and keys <= set(schema.get("required") or ()))

    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:  # noqa: ARG002
        """Classify a record into the run's pending signals (the last one per identifier wins)."""
        self.position += 1
        run = self.run
        run.report.records_read += 1
        try:
            outcome = classify(record, self.stream_name, run.selected)
        except InvalidRecordError as exc:
            run.report.count_invalid(str(exc))
            if exc.list_type is not None:
                for audience in exc.audiences:
                    name = run.options.list_name(audience, exc.list_type)
                    run.report.count(run.report.list_report(name, audience, exc.list_type), invalid=1)
            # Counted once, as an unusable record: its unusable identifiers carried nothing, so
            # they are not dropped identifiers too (those are the ones whose record still counted).
            where = f"stream '{self.stream_name}', record {self.position}"
            if run.stop_on_invalid:
                raise InvalidRecordStopError(
                    f"Invalid record ({where}): {exc}. Fix the record, or set on_invalid_record to skip."
                ) from None
            self.logger.warning("Skipped invalid record (%s): %s.", where, exc)
            return
        if isinstance(outcome, Ignored):
            run.report.count_ignored(outcome.reason)
            return
        if outcome.dropped:
            self._count_dropped(outcome.dropped, [audience for audience, _ in outcome.signals])
        add = run.pending.add
        for audience, member in outcome.signals:
            if self.mirror and audience not in self.audiences_seen:
                self.audiences_seen.add(audience)
                run.snapshot_streams.setdefault(audience, set()).add(self.stream_name)
            for list_type, hashed in outcome.identifiers:
                add(audience, list_type, hashed, member)

    def _count_dropped(self, dropped: t.Iterable[tuple[str, str]], audiences: t.Iterable[str]) -> None:
        """Count unusable identifiers by type and reason, and on each list they were meant for."""
        report = self.run.report
        for list_type, reason in dropped:
            report.count_dropped(reason)
            for audience in audiences:
                name = self.run.options.list_name(audience, list_type)
                report.count(report.list_report(name, audience, list_type), dropped_identifiers=1)

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """Validate records with a compiled validator: twenty times the SDK's jsonschema speed."""
        if not self.validate_schema:
            return None
        try:
            return CompiledValidator(self.schema)
        except fastjsonschema.JsonSchemaDefinitionException:
            return super().get_validator()  # a schema the compiler cannot take: the SDK's validator

    def _validate_and_parse(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """Validate against the stream's SCHEMA, with an error that carries no values.

        The SDK's version logs the whole record with the error, and parses date-times this
        target never reads; both are left out.
        """
        check = self._check
        if check is not None:
            try:
                check(record)
            except fastjsonschema.JsonSchemaValueException as exc:
                raise self._schema_error(exc) from None
        elif self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                raise self._schema_error(exc.__cause__) from None
        return record

    def _schema_error(self, cause: BaseException | None) -> RecordSchemaError:
        """The one line for a record that breaks its SCHEMA: path and rule, never a value."""
        if isinstance(cause, fastjsonschema.JsonSchemaValueException):
            parts, rule = (cause.path or [])[1:], cause.rule or "schema"
            message = str(cause.message).replace(str(cause.name), "/".join(map(str, parts)) or "record", 1)
        else:
            parts, rule = list(getattr(cause, "absolute_path", ())), getattr(cause, "validator", "schema")
            message = str(getattr(cause, "message", rule))
        path = "/".join(str(part) for part in parts) or "record"
        # A 'required' message names properties of the schema; others would echo values.
        problem = message if rule == "required" else f"{path} fails '{rule}'"
        where = f"stream '{self.stream_name}', record {self.position + 1}"
        return RecordSchemaError(f"Record does not match its SCHEMA ({where}): {problem}. Fix the tap or its schema.")

    def _after_process_record(self, context: dict[str, t.Any]) -> None:
        """Skip the SDK's per-record debug line: it would print the pending signals."""

    def activate_version(self, new_version: int) -> None:
        """The tap finished a full snapshot of this stream: in mirror mode, apply it now."""
        del new_version
        if not self.mirror:
            self.logger.debug("ACTIVATE_VERSION ignored: sync_mode is not mirror.")
            return
        self.run.send_pending()
        # An audience other streams also carry is theirs too: its snapshot ends with the last of them.
        ended = set()
        for audience in self.audiences_seen:
            streams = self.run.snapshot_streams.get(audience, set())
            streams.discard(self.stream_name)
            if not streams:
                self.run.snapshot_streams.pop(audience, None)
                ended.add(audience)
        self.run.writer.finish_snapshots(ended)
        self.audiences_seen = set()

    def process_batch(self, context: dict[str, t.Any]) -> None:
        """Send every stream's pending signals; return only when Pinterest accepted them.

        A list's changes short of a whole request wait for the next batch; the SDK emits a
        STATE only after a drain of every sink, and the target sends them before it does.
        """
        del context
        self.run.send_pending(final=False)
