"""The Target class: settings, the run's shared parts, and the end-of-run report."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import typing as t
from dataclasses import dataclass, field

from singer_sdk import Target
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TargetCapabilities
from singer_sdk.plugin_base import _ConfigInput

from target_pinterest_audiences import settings
from target_pinterest_audiences.pinterest.client import (
    DEFAULT_API_URL,
    TIMEOUT,
    Credentials,
    PinterestClient,
    PinterestError,
)
from target_pinterest_audiences.pinterest.tokens import (
    RefreshTokenEndedError,
    check_not_ended,
    ending_soon,
    follow_rotations,
)
from target_pinterest_audiences.reader import INPUT_ERRORS, LineReader
from target_pinterest_audiences.report import Progress, RunReport
from target_pinterest_audiences.sinks import AudienceSink, RecordSchemaError
from target_pinterest_audiences.store import Store
from target_pinterest_audiences.write.journal import CrashPoints
from target_pinterest_audiences.write.plan import Pending
from target_pinterest_audiences.write.send import WriteOptions, Writer

if t.TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType

    import click

#: Records between looks at the clock (record age, metrics, STATE cadence) on the fast record path.
CHECK_EVERY = 1000
#: Seconds between STATEs while a run goes on (CONTRACT.md: at least once a minute); the
#: private setting ``_state_interval_seconds`` shortens it for tests.
STATE_INTERVAL_SECONDS = 60.0
#: The first batch is at most this many records; later ones are sized from how fast the
#: earlier ones were sent, so that one drain takes about an eighth of the STATE interval.
FIRST_BATCH_ROWS = 1000
SMALLEST_BATCH_ROWS = 100
#: A batch at most this many times the one before it (the first drains probe Pinterest's pace).
BATCH_GROWTH = 8


class RunInterruptedError(BaseException):
    """SIGINT or SIGTERM arrived: the run stops reading at once (raised in the main thread).

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` on the way
    swallows it.
    """

    def __init__(self, signum: int) -> None:
        """Keep the signal: the exit code is 128 plus its number."""
        super().__init__(signum)
        self.signum = signum


@dataclass
class Run:
    """What every sink of one run shares."""

    options: WriteOptions
    writer: Writer
    report: RunReport
    store: Store
    selected: frozenset[str] | None
    stop_on_invalid: bool
    pending: Pending = field(default_factory=Pending)
    snapshot_streams: dict[str, set[str]] = field(default_factory=dict)
    """Mirror: per audience, the streams whose snapshot of it is still open (no ACTIVATE_VERSION yet)."""
    _sending: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send_pending(self, *, final: bool = True) -> None:
        """Send every stream's pending signals at once (one drain at a time).

        Unless ``final``, what does not fill a whole request waits for the next batch.
        """
        with self._sending:
            self.writer.write(self.pending.take(), final=final)


def open_client(config: Mapping[str, t.Any], store: Store) -> PinterestClient:
    """The Pinterest client; rotated refresh tokens are kept in the store."""
    credentials = Credentials(
        access_token=config.get("access_token"),
        refresh_token=config.get("refresh_token"),
        client_id=config.get("client_id"),
        client_secret=config.get("client_secret"),
    )
    follow_rotations(credentials, store)
    return PinterestClient(
        str(config.get("api_url") or DEFAULT_API_URL),
        credentials,
        requests_per_second=float(config.get("max_requests_per_second", settings.DEFAULT_REQUESTS_PER_SECOND)),
        max_retry_seconds=float(config.get("max_retry_seconds", settings.DEFAULT_MAX_RETRY_SECONDS)),
        timeout=(TIMEOUT[0], float(config.get("request_timeout_seconds", settings.DEFAULT_REQUEST_TIMEOUT_SECONDS))),
    )


#: Pinterest's answers to an ad account the token does not reach: 404 code 2 "ad account not
#: found" (PINTEREST.md, errors seen in the spec), 403 when the account exists but is not shared.
NOT_REACHED = frozenset({403, 404})


def check_ad_account(client: PinterestClient, ad_account_id: str) -> None:
    """Before any input is read: api_url answers, and the token reaches ``ad_account_id``.

    One GET of the account. When Pinterest says the token does not reach it, a second call
    lists the accounts it does reach, so that the one line can name them.
    """
    try:
        client.request("GET", f"/ad_accounts/{ad_account_id}", f"reading ad account {ad_account_id}")
    except PinterestError as exc:
        if exc.status not in NOT_REACHED:
            raise
        try:
            reached = [f"{item.get('id')} ({item.get('name') or 'no name'})" for item in client.ad_accounts()]
        except PinterestError as listing:
            others = f"the accounts it reaches could not be listed ({listing.message or listing.status})"
        else:
            others = f"it reaches {', '.join(reached)}" if reached else "it reaches no ad account"
        answer = f"HTTP {exc.status}" + (f": {exc.message}" if exc.message else "")
        raise settings.SettingsError(
            f"Invalid settings: the token does not reach ad_account_id {ad_account_id} (Pinterest: {answer}); "
            f"{others}. Set ad_account_id to one of those, or authorise a user who can reach the account."
        ) from None


def build_run(config: Mapping[str, t.Any]) -> Run:
    """Open the store and get ready to write from validated settings; sends nothing."""
    dry_run = bool(config.get("dry_run"))
    crash = CrashPoints(config.get("_crash_at"))
    store = Store.open(config.get("store_url"), read_only=dry_run)
    store.start_run()
    options = WriteOptions(
        ad_account_id=str(config["ad_account_id"]),
        list_name_template=str(config.get("list_name_template") or settings.DEFAULT_LIST_NAME_TEMPLATE),
        records_per_request=int(config.get("records_per_request") or settings.DEFAULT_RECORDS_PER_REQUEST),
        sync_mode=str(config.get("sync_mode") or "changes"),
        create_audience=bool(config.get("create_audience", True)),
        max_removal_fraction=float(config.get("max_removal_fraction", 0.5)),
        parallel_requests=int(config.get("parallel_requests", settings.DEFAULT_PARALLEL_REQUESTS)),
    )
    client = None if dry_run else open_client(config, store)
    report = RunReport(dry_run=dry_run, sync_mode=options.sync_mode)
    if client is not None:
        report.calls = client.stats.snapshot
    audiences = config.get("audiences")
    return Run(
        options=options,
        writer=Writer(options, store, client, report, crash=crash),
        report=report,
        store=store,
        selected=frozenset(audiences) if audiences is not None else None,
        stop_on_invalid=config.get("on_invalid_record") == "fail",
    )


def _not_the_sdk_env_line(record: logging.LogRecord) -> bool:
    """Drop the SDK's "Skipping parse of env var settings" line.

    It is wrong here: the target always reads its variables (settings.resolve), and says
    which ones it took.
    """
    return not str(record.msg).startswith("Skipping parse of env var settings")


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
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with a --help that says what this target does and how to set it up."""
        command = super().get_singer_command()
        command.help = settings.help_text()
        return command

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
        """Validate settings and open the store; ``invoke`` settles what an interrupted run left first."""
        self._interrupted: int | None = None
        self._finished = False
        self._closing = False
        self._emitted_state: dict[str, t.Any] | None = None
        self._accepted_state: dict[str, t.Any] | None = None
        self._last_state_at = time.monotonic()
        if _not_the_sdk_env_line not in self.logger.filters:
            self.logger.addFilter(_not_the_sdk_env_line)
        super().__init__(**kwargs)
        # All sinks share one pending map, so one drain sends everything; the writer sends
        # lists in parallel itself. The SDK's parallel drain threads would only take turns.
        self.max_parallelism = 1
        self.run = build_run(self.config)
        self.logger.info("%s", self.run.store.describe())
        interval = float(self.config.get("progress_interval_seconds", settings.DEFAULT_PROGRESS_SECONDS))
        self._progress = Progress(self.run.report, interval, lambda line: self.logger.info("%s", line))
        self._progress.start()
        self._records_since_check = 0
        self._counted: dict[str, int] = {}
        config = self.config
        self._fast_records = not config.get("stream_maps")  # flattening and metadata are not offered
        self._state_interval = float(config.get("_state_interval_seconds", STATE_INTERVAL_SECONDS))
        self.batch_rows = FIRST_BATCH_ROWS

    def check_start(self) -> None:
        """Before any input: the refresh token has not ended, and the token reaches the ad account.

        Called by ``invoke`` inside the run's failure handling, so a failure here is reported
        (and a token that does not reach the account exits 2, nothing read or sent).
        """
        client = self.run.writer.client
        if client is None:
            return
        self._check_refresh_token(client)
        check_ad_account(client, self.run.options.ad_account_id)
        warning = ending_soon(client.credentials)  # after the check's renewal, if any
        if warning:
            self.logger.warning("%s", warning)

    def _check_refresh_token(self, client: PinterestClient) -> None:
        """A refresh token the store knows has ended: the ERROR line says what to do; nothing is sent."""
        try:
            check_not_ended(client.credentials)
        except RefreshTokenEndedError as exc:
            self.logger.error("%s", exc)  # noqa: TRY400 - the reason is the message, no traceback needed
            raise

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
        config: t.Any = None,  # noqa: ANN401 - the SDK's private _ConfigInput
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run as the SDK's Target.invoke does, but a run that fails or is stopped still reports.

        The SDK's version gives no hold of the target once ``listen`` raised.
        """
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        try:
            target = cls(
                config=config.config if config else {},
                validate_config=True,
                parse_env_config=bool(config and config.parse_env),
            )
        except RunInterruptedError as exc:
            cls.logger.warning("Stopped by signal %d before reading any input.", exc.signum)
            sys.exit(128 + exc.signum)
        try:
            # The start-of-run checks and settling are part of the run: a failure there is
            # reported like any other.
            target.check_start()
            target.run.writer.settle()
            target.listen(file_input)
        except RunInterruptedError as exc:
            target.stop(exc.signum)
        except BaseException as exc:
            if isinstance(exc, INPUT_ERRORS):
                target.deliver_before_failing()
            target.finish("failed", error=" ".join(str(exc).split()) or type(exc).__name__)
            raise

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM: stop reading now (see :meth:`stop`); a second signal exits at once.

        Replaces the SDK's handler, which drains every sink from inside the signal handler
        and then exits 0: a drain can take minutes, and a handler that waits on locks the
        interrupted code holds can hang for ever.
        """
        del frame
        if self._interrupted is not None:
            os._exit(128 + signum)  # the journal covers what was in flight
        if self._closing:
            return  # the report is written as it stands: the run is over
        self._interrupted = signum
        raise RunInterruptedError(signum)

    def stop(self, signum: int) -> t.NoReturn:
        """Settle the writes in flight, report the run as interrupted, exit 128 + signal.

        Every STATE already emitted was accepted by Pinterest; what was read since is not
        sent, and the tap sends it again from the last STATE.
        """
        self.logger.warning("Received signal %d: stopping; waiting for the writes in flight.", signum)
        self.run.writer.stop()
        accepted = self._accepted_state
        if accepted is not None and accepted != self._emitted_state and not self.run.report.dry_run:
            self._emit_state(accepted)
        self.finish("interrupted", error=f"stopped by signal {signum}")
        sys.exit(128 + signum)

    def deliver_before_failing(self) -> None:
        """Send what the lines before a bad one said, and emit the state they reached.

        Nothing good is lost to a bad line further on. A mirror snapshot stays open: without
        the rest of the input nobody can say whom to remove.
        """
        if self._finished:
            return
        try:
            self.drain_all()
        except Exception as exc:  # noqa: BLE001 - the input error is the one to report
            self.logger.warning("The records before the bad line were not all delivered: %s", exc)

    def process_endofpipe(self) -> None:
        """Send everything, end mirror snapshots, then let the SDK emit the last state; report."""
        if self._fast_records:
            self._count_records()
        self.run.send_pending()
        self.run.writer.finish_snapshots()
        super().process_endofpipe()
        self.finish("succeeded")

    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        """No STATE before the requests a drain held back are accepted; none in a dry run.

        A dry run's STATE would move the tap's bookmark past records never sent.
        """
        self.run.send_pending()
        self._accepted_state = state
        self._last_state_at = time.monotonic()
        if self.run.report.dry_run:
            return
        self._emit_state(state)

    def _emit_state(self, state: dict[str, t.Any]) -> None:
        self._emitted_state = state
        super()._write_state_message(state)

    def _state_due(self) -> bool:
        """A STATE the tap sent waits, and the last one left the target half an interval ago.

        Half: a drain under way when the interval ends would otherwise push the STATE past it.
        """
        return (
            self._latest_state is not None
            and self._latest_state != self._accepted_state
            and time.monotonic() - self._last_state_at >= self._state_interval / 2
        )

    def _process_state_message(self, message_dict: dict[str, t.Any]) -> None:
        """Keep the tap's STATE; when one is due (an interval since the last), deliver and emit it."""
        super()._process_state_message(message_dict)
        if self._state_due():
            self.drain_all()

    def _drain_full(self, sink: AudienceSink) -> None:
        """A batch is full: send it (with a STATE when one is due), then size the next batch.

        Every sink shares one pending map, so a drain sends every stream's records; when the
        writer holds nothing back afterwards, the STATE read before the drain is accepted.
        """
        state = self._latest_state
        records = sink.current_size
        started = time.monotonic()
        if self._state_due():
            self.drain_all()
        else:
            self.drain_one(sink)
            if not self.run.writer.holding():
                self._accepted_state = state
        self._fit_batches(records, time.monotonic() - started)

    def _fit_batches(self, records: int, seconds: float) -> None:
        """Size batches so one drain takes about an eighth of the STATE interval, up to batch_size_rows."""
        pace = records / seconds if seconds > 0 else float("inf")
        wanted = self._state_interval / 8 * pace
        rows = int(min(wanted, self.batch_rows * BATCH_GROWTH, 2**31))
        self.batch_rows = max(SMALLEST_BATCH_ROWS, rows)
        for active in self._sinks_active.values():
            if isinstance(active, AudienceSink):
                active.batch_limit = min(active.max_size, self.batch_rows)

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
            self._drain_full(sink)
        self._records_since_check += 1
        if self._records_since_check >= CHECK_EVERY:
            # The SDK's record counter and record-age clock, and the STATE cadence, once a thousand records.
            self._records_since_check = 0
            self._count_records()
            if self._state_due():
                self.drain_all()
            self._handle_max_record_age()

    def _count_records(self) -> None:
        """Bring the SDK's record_count metrics up to the records read."""
        for name, sink in self._sinks_active.items():
            read = sink._total_records_read  # noqa: SLF001 - the SDK's own tally
            sink.record_counter_metric.increment(read - self._counted.get(name, 0))
            self._counted[name] = read

    def _process_schema_message(self, message_dict: dict[str, t.Any]) -> None:
        """Take any valid JSON Schema for an object, ``{"type": "object"}`` included.

        The SDK requires a "properties" key, which JSON Schema does not (several taps send a
        free-form stream as ``{"type": "object"}``); an empty one constrains nothing more.
        """
        schema = message_dict.get("schema")
        if isinstance(schema, dict) and "properties" not in schema:
            message_dict = {**message_dict, "schema": {**schema, "properties": {}}}
        super()._process_schema_message(message_dict)

    def _process_activate_version_message(self, message_dict: dict[str, t.Any]) -> None:
        """ACTIVATE_VERSION: the stream's full snapshot is complete (mirror mode ends it)."""
        self._assert_line_requires(message_dict, requires={"stream", "version"})
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            raise RecordSchemaError(f"ACTIVATE_VERSION for stream '{stream}' came before its SCHEMA. Fix the tap.")
        for stream_map in self.mapper.stream_maps[stream]:
            self.get_sink(stream_map.stream_alias).activate_version(message_dict["version"])

    def finish(self, status: str, error: str | None = None) -> None:
        """Close the run once: list statuses, report table and JSON, run history.

        A failed run's table and last line are logged at ERROR, an interrupted one's at WARNING.
        """
        if self._finished:
            return
        run = self.run
        self._progress.stop()
        try:
            if status == "succeeded":
                # A signal here stops the reads: invoke then reports the run as interrupted.
                run.writer.read_feedback()
        finally:
            run.writer.close()
        self._finished = self._closing = True
        if self._interrupted is not None and status == "succeeded":
            status, error = "interrupted", f"stopped by signal {self._interrupted}"
        report = run.report
        report.status = status
        report.error = error
        report.requests, report.retries = report.live_calls()
        level = {"succeeded": logging.INFO, "interrupted": logging.WARNING}.get(status, logging.ERROR)
        for line in report.table().splitlines():
            self.logger.log(level, "%s", line)
        for row in report.too_small():
            self.logger.warning(
                "Customer list '%s' is TOO_SMALL: fewer than 100 Pinterest users matched, so it "
                "cannot be targeted yet (matching takes up to 24 hours).",
                row.name,
            )
        for item in report.matching:
            for warning in item.warnings:
                self.logger.warning("Matching: %s.", warning)
        report_path = self.config.get("report_path")
        if report_path:
            report.write(report_path)
        run.store.finish_run(status, json.dumps(report.as_dict()))
        if error:
            self.logger.log(level, "Run %s: %s", status, error)
