"""The socket side: a threaded HTTP/1.1 server whose handler hands each request to the emulator.

Why apart from the emulator: what Pinterest answers is decided in ``emulator.py`` without a
socket (so it stays testable); this room only reads bodies, writes replies with a length,
and drops connections when a fault says so, without ever breaking the server.
"""

from __future__ import annotations

import json
import secrets
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast
from urllib.parse import parse_qs

from pinterest_emulator.errors import ApiError, invalid

if TYPE_CHECKING:
    from collections.abc import Mapping

# Assumption: a body above 64 MiB is a 413 and a chunked body a 411 (undocumented; the
# largest request Pinterest takes is unknown: PINTEREST.md, "Largest request").
_MAX_BODY = 64 * 1024 * 1024


class Response(NamedTuple):
    """One answer: status, JSON body and headers, or a dropped connection, or raw bytes."""

    status: int
    body: object
    headers: dict[str, str]
    drop: str | None = None  # "close" or "reset": send no reply and drop the connection
    raw: tuple[str, bytes] | None = None  # (content type, bytes) sent as they are, for odd replies


def error_response(error: ApiError) -> Response:
    """Pinterest's error body for an ``ApiError``."""
    return Response(error.status, {"code": error.code, "message": error.message}, error.headers)


_ODD_REPLIES: dict[str, tuple[int, str, bytes]] = {
    "html": (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "empty": (200, "application/json", b""),
    "wrong_json": (200, "application/json", b'{"data": [1, 2, 3]}'),
    "not_json": (200, "text/plain", b"OK"),
}


def odd_reply(kind: str) -> Response:
    """A reply Pinterest would not send (``Faults.odd_reply_nth``)."""
    status, content_type, payload = _ODD_REPLIES[kind]
    return Response(status, None, {}, raw=(content_type, payload))


def parse_body(headers: Mapping[str, str], raw_body: bytes) -> tuple[object, ApiError | None]:
    """The body as JSON, or form fields as plain strings (``/oauth/token``), or the 400 it earns."""
    if not raw_body:
        return None, None
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    try:
        text = raw_body.decode()
        if content_type == "application/x-www-form-urlencoded":
            return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}, None
        return json.loads(text), None
    except (UnicodeDecodeError, ValueError):
        return None, invalid("Request body is not valid JSON")


class Answering(Protocol):
    """What the handler needs of the emulator."""

    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> Response:
        """Answer one request."""
        ...


class EmulatorServer(ThreadingHTTPServer):
    """A threaded server that knows the emulator its handlers ask."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Answering) -> None:
        """Bind at once, so the port is known before serving starts."""
        super().__init__(address, _Handler)
        self.emulator = emulator


class _Handler(BaseHTTPRequestHandler):
    """Socket glue: read the body, let the emulator answer, write JSON with a length."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are dropped after this many seconds
    # Headers and body leave in one buffered write with Nagle off: otherwise each reply
    # waits ~40 ms for a delayed ACK and a 300-request test takes seconds.
    wbufsize = -1
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        emulator = cast("EmulatorServer", self.server).emulator
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(Response(411, {"code": 1, "message": "Content-Length required"}, {}))
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(Response(413, {"code": 1, "message": "Request body too large"}, {}))
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length > 0 else b""
        response = emulator.handle(self.command, self.path, dict(self.headers.items()), raw)
        if response.drop is not None:
            self._drop(response.drop)
        else:
            self._send(response)

    def _drop(self, mode: str) -> None:
        """Reply nothing: close the connection (FIN) or reset it (RST), then serve others."""
        self.close_connection = True
        if mode == "reset":
            # Linger 0 makes close() send RST. The descriptor really closes when finish()
            # closes rfile and wfile; socketserver's later shutdown() of it fails quietly.
            linger = struct.pack("hh" if sys.platform == "win32" else "ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()

    def handle(self) -> None:
        """Serve the connection's requests; a client that went away only ends this one."""
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _send(self, response: Response) -> None:
        content_type, payload = response.raw or (
            "application/json",
            b"" if response.body is None else json.dumps(response.body).encode(),
        )
        self.send_response(response.status)
        if payload:
            self.send_header("Content-Type", content_type)
        self.send_header("x-pinterest-rid", secrets.token_hex(8))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815 (http.server API)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Silence http.server's stderr log; ``handle`` logs without bodies or tokens."""
