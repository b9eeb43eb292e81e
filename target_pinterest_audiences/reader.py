"""Singer input as bytes, line by line: fast to parse, and every error names its line.

The SDK's readers log the whole offending line when it is not JSON, which for this target
is personal data. This reader decodes bytes with msgspec (UTF-8 checked on the way), keeps
the line number, bounds a line's length so a runaway line cannot exhaust memory, and turns
every input problem into one line that names the line and the problem, never its content.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import queue
import stat
import sys
import threading
import time
import typing as t
from collections import Counter

import msgspec
from singer_sdk.exceptions import InvalidJSONSchema, MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_pinterest_audiences.sinks import InvalidRecordStopError, RecordSchemaError

#: A Singer line longer than this is refused. Audience records are a few hundred bytes;
#: SCHEMA messages of wide streams reach a few hundred kilobytes.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: Errors raised while a message is handled that are about the input itself: they get the
#: line number put in front, and keep their type.
INPUT_ERRORS = (
    InvalidInputLine,
    RecordsWithoutSchemaException,
    RecordSchemaError,
    InvalidRecordStopError,
    MissingKeyPropertiesError,
    InvalidJSONSchema,
)


#: Input read ahead from a pipe while the target sends: chunks of PREFETCH_CHUNK bytes, at
#: most PREFETCH_CHUNKS of them (32 MiB, some 80,000 records).
PREFETCH_CHUNK = 1 << 20
PREFETCH_CHUNKS = 32
PREFETCH_PAUSE_SECONDS = 0.005
#: Linux's F_SETPIPE_SZ (fcntl.F_SETPIPE_SZ from Python 3.10 on some builds only), and the
#: pipe size asked for: the default pipe-max-size, 1 MiB.
F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20


class _Prefetched(io.RawIOBase):
    """A pipe read ahead by a thread, so the tap never waits while the target sends a batch.

    The drain that sends a batch holds up reading; without this the tap blocks on a full
    pipe (64 kB) for as long. Measured on 200,000 records, ``tap-jsonl | target``: 19.7 s
    read directly, against 11.8 s for the tap alone (benchmarks/, README "Performance").
    """

    def __init__(self, fd: int) -> None:
        """Start reading ``fd`` now; the thread ends at the end of input (or with the process)."""
        super().__init__()
        self._chunks: queue.Queue[bytes] = queue.Queue(PREFETCH_CHUNKS)
        self._current = memoryview(b"")
        self._ended = False
        threading.Thread(target=self._fill, args=(fd,), name="read-ahead", daemon=True).start()

    def _fill(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, PREFETCH_CHUNK)
            except OSError:
                chunk = b""
            self._chunks.put(chunk)
            if not chunk:
                return
            if len(chunk) < PREFETCH_CHUNK // 4:
                # A tap writes a line at a time: a short pause lets the pipe fill, so each read
                # takes hundreds of lines instead of one (a system call and a wake-up each).
                time.sleep(PREFETCH_PAUSE_SECONDS)

    def readable(self) -> bool:
        """A byte source."""
        return True

    def readinto(self, buffer: t.Any) -> int:  # noqa: ANN401 - a writable buffer
        """Copy the next bytes read ahead; 0 at the end of input."""
        if not self._current and not self._ended:
            chunk = self._chunks.get()
            self._ended = not chunk
            self._current = memoryview(chunk)
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size


def _read_ahead(stream: t.IO[bytes]) -> t.IO[bytes]:
    """A pipe, read ahead by a thread; anything else (a file) as it is."""
    try:
        fd = stream.fileno()
        is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return stream
    if not is_pipe:
        return stream
    with contextlib.suppress(OSError):  # a larger pipe: the tap writes on while a read waits
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
    return t.cast("t.IO[bytes]", io.BufferedReader(_Prefetched(fd), buffer_size=1 << 16))


class InputLineError(InvalidInputLine):
    """A line that is not a Singer message."""


def _binary(stream: t.IO[t.Any]) -> t.IO[bytes]:
    """The byte stream under a text stream (stdin, click's --input file), or bytes of it."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return t.cast("t.IO[bytes]", buffer)
    if isinstance(stream, io.TextIOBase):
        return io.BytesIO(stream.read().encode())
    return t.cast("t.IO[bytes]", stream)


def _describe(exc: Exception) -> str:
    """The problem in an SDK error, without the record the SDK put into its message."""
    if isinstance(exc, InvalidInputLine) and str(exc).startswith("Line is missing required"):
        return str(exc).split(":", 1)[0].replace("Line is missing", "the message lacks the") + "."
    if isinstance(exc, RecordsWithoutSchemaException):
        return str(exc).replace(" Check that the Tap correctly implements the Singer spec.", " Fix the tap.")
    if isinstance(exc, InvalidJSONSchema):
        return "the SCHEMA message holds no valid JSON schema."
    return " ".join(str(exc).split())


class LineReader(GenericSingerReader[bytes]):
    """Reads Singer messages from bytes; knows the number of the line being handled."""

    def __init__(self) -> None:
        """Start before the first line."""
        super().__init__()
        self.line_number = 0
        self._decode = msgspec.json.Decoder().decode

    @property
    def default_input(self) -> t.IO[bytes]:
        """Standard input, as bytes."""
        return sys.stdin.buffer

    def deserialize_json(self, line: bytes) -> dict[str, t.Any]:
        """Parse one line into a Singer message, or say in one line what is wrong with it."""
        try:
            message = self._decode(line)
        except msgspec.DecodeError as exc:
            reason = "it is not valid UTF-8" if "UTF-8" in str(exc) else "it is not valid JSON"
            if not line.endswith(b"\n"):
                reason += "; the input ends in the middle of a message (truncated?)"
            raise InputLineError(f"Line {self.line_number}: {reason}.") from None
        if not isinstance(message, dict):
            raise InputLineError(f"Line {self.line_number}: not a Singer message (a JSON object).")
        kind = message.get("type")
        if not isinstance(kind, str):
            raise InputLineError(f'Line {self.line_number}: the message has no "type".')
        return message

    def process_lines(
        self,
        file_input: t.IO[t.Any] | None,
        callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        """Handle every line; input errors stop with the line's number and keep their type."""
        stats: Counter[str] = Counter()
        stream = _read_ahead(_binary(file_input) if file_input is not None else self.default_input)
        readline = stream.readline
        while True:
            line = readline(MAX_LINE_BYTES + 1)
            if not line:
                break
            self.line_number += 1
            if len(line) > MAX_LINE_BYTES:
                raise InputLineError(
                    f"Line {self.line_number}: longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; no Singer message"
                    " of an audience is that large."
                )
            if line.isspace():
                continue
            message = self.deserialize_json(line)
            kind = message["type"]
            callback = callbacks.get(kind)
            if callback is None:
                shown = kind if len(kind) <= 40 else kind[:40] + "…"  # noqa: PLR2004
                raise InputLineError(f"Line {self.line_number}: unknown message type '{shown}'.")
            try:
                callback(message)
            except INPUT_ERRORS as exc:
                if str(exc).startswith("Line "):
                    raise
                raise type(exc)(f"Line {self.line_number}: {_describe(exc)}") from None
            stats[kind] += 1
        return stats
