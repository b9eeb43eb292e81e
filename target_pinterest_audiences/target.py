"""The Target class: settings, the run's shared parts, and the end-of-run report."""

from __future__ import annotations

import json
import os
import sys
import typing as t
from dataclasses import dataclass

from singer_sdk import Target
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TargetCapabilities
from singer_sdk.plugin_base import _ConfigInput

from target_pinterest_audiences import settings
from target_pinterest_audiences.pinterest.client import DEFAULT_API_URL, ClientSettings, Credentials
from target_pinterest_audiences.reader import INPUT_ERRORS, LineReader
from target_pinterest_audiences.report import Progress, RunReport
from target_pinterest_audiences.sender import Sending
from target_pinterest_audiences.sinks import AudienceSink, RecordSchemaError
from target_pinterest_audiences.store import Store
from target_pinterest_audiences.sync import SyncOptions

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import click

#: Records between looks at the clock (record age, metrics) on the fast record path.
CHECK_EVERY = 1000


@dataclass
class Run:
    """What every sink of one run shares."""

    sync: Sending
    report: RunReport
    store: Store
    selected: frozenset[str] | None
    stop_on_invalid: bool
    run_id: int | None


def build_run(config: Mapping[str, t.Any]) -> Run:
    """Open the store and get ready to send from validated settings; sends nothing."""
    dry_run = bool(config.get("dry_run"))
    store = Store.open(config.get("store_url"), read_only=dry_run)
    options = SyncOptions(
        ad_account_id=str(config["ad_account_id"]),
        list_name_template=str(config.get("list_name_template") or settings.DEFAULT_LIST_NAME_TEMPLATE),
        records_per_request=int(config.get("records_per_request") or settings.DEFAULT_RECORDS_PER_REQUEST),
        sync_mode=str(config.get("sync_mode") or "changes"),
        create_audience=bool(config.get("create_audience", True)),
        max_removal_fraction=float(config.get("max_removal_fraction", 0.5)),
        parallel_requests=int(config.get("parallel_requests", settings.DEFAULT_PARALLEL_REQUESTS)),
    )
    client = ClientSettings(
        api_url=str(config.get("api_url") or DEFAULT_API_URL),
        credentials=Credentials(
            access_token=config.get("access_token"),
            refresh_token=config.get("refresh_token"),
            client_id=config.get("client_id"),
            client_secret=config.get("client_secret"),
        ),
        requests_per_second=float(config.get("max_requests_per_second", settings.DEFAULT_REQUESTS_PER_SECOND)),
        max_retry_seconds=float(config.get("max_retry_seconds", settings.DEFAULT_MAX_RETRY_SECONDS)),
        request_timeout_seconds=float(config.get("request_timeout_seconds", settings.DEFAULT_REQUEST_TIMEOUT_SECONDS)),
    )
    report = RunReport(dry_run=dry_run, sync_mode=options.sync_mode)
    audiences = config.get("audiences")
    run_id = store.start_run()
    return Run(
        sync=Sending(
            None if dry_run else client, options, store, store_url=config.get("store_url"), report=report, run_id=run_id
        ),
        report=report,
        store=store,
        selected=frozenset(audiences) if audiences is not None else None,
        stop_on_invalid=config.get("on_invalid_record") == "fail",
        run_id=run_id,
    )


class TargetPinterestAudiences(Target):
    """Keeps Pinterest Ads customer lists in step with audience membership from any tap."""

    name = "target-pinterest-audiences"
    package_name = "target-pinterest-audiences"
    config_jsonschema = settings.CONFIG_SCHEMA
    default_sink_class = AudienceSink
    message_reader_class = LineReader
    #: The SDK's, without schema flattening: it would take Segment's nested context.personas apart.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        """The SDK's built-in settings that act here, not the ones that would do nothing (settings.SDK_SETTINGS)."""
        super().append_builtin_config(config_jsonschema)
        settings.drop_inert_sdk_settings(config_jsonschema)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> _ConfigInput:
        """The --config files, then TARGET_PINTEREST_AUDIENCES_<NAME> variables on top, always.

        As under Meltano and as target-pinterest-audiences-auth reads them (settings.resolve);
        a file that cannot be read is one line naming it.
        """
        del ctx, param
        schema = dict(cls.config_jsonschema)
        cls.append_builtin_config(schema)
        return _ConfigInput(config=settings.resolve(value, os.environ, schema), parse_env=False)

    def __init__(self, **kwargs: t.Any) -> None:  # noqa: ANN401
        """Validate settings and open the store before any input is read."""
        super().__init__(**kwargs)
        self.run = build_run(self.config)
        interval = float(self.config.get("progress_interval_seconds", settings.DEFAULT_PROGRESS_SECONDS))
        self._progress = Progress(self.run.report, interval, lambda line: self.logger.info("%s", line))
        self._progress.start()
        self._finished = False
        self._ending = False
        self._records_since_check = 0
        self._counted: dict[str, int] = {}
        config = self.config
        self._fast_records = not (
            config.get("stream_maps") or config.get("flattening_enabled") or config.get("add_record_metadata")
        )

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check settings with one line that names each wrong one (never a secret's value)."""
        schema = dict(self.config_jsonschema)
        self.append_builtin_config(schema)
        errors = settings.check(self.config, schema)
        if errors and raise_errors:
            raise settings.SettingsError(settings.one_line(errors))
        return errors

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run as the SDK does, but a run that fails still reports, as failed, first."""
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        target = cls(config=config.config, validate_config=True, parse_env_config=config.parse_env)
        try:
            target.listen(file_input)
        except BaseException as exc:
            if isinstance(exc, INPUT_ERRORS):
                target.deliver_before_failing()
            target.finish("failed", error=" ".join(str(exc).split()) or type(exc).__name__)
            raise

    def deliver_before_failing(self) -> None:
        """Send what the lines before a bad one said, and emit the state they reached.

        Nothing good is lost to a bad line further on. A mirror snapshot stays open: without
        the rest of the input nobody can say whom to remove.
        """
        if self._finished:
            return
        try:
            self.drain_all()
            self.run.sync.flush()
        except Exception as exc:  # noqa: BLE001 - the input error is the one to report
            self.logger.warning("The records before the bad line were not all delivered: %s", exc)

    def process_endofpipe(self) -> None:
        """Drain everything, end mirror snapshots, emit state, then report."""
        self._ending = True
        if self._fast_records:
            self._count_records()
        super().process_endofpipe()
        # When no STATE came at all; otherwise already done before the last state left.
        self.run.sync.flush()
        self.run.sync.finish_snapshots()
        self.finish("succeeded")

    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        """No state before Pinterest accepted every change before it, waiting ones included.

        At the end of input, mirror removals too must be accepted before the last state leaves.
        """
        self.run.sync.flush()
        if self._ending:
            self.run.sync.finish_snapshots()
        super()._write_state_message(state)

    def _process_record_message(self, message_dict: dict[str, t.Any]) -> None:
        """Hand a record straight to its sink when no stream map or flattening applies.

        The SDK's general path copies every record, runs the identity map, and handles
        metadata columns this target never writes; for millions of records that is most of
        the cost. The checks stay: the schema (compiled), key properties (unless the schema
        requires them all, when its check already covers them), batch size, record age.
        """
        if not self._fast_records:
            super()._process_record_message(message_dict)
            return
        stream_name = message_dict.get("stream")
        record = message_dict.get("record")
        if stream_name is None or record is None:
            self._assert_line_requires(message_dict, requires={"stream", "record"})
        found = self._sinks_active.get(stream_name)  # type: ignore[arg-type]
        if found is None:
            self._assert_sink_exists(stream_name)  # type: ignore[arg-type]
            found = self.get_sink(stream_name)  # type: ignore[arg-type]
        # Every sink is an AudienceSink (default_sink_class): annotated, not cast, per record.
        sink: AudienceSink = found  # type: ignore[assignment]
        sink._validate_and_parse(record)  # type: ignore[arg-type]  # noqa: SLF001 - the SDK's steps, in its order
        if sink.check_keys:
            sink._singer_validate_message(record)  # type: ignore[arg-type]  # noqa: SLF001
        sink.tally_record_read()
        sink.process_record(record, sink._get_context(record))  # type: ignore[arg-type]  # noqa: SLF001
        if sink.current_size >= sink.batch_limit:  # the SDK's is_full, its limit worked out once
            self.drain_one(sink)
        self._records_since_check += 1
        if self._records_since_check >= CHECK_EVERY:
            # The SDK's record counter and record-age clock, once a thousand records.
            self._records_since_check = 0
            self._count_records()
            self._handle_max_record_age()

    def _count_records(self) -> None:
        """Bring the SDK's record_count metrics up to the records read."""
        for name, sink in self._sinks_active.items():
            read = sink._total_records_read  # noqa: SLF001 - the SDK's own tally
            sink.record_counter_metric.increment(read - self._counted.get(name, 0))
            self._counted[name] = read

    def _process_activate_version_message(self, message_dict: dict[str, t.Any]) -> None:
        """ACTIVATE_VERSION: the stream's full snapshot is complete (mirror mode ends it)."""
        self._assert_line_requires(message_dict, requires={"stream", "version"})
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            raise RecordSchemaError(f"ACTIVATE_VERSION for stream '{stream}' came before its SCHEMA. Fix the tap.")
        for stream_map in self.mapper.stream_maps[stream]:
            self.get_sink(stream_map.stream_alias).activate_version(message_dict["version"])

    def finish(self, status: str, error: str | None = None) -> None:
        """Close the run once: list statuses, report table and JSON, run history."""
        if self._finished:
            return
        self._finished = True
        run = self.run
        self._progress.stop()
        try:
            if status == "succeeded":
                run.sync.read_statuses()
        finally:
            run.sync.close(wait=status == "succeeded")
        report = run.report
        report.status = status
        report.error = error
        report.requests, report.retries = report.live_calls()
        for line in report.table().splitlines():
            self.logger.info("%s", line)
        for row in report.too_small():
            self.logger.warning(
                "Customer list '%s' is TOO_SMALL: fewer than 100 Pinterest users matched, so it "
                "cannot be targeted yet (matching takes up to 24 hours).",
                row.name,
            )
        report_path = self.config.get("report_path")
        if report_path:
            report.write(report_path)
        run.store.finish_run(run.run_id, status, json.dumps(report.as_dict()))
