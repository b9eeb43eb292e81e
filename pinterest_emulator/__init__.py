r"""A local emulator of the part of Pinterest's REST API v5 that the target uses.

Why: the target must be testable (by us and in users' CI pipelines) without a Pinterest
account, without network and without mocking HTTP calls one by one. This module runs a
real HTTP server on loopback that answers like Pinterest does, keeps the customer lists in
memory, and lets tests assert on what was sent.

Start it from Python::

    with PinterestEmulator(openapi_path="openapi.yaml") as api:
        ...  # point the target's api_url at api.url ("http://127.0.0.1:PORT/v5")
        assert api.list_by_name("vip (EMAIL)").members == {...}

or from a shell (serves until SIGINT/SIGTERM)::

    target-pinterest-audiences-emulator --port 8080 --ad-account-id 549755885175 \
        --access-token emulator-access-token --openapi openapi.yaml
    python -m pinterest_emulator --port 0

Endpoints (under ``/v5``): ``POST /oauth/token``, ``GET /ad_accounts``, ``GET
/ad_accounts/{id}``, ``GET|POST /ad_accounts/{id}/customer_lists``, ``GET|PATCH
/ad_accounts/{id}/customer_lists/{list_id}``, ``GET|POST /ad_accounts/{id}/audiences``.
Outside ``/v5``: ``GET /oauth/`` (approves an authorisation request at once: 302 to
``redirect_uri?code=…&state=…``), ``GET /_emulator/state``, ``POST /_emulator/reset`` and
``DELETE /_emulator/customer_lists/{list_id}`` (``emulator.delete_list``: a user deleting
the list in Ads Manager; 404 code 1 if there is no such list).

For tests that compare the lists with a model (``issues show 13``, "The oracle"):

- ``emulator.delete_list(list_id)``: the list and the audiences on it are gone; GET and
  PATCH of it answer 404 code 1 "Customer list not found."; list pages no longer hold it.
- ``emulator.duplicate_names()``: ``{"customer_lists": {name: count}, "audiences": {...}}``
  for names held more than once by live lists or audiences (empty dicts: one per name);
  ``emulator.list_by_name`` / ``emulator.audience_by_name`` return the one of a name.
- ``emulator.applied_writes``: customer-list writes applied (answered or not).
- ``emulator.wait_applied(n, timeout)``: blocks until the n-th /v5 request was processed;
  True if it took effect (2xx), even while its answer is held or after it was dropped, so
  a test can kill the client exactly between a write's effect and its answer.

What it rejects (body ``{"code": int, "message": str}`` as Pinterest's ``Error`` schema):

- no or unknown ``Authorization: Bearer`` token, a revoked one, or one used more than
  ``Faults.access_token_max_uses`` times: 401, code 2 "Authentication failed.".
- an ad account the emulator does not hold: 404, code 2 "AdAccount not found." (the
  spec's ``Pinterest.Lib.Error`` example; ``ad_accounts/get`` documents 404).
- a path id not matching ``^\d+$`` or longer than 18 characters, ``page_size`` outside
  1..250, a bad ``order`` or ``bookmark``: 400, code 1.
- a body that is not a JSON object, fails the official schema (when ``openapi_path`` is
  given), lacks a required field, has a field the spec does not define (``exceptions`` was
  removed from customer-list requests in 5.15.0), a bad ``operation_type``, ``list_type``
  or ``audience_type`` (case-sensitive), or bad ``records``: 400, code 1.
- ``records``: one non-empty string of comma-separated identifiers; each must be
  non-empty (so no trailing comma), without whitespace or uppercase; IDFA and MAID values
  must be 32, 40 or 64 hex characters (hashed); EMAIL values must be hashed or a plain
  lowercase email. Messages name the record's position, never its value.
- an unknown customer list: 404, code 1; an audience whose ``rule.customer_list_id`` is
  not a list of the account: 400, code 1.
- ``oauth/token``: wrong HTTP Basic client credentials: 401, code 2; unknown, revoked or
  rotated-out refresh token, or an unknown/used authorisation code: 400, code 1 (the spec
  only documents a ``default`` Error response; 400 follows OAuth's ``invalid_grant`` and
  keeps clients from mistaking it for an expired access token).

Creating a second list with a name the account already has is allowed (Pinterest does
not document otherwise) but counted in ``state()["duplicate_name_creates"]``.

Faults
------
``Faults`` (the ``faults=`` argument, or assign ``emulator.faults``; CLI flags in brackets)
makes the emulator misbehave so that retries, backoff, pacing, timeouts and idempotence can
be tested. Everything is off by default. Faults apply only to ``/v5`` requests, never to
``/_emulator/*`` or ``GET /oauth/``; seeded faults and the quota also skip ``POST
/v5/oauth/token`` unless ``include_oauth=True`` [``--fault-oauth``].

- Seeded shares, each the probability that a request gets that fault; they add up to at most
  1. Each subject request draws one number from ``random.Random(seed)`` [``--fault-seed``]
  under the emulator's lock, so the same seed and the same order of requests give the same
  faults (with concurrent clients, the order of arrival decides who gets which):

  - ``rate_429`` [``--fault-429``]: 429, body ``{"code": 8, "message": "This request
    exceeded a rate limit..."}``, ``Retry-After`` of ``retry_after_seconds``
    [``--retry-after``, default 0] in whole seconds (rounded up), or as an HTTP date with
    ``retry_after_http_date`` [``--retry-after-http-date``], and ``X-RateLimit-Reset``
    (epoch seconds).
  - ``rate_500`` [``--fault-500``]: 500; ``rate_503`` [``--fault-503``]: 503 with code 4197.
    The request is not processed.
  - ``rate_drop`` [``--fault-drop``]: the request is read, not processed, and the connection
    is closed without a reply (half of these) or reset (the other half); the client sees a
    connection error (``requests.ConnectionError``).
  - ``rate_drop_after_effect`` [``--fault-drop-after-effect``]: the request IS processed (the
    list created, the PATCH applied), then the connection is closed or reset without the
    reply: a client that blindly retries a create makes a duplicate.
  - ``rate_slow`` [``--fault-slow``]: the request is processed at once and the reply held for
    ``slow_seconds`` [``--slow-seconds``, default 5]: set it above the client's read timeout
    to make the client time out on a change that was applied.

- ``requests_per_second`` [``--quota-rps``]: one quota for all tokens (Pinterest counts per
  user per app, and the emulator's tokens all belong to one user), in fixed windows: a
  window opens with the first request that finds none open and lasts one second; it admits
  ``floor(requests_per_second)`` requests (below 1/s: one request per window of
  ``1 / requests_per_second`` seconds). The excess get 429 code 8 with ``Retry-After`` =
  seconds until the window ends (rounded up) and ``X-RateLimit-Reset`` = its end in epoch
  seconds; ``emulator.quota_rejections`` counts them, so a test can assert that a paced
  client causes none. Requests above the quota are not counted against it.
- ``latency_seconds`` [``--latency``]: every /v5 request waits this long first.
- ``access_token_max_uses`` [``--access-token-max-uses``]: an access token works this many
  times, then gets 401 code 2 (refresh to continue).
- ``fail_nth``: ``{n: status}`` answers the n-th /v5 request with that status.
- Aimed by request number like ``fail_nth`` (``emulator.requests[i].number``; numbering
  restarts when ``faults`` is assigned; such a request is exempt from the quota):
  ``drop_before_effect_nth`` (closed without a reply, nothing applied),
  ``drop_after_effect_nth`` (applied, then closed without a reply), ``not_found_nth`` (a
  one-off 404 code 1 "Customer list not found." for a GET or PATCH of a list that exists,
  nothing applied; any other request with that number is served normally), and
  ``hold_after_effect_nth`` (``{n: seconds}``: applied, then the answer held that long).
- ``repeat_bookmark``: every customer-list page answers with bookmark ``"string"`` whatever
  bookmark it is sent (as Stoplight Prism serving Pinterest's spec does), so a client that
  follows bookmarks blindly loops for ever.

``emulator.fault_counts`` (also in ``GET /_emulator/state`` as ``fault_counts``) counts what
was injected by kind: ``"429"``, ``"500"``, ``"503"``, ``"drop"``, ``"drop_after_effect"``,
``"slow"``, ``"quota"``, ``"expired_token"``, ``"drop_before_effect"``, ``"not_found"``,
``"hold_after_effect"``, ``"repeat_bookmark"`` (pages so served), and ``fail_nth`` statuses
under their own number; ``emulator.requests`` records each request's ``fault``. Dropped
replies never break the server: it closes that socket and goes on serving the others.

A CI job that checks a pipeline survives a flaky Pinterest, reproducibly::

    target-pinterest-audiences-emulator --port 8080 --fault-seed 42 --fault-429 0.05 \
        --fault-500 0.05 --fault-503 0.05 --fault-drop 0.05 --fault-drop-after-effect 0.02 \
        --fault-slow 0.03 --slow-seconds 40 --quota-rps 10 --access-token-max-uses 500 &
    # run the pipeline with api_url=http://127.0.0.1:8080/v5, then check the outcome:
    curl -s http://127.0.0.1:8080/_emulator/state
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import dataclasses
import functools
import hmac
import itertools
import json
import logging
import math
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jsonschema
import yaml
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger(__name__)

LIST_TYPES = ("EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID")
OPERATION_TYPES = ("ADD", "REMOVE")
AUDIENCE_TYPES = ("CUSTOMER_LIST", "VISITOR", "ENGAGEMENT", "ACTALIKE", "PERSONA")
MIN_READY_MEMBERS = 100
MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 25
ACCESS_TOKEN_TTL = 30 * 24 * 3600
REFRESH_TOKEN_TTL = 60 * 24 * 3600
SCOPE = "ads:read,ads:write"
_MAX_BODY = 64 * 1024 * 1024
_MAX_ID_LENGTH = 18
_ID = re.compile(r"\d+")
_HEX = re.compile(r"[0-9a-f]+")
_HASH_LENGTHS = frozenset({32, 40, 64})
_MAX_EMAIL = 254
# Fields each request schema defines; JSON Schema alone would accept any extra field
# because Pinterest's schemas do not set additionalProperties: false.
_BODY_FIELDS = {
    "CustomerListRequest": frozenset({"name", "records", "list_type"}),
    "CustomerListUpdateRequest": frozenset({"operation_type", "records"}),
    "AudienceCreateRequest": frozenset({"ad_account_id", "name", "rule", "audience_type", "description"}),
}
_RATE_LIMIT_MESSAGE = (
    "This request exceeded a rate limit. This can happen if the client exceeds one of the "
    "published rate limits within a short time window."
)
# Pinterest's own error code and message for each HTTP status the emulator may answer.
_ERROR_BODIES = {
    400: (1, "Invalid parameters."),
    401: (2, "Authentication failed."),
    403: (29, "You are not permitted to access that resource."),
    404: (2, "AdAccount not found."),
    429: (8, _RATE_LIMIT_MESSAGE),
    503: (4197, "The endpoint has been ramped down and is currently not accepting any traffic."),
}


class ApiError(Exception):
    """An error answer: HTTP status plus Pinterest's ``{"code", "message"}`` body."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Keep what the response needs; the message must never carry raw identifiers."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _invalid(message: str) -> ApiError:
    return ApiError(400, 1, message)


def _rate_limit_headers(retry_after: float, *, http_date: bool = False) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up, or an HTTP date) and ``X-RateLimit-Reset``."""
    reset = math.ceil(time.time() + retry_after)
    value = formatdate(reset, usegmt=True) if http_date else str(math.ceil(retry_after))
    return {"Retry-After": value, "X-RateLimit-Reset": str(reset)}


def _error_for_status(status: int, retry_after: float = 0.0, *, http_date: bool = False) -> ApiError:
    """Build the Pinterest-style error for a status, e.g. for an injected fault."""
    code, message = _ERROR_BODIES.get(status, (status, HTTPStatus(status).phrase))
    headers = _rate_limit_headers(retry_after, http_date=http_date) if status == HTTPStatus.TOO_MANY_REQUESTS else {}
    return ApiError(status, code, message, headers)


#: The seeded fault kinds, in the order their shares are stacked on ``[0, 1)``.
FAULT_KINDS = ("429", "500", "503", "drop", "drop_after_effect", "slow")
_DROP_MODES = ("close", "reset")


@dataclass
class Faults:
    """Misbehaviour to inject, so retry, backoff, pacing and token renewal can be tested.

    Assigning ``emulator.faults`` restarts the request count that ``fail_nth`` uses, the
    per-token use counts, the random generator (from ``seed``), the quota window and the
    fault counters, so a test can say "the next request fails" at any point.

    ``rate_*`` are the shares of /v5 requests (``/oauth/token`` only with ``include_oauth``)
    answered with each fault; each request draws one number from ``random.Random(seed)``, so
    the same seed and the same request order give the same faults. They add up to at most 1.
    See the module docstring, section "Faults", for what each one does.
    """

    latency_seconds: float = 0.0
    fail_nth: dict[int, int] = field(default_factory=dict)
    access_token_max_uses: int | None = None
    seed: int = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_drop_after_effect: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 5.0
    include_oauth: bool = False
    retry_after_seconds: float = 0.0
    retry_after_http_date: bool = False
    requests_per_second: float | None = None
    max_records_per_request: int | None = None
    """Refuse larger customer-list writes with 413, as a Pinterest with a smaller cap would."""
    odd_reply_nth: dict[int, str] = field(default_factory=dict)
    """Answer the n-th /v5 request with an odd reply instead of processing it: ``"html"`` (a
    502 HTML error page), ``"empty"`` (200 with an empty body), ``"wrong_json"`` (200 with
    JSON of another shape) or ``"not_json"`` (200 with text)."""
    drop_before_effect_nth: set[int] = field(default_factory=set)
    """Close the connection of the n-th /v5 request without a reply; nothing is applied."""
    drop_after_effect_nth: set[int] = field(default_factory=set)
    """Apply the n-th /v5 request (create the list, PATCH it), then close the connection
    without a reply: the write took effect but its answer is lost."""
    not_found_nth: set[int] = field(default_factory=set)
    """Answer the n-th /v5 request with a one-off 404 code 1 "Customer list not found." when
    it is a GET or PATCH of a customer list that exists; nothing is applied and the list
    stays. Any other request with that number is served as if no fault were set."""
    hold_after_effect_nth: dict[int, float] = field(default_factory=dict)
    """Apply the n-th /v5 request, then hold its answer this many seconds: a test can kill
    the client while an applied write's answer is on its way (see ``wait_applied``)."""
    repeat_bookmark: bool = False
    """Every customer-list page answers with bookmark ``"string"`` and ignores the bookmark
    it is sent, as Stoplight Prism serving Pinterest's spec does (the spec's example): a
    client that follows bookmarks blindly loops for ever."""

    def __post_init__(self) -> None:
        """Refuse shares outside 0..1 (or adding up to more than 1) and negative durations."""
        shares = self.shares()
        for kind, share in shares:
            if not 0.0 <= share <= 1.0:
                msg = f"the share of {kind} faults must be from 0 to 1, not {share}"
                raise ValueError(msg)
        if sum(share for _, share in shares) > 1.0 + 1e-9:
            msg = "the fault shares add up to more than 1"
            raise ValueError(msg)
        for name in ("latency_seconds", "slow_seconds", "retry_after_seconds"):
            if getattr(self, name) < 0:
                msg = f"{name} must not be negative"
                raise ValueError(msg)
        if self.requests_per_second is not None and not self.requests_per_second > 0:
            msg = "requests_per_second must be positive (or None for no quota)"
            raise ValueError(msg)
        if any(seconds < 0 for seconds in self.hold_after_effect_nth.values()):
            msg = "hold_after_effect_nth must not hold an answer a negative time"
            raise ValueError(msg)

    def targets(self, request_number: int) -> bool:
        """Whether a ``*_nth`` fault names this request (then the quota leaves it alone)."""
        return (
            request_number in self.fail_nth
            or request_number in self.drop_before_effect_nth
            or request_number in self.drop_after_effect_nth
            or request_number in self.not_found_nth
            or request_number in self.hold_after_effect_nth
        )

    def shares(self) -> list[tuple[str, float]]:
        """``(kind, share)`` for each seeded fault kind, in ``FAULT_KINDS`` order."""
        return [
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("503", self.rate_503),
            ("drop", self.rate_drop),
            ("drop_after_effect", self.rate_drop_after_effect),
            ("slow", self.rate_slow),
        ]


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one /v5 request.

    Wait ``delay``; then answer ``status`` (an error) without processing, or close the
    connection without a reply (``drop`` is ``"close"``: FIN, or ``"reset"``: RST) before
    processing, or, with ``after_effect``, after processing; or process and hold the reply
    for ``reply_delay`` seconds; or, with ``not_found``, answer 404 code 1 if the request
    reads or updates a customer list that exists. ``kind`` is the ``fault_counts`` key (None: no fault) and
    ``retry_after`` the seconds a 429 asks the client to wait.
    """

    delay: float = 0.0
    status: int | None = None
    kind: str | None = None
    drop: str | None = None
    after_effect: bool = False
    reply_delay: float = 0.0
    retry_after: float = 0.0
    odd: str | None = None
    not_found: bool = False


def _aimed_fault(faults: Faults, request_number: int, delay: float) -> FaultDecision | None:
    """The ``*_nth`` fault aimed at this request, in ``decide_fault``'s order, or None."""
    status = faults.fail_nth.get(request_number)
    if status is not None:
        return FaultDecision(delay=delay, status=status, kind=str(status), retry_after=faults.retry_after_seconds)
    if request_number in faults.drop_before_effect_nth:
        return FaultDecision(delay=delay, kind="drop_before_effect", drop="close")
    if request_number in faults.not_found_nth:
        return FaultDecision(delay=delay, kind="not_found", not_found=True)
    if request_number in faults.drop_after_effect_nth:
        return FaultDecision(delay=delay, kind="drop_after_effect", drop="close", after_effect=True)
    hold = faults.hold_after_effect_nth.get(request_number)
    if hold is not None:
        return FaultDecision(delay=delay, kind="hold_after_effect", reply_delay=hold)
    return None


def decide_fault(faults: Faults, request_number: int, draw: float | None = None) -> FaultDecision:
    """Decide the fault for the ``request_number``-th /v5 request (1-based).

    The ``*_nth`` faults win, in this order: ``fail_nth``, ``drop_before_effect_nth``,
    ``not_found_nth``, ``drop_after_effect_nth``, ``hold_after_effect_nth``. Otherwise ``draw``
    (a number in ``[0, 1)``, None when the request is not subject to seeded faults) picks a
    kind: the shares are stacked in ``FAULT_KINDS`` order, and within a drop kind's share the
    lower half closes, the upper half resets. The per-second quota is state of the
    emulator, not decided here.
    """
    delay = max(0.0, faults.latency_seconds)
    aimed = _aimed_fault(faults, request_number, delay)
    if aimed is not None:
        return aimed
    if draw is None:
        return FaultDecision(delay=delay)
    low = 0.0
    for kind, share in faults.shares():
        if share > 0 and low <= draw < low + share:
            if kind in {"drop", "drop_after_effect"}:
                mode = _DROP_MODES[(draw - low) / share >= 0.5]  # noqa: PLR2004 (half and half)
                return FaultDecision(delay=delay, kind=kind, drop=mode, after_effect=kind == "drop_after_effect")
            if kind == "slow":
                return FaultDecision(delay=delay, kind=kind, reply_delay=faults.slow_seconds)
            return FaultDecision(delay=delay, status=int(kind), kind=kind, retry_after=faults.retry_after_seconds)
        low += share
    return FaultDecision(delay=delay)


_NO_FAULT = FaultDecision()


@dataclass(frozen=True)
class EmulatedList:
    """A snapshot of one customer list, including what Pinterest keeps hidden."""

    id: str
    name: str
    ad_account_id: str
    list_type: str
    members: frozenset[str]
    num_batches: int
    status: str


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (headers unredacted: it stays in memory for tests).

    ``status`` is the status answered; 0 when the connection was dropped before processing;
    for ``drop_after_effect`` the status of the applied operation, whose reply was never
    sent. ``fault`` is the injected fault's kind (a ``fault_counts`` key) or None. ``number``
    is the /v5 request number that ``*_nth`` faults and ``wait_applied`` count (None outside
    /v5); ``emulator.requests`` is in order of answer, which may differ from it.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: object
    status: int
    fault: str | None = None
    number: int | None = None


@dataclass
class _List:
    id: str
    name: str
    ad_account_id: str
    list_type: str
    members: set[str]
    created_time: int
    updated_time: int
    num_batches: int = 1
    num_uploaded_user_records: int = 0
    num_removed_user_records: int = 0

    @property
    def status(self) -> str:
        return "TOO_SMALL" if len(self.members) < MIN_READY_MEMBERS else "READY"

    def as_api(self) -> dict[str, Any]:
        """Render as Pinterest's ``CustomerList`` (which has no ``list_type``)."""
        return {
            "id": self.id,
            "name": self.name,
            "ad_account_id": self.ad_account_id,
            "created_time": self.created_time,
            "updated_time": self.updated_time,
            "num_batches": self.num_batches,
            "num_uploaded_user_records": self.num_uploaded_user_records,
            "num_removed_user_records": self.num_removed_user_records,
            "status": self.status,
            "type": "customerlist",
            "exceptions": {},
        }

    def snapshot(self) -> EmulatedList:
        return EmulatedList(
            id=self.id,
            name=self.name,
            ad_account_id=self.ad_account_id,
            list_type=self.list_type,
            members=frozenset(self.members),
            num_batches=self.num_batches,
            status=self.status,
        )


class _Response(NamedTuple):
    status: int
    body: object
    headers: dict[str, str]
    drop: str | None = None  # "close" or "reset": send no reply and drop the connection
    raw: tuple[str, bytes] | None = None  # (content type, bytes) sent as they are, for odd replies


_ODD_REPLIES: dict[str, tuple[int, str, bytes]] = {
    "html": (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "empty": (200, "application/json", b""),
    "wrong_json": (200, "application/json", b'{"data": [1, 2, 3]}'),
    "not_json": (200, "text/plain", b"OK"),
}


def _odd_reply(kind: str) -> _Response:
    status, content_type, payload = _ODD_REPLIES[kind]
    return _Response(status, None, {}, raw=(content_type, payload))


class _SpecValidator:
    """Validates request bodies against ``#/components/schemas/...`` of the OpenAPI file."""

    _URI = "urn:pinterest:openapi"

    def __init__(self, path: Path) -> None:
        """Load the document once; it is large, so instances are cached per path."""
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with path.open(encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=loader)  # noqa: S506 (a safe loader)
        resource: Resource[Any] = DRAFT4.create_resource(document)
        self._registry: Registry[Any] = Registry().with_resource(self._URI, resource)
        self._schemas: frozenset[str] = frozenset(document["components"]["schemas"])
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._lock = threading.Lock()

    def validate(self, schema_name: str, instance: object) -> None:
        """Raise a 400 naming where the body breaks the schema, without echoing values."""
        if schema_name not in self._schemas:
            return
        with self._lock:
            validator = self._validators.get(schema_name)
            if validator is None:
                ref = {"$ref": f"{self._URI}#/components/schemas/{schema_name}"}
                validator = jsonschema.Draft4Validator(ref, registry=self._registry)
                self._validators[schema_name] = validator
        document: Any = instance  # any JSON the client sent
        error = best_match(validator.iter_errors(document))
        if error is None:
            return
        where = error.json_path
        if error.validator == "enum":
            detail = f"must be one of {', '.join(map(str, error.validator_value))}"
        elif error.validator == "type":
            detail = f"must be of type {error.validator_value}"
        elif error.validator == "required":
            detail = f"lacks a required property ({', '.join(error.validator_value)})"
        else:
            detail = f"fails the schema keyword {error.validator!r}"
        msg = f"Request body does not match the OpenAPI schema {schema_name}: {where} {detail}"
        raise _invalid(msg)


@functools.lru_cache(maxsize=4)
def _spec_validator(path: Path) -> _SpecValidator:
    return _SpecValidator(path)


def _is_hashed(value: str) -> bool:
    return len(value) in _HASH_LENGTHS and _HEX.fullmatch(value) is not None


def _is_plain_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and domain) and "@" not in domain and len(value) <= _MAX_EMAIL


def parse_records(records: object, list_type: str) -> list[str]:
    """Split and check ``records`` as Pinterest documents them, without echoing values."""
    if not isinstance(records, str) or not records:
        msg = "records must be a non-empty string of comma-separated identifiers"
        raise _invalid(msg)
    values = records.split(",")
    total = len(values)
    for number, value in enumerate(values, start=1):
        if _is_hashed(value):
            continue  # lowercase hex of a hash's length: right for every list type
        problem = None
        if not value:
            problem = "is empty"
        elif any(char.isspace() for char in value):
            problem = "contains whitespace"
        elif any(char.isupper() for char in value):
            problem = "contains an uppercase character"
        elif list_type in {"IDFA", "MAID"}:
            problem = f"is not a hashed {list_type} (MD5, SHA-1 or SHA-256 hex)"
        elif list_type == "EMAIL" and not _is_plain_email(value):
            problem = "is neither a lowercase email nor a hashed one (MD5, SHA-1, SHA-256 hex)"
        if problem:
            raise _invalid(f"record {number} of {total} {problem}")
    return values


def _check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value) or len(value) > _MAX_ID_LENGTH:
        msg = f"Invalid {what}: must match ^\\d+$ with at most {_MAX_ID_LENGTH} digits"
        raise _invalid(msg)
    return value


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _encode_bookmark(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_bookmark(bookmark: str) -> int:
    try:
        text = base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, last = text.partition(":")
    if prefix != "after" or not _ID.fullmatch(last):
        msg = "Invalid bookmark"
        raise _invalid(msg)
    return int(last)


def _paginate(items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    """Bookmark pagination by id, stable while items are added between pages."""
    raw_size = _one(query, "page_size")
    try:
        page_size = DEFAULT_PAGE_SIZE if raw_size is None else int(raw_size)
    except ValueError:
        page_size = 0
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"Invalid page_size: must be an integer from 1 to {MAX_PAGE_SIZE}"
        raise _invalid(msg)
    order = _one(query, "order") or "ASCENDING"
    if order not in {"ASCENDING", "DESCENDING"}:
        msg = "Invalid order: must be ASCENDING or DESCENDING"
        raise _invalid(msg)
    descending = order == "DESCENDING"
    ordered = sorted(items, key=lambda item: int(item["id"]), reverse=descending)
    bookmark = _one(query, "bookmark")
    if bookmark:
        after = _decode_bookmark(bookmark)
        ordered = [item for item in ordered if (int(item["id"]) < after if descending else int(item["id"]) > after)]
    page = ordered[:page_size]
    more = len(ordered) > page_size
    return {"items": page, "bookmark": _encode_bookmark(page[-1]["id"]) if more else None}


def _parse_body(headers: dict[str, str], raw_body: bytes) -> tuple[object, ApiError | None]:
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
        return None, _invalid("Request body is not valid JSON")


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


class PinterestEmulator:
    """An in-memory Pinterest v5 for tests and CI; see the module docstring."""

    def __init__(  # noqa: PLR0913 (each option mirrors a CLI flag)
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ad_account_ids: tuple[str, ...] | list[str] = ("549755885175",),
        access_tokens: tuple[str, ...] | list[str] = ("emulator-access-token",),
        client_id: str = "emulator-client-id",
        client_secret: str = "emulator-client-secret",  # noqa: S107 (a test fixture)
        refresh_tokens: tuple[str, ...] | list[str] = ("emulator-refresh-token",),
        rotate_refresh_tokens: bool = False,
        openapi_path: str | Path | None = None,
        faults: Faults | None = None,
    ) -> None:
        """Configure; nothing listens until ``start()``."""
        self._host = host
        self._port = port
        self._ad_account_ids = tuple(_check_id(a, "ad_account_id") for a in ad_account_ids)
        self._client_id = client_id
        self._client_secret = client_secret
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self._spec = _spec_validator(Path(openapi_path).resolve()) if openapi_path else None
        self._lock = threading.Lock()
        self._access_tokens: set[str] = set(access_tokens)
        self._refresh_tokens: set[str] = set(refresh_tokens)
        self._auth_codes: dict[str, str] = {}
        self._token_uses: dict[str, int] = {}
        self._faults = faults or Faults()
        self._v5_count = 0
        # Outcome of each /v5 request by number (True: processed with a 2xx answer), for
        # wait_applied; the condition shares the emulator's lock.
        self._outcomes: dict[int, bool] = {}
        self._settled = threading.Condition(self._lock)
        self._applied_writes = 0
        self._deleted_lists: list[str] = []
        self._rng = random.Random(self._faults.seed)  # noqa: S311 (reproducible faults, not secrets)
        self._fault_counts: dict[str, int] = {}
        self._quota_window_end = -math.inf
        self._quota_used = 0
        self._lists: dict[str, _List] = {}
        self._audiences: dict[str, dict[str, Any]] = {}
        self._duplicate_name_creates = 0
        self._ids = itertools.count(int(time.time()) * 1000)
        self.requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Listen and serve in a daemon thread, so a test process never hangs on it."""
        server = ThreadingHTTPServer((self._host, self._port), _Handler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name="pinterest-emulator",
            daemon=True,
        )
        self._thread.start()
        logger.debug("Pinterest v5 emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        """Start, for ``with PinterestEmulator() as api``."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop."""
        self.stop()

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT``, where ``/oauth/`` and ``/_emulator/`` live."""
        if self._server is None:
            msg = "the emulator is not started"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The base URL to use as the target's ``api_url``."""
        return f"{self.root_url}/v5"

    # -- inspection and control -----------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults in force; assigning restarts the request and token-use counts."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        with self._lock:
            self._faults = value
            self._v5_count = 0
            self._outcomes.clear()
            self._token_uses.clear()
            self._rng = random.Random(value.seed)  # noqa: S311 (reproducible faults, not secrets)
            self._fault_counts.clear()
            self._quota_window_end = -math.inf
            self._quota_used = 0

    @property
    def fault_counts(self) -> dict[str, int]:
        """Faults injected since the last ``faults`` assignment, by kind.

        Kinds: ``"429"``, ``"500"``, ``"503"``, ``"drop"``, ``"drop_after_effect"``, ``"slow"``
        (seeded shares; a ``fail_nth`` status counts under its own status, e.g. ``"429"``),
        ``"quota"`` (429s caused by ``requests_per_second``), ``"expired_token"`` (401s
        caused by ``access_token_max_uses``), the aimed ``"drop_before_effect"``,
        ``"drop_after_effect"``, ``"not_found"`` (only when it applied) and
        ``"hold_after_effect"``, and ``"repeat_bookmark"`` (pages served so).
        """
        with self._lock:
            return dict(self._fault_counts)

    @property
    def quota_rejections(self) -> int:
        """How many 429s the per-second quota caused (a paced client should cause none)."""
        with self._lock:
            return self._fault_counts.get("quota", 0)

    @property
    def refresh_tokens(self) -> frozenset[str]:
        """The refresh tokens that currently work."""
        with self._lock:
            return frozenset(self._refresh_tokens)

    @property
    def duplicate_name_creates(self) -> int:
        """How many lists were created with a name a live list of their account had."""
        with self._lock:
            return self._duplicate_name_creates

    @property
    def applied_writes(self) -> int:
        """Customer-list writes applied (a create, an ADD or REMOVE PATCH), answered or not.

        Counts since start or ``reset()``; a write whose answer a fault dropped or held
        counts, one refused before processing does not.
        """
        with self._lock:
            return self._applied_writes

    def wait_applied(self, request_number: int, timeout: float) -> bool:
        """Wait until the n-th /v5 request has been processed; True if it was applied.

        Numbers count as ``fail_nth`` does (from 1, restarted by assigning ``faults``).
        True as soon as the request was processed with a 2xx outcome (a write's change is
        in the emulator's state), even while ``hold_after_effect_nth`` holds its answer or
        after ``drop_after_effect_nth`` dropped it: so a test can kill the client exactly
        between a write taking effect and its answer arriving. False when the request was
        refused or dropped before processing, or when ``timeout`` seconds pass first.
        """
        with self._settled:
            self._settled.wait_for(lambda: request_number in self._outcomes, timeout=timeout)
            return self._outcomes.get(request_number, False)

    def delete_list(self, list_id: str) -> None:
        """Delete a list as a user would in Ads Manager (the API has no DELETE for lists).

        Afterwards GET and PATCH of it answer 404 code 1 "Customer list not found.", the
        account's list pages no longer hold it, and a new list may take its name without
        counting as a duplicate. The audiences built on it go with it. KeyError if unknown.

        Assumption: deleting a customer list in Ads Manager also removes the audience on it
        and leaves a 404 behind (undocumented; Ads Manager shows the two as one audience).
        """
        with self._lock:
            if self._lists.pop(list_id, None) is None:
                raise KeyError(list_id)
            self._deleted_lists.append(list_id)
            for audience_id, audience in list(self._audiences.items()):
                if audience["rule"].get("customer_list_id") == list_id:
                    del self._audiences[audience_id]

    def audience_by_name(self, name: str, ad_account_id: str | None = None) -> dict[str, Any]:
        """Return the one audience of that name; KeyError if none, AssertionError if several."""
        found = [item for item in self.audiences(ad_account_id) if item["name"] == name]
        if not found:
            raise KeyError(name)
        if len(found) > 1:
            msg = f"{len(found)} audiences are named {name!r}"
            raise AssertionError(msg)
        return found[0]

    def duplicate_names(self, ad_account_id: str | None = None) -> dict[str, dict[str, int]]:
        """Names that more than one live list, or audience, of an account hold, with counts.

        ``{"customer_lists": {}, "audiences": {}}`` means one list and one audience per
        name at most (deleted lists, and the audiences that went with them, do not count).
        """
        with self._lock:
            lists = Counter(
                (item.ad_account_id, item.name)
                for item in self._lists.values()
                if ad_account_id is None or item.ad_account_id == ad_account_id
            )
            audiences = Counter(
                (item["ad_account_id"], item["name"])
                for item in self._audiences.values()
                if ad_account_id is None or item["ad_account_id"] == ad_account_id
            )
        return {
            "customer_lists": {name: count for (_, name), count in lists.items() if count > 1},
            "audiences": {name: count for (_, name), count in audiences.items() if count > 1},
        }

    def customer_lists(self, ad_account_id: str | None = None) -> list[EmulatedList]:
        """Snapshots of the lists (of one account, or all), ordered by id."""
        with self._lock:
            lists = [
                item.snapshot()
                for item in self._lists.values()
                if ad_account_id is None or item.ad_account_id == ad_account_id
            ]
        return sorted(lists, key=lambda item: int(item.id))

    def list_by_name(self, name: str, ad_account_id: str | None = None) -> EmulatedList:
        """Return the one list of that name; KeyError if none, AssertionError if several."""
        found = [item for item in self.customer_lists(ad_account_id) if item.name == name]
        if not found:
            raise KeyError(name)
        if len(found) > 1:
            msg = f"{len(found)} customer lists are named {name!r}"
            raise AssertionError(msg)
        return found[0]

    def audiences(self, ad_account_id: str | None = None) -> list[dict[str, Any]]:
        """Return the audiences (as the API renders them), ordered by id."""
        with self._lock:
            return [
                self._audience_api(audience)
                for audience in sorted(self._audiences.values(), key=lambda a: int(a["id"]))
                if ad_account_id is None or audience["ad_account_id"] == ad_account_id
            ]

    def issue_access_token(self) -> str:
        """Mint a new valid access token (what the OAuth flows hand out)."""
        token = f"pina_{secrets.token_urlsafe(24)}"
        with self._lock:
            self._access_tokens.add(token)
        return token

    def revoke_access_token(self, token: str) -> None:
        """Make a token fail with 401, e.g. to test renewal."""
        with self._lock:
            self._access_tokens.discard(token)

    def revoke_refresh_token(self, token: str) -> None:
        """Make a refresh token fail, e.g. to test the error a user sees."""
        with self._lock:
            self._refresh_tokens.discard(token)

    def state(self) -> dict[str, Any]:
        """Everything held, as JSON-ready data (also served at ``/_emulator/state``)."""
        with self._lock:
            lists = sorted(self._lists.values(), key=lambda item: int(item.id))
            return {
                "ad_accounts": list(self._ad_account_ids),
                "customer_lists": [
                    {
                        "id": item.id,
                        "name": item.name,
                        "ad_account_id": item.ad_account_id,
                        "list_type": item.list_type,
                        "members": sorted(item.members),
                        "num_batches": item.num_batches,
                        "num_uploaded_user_records": item.num_uploaded_user_records,
                        "num_removed_user_records": item.num_removed_user_records,
                        "status": item.status,
                    }
                    for item in lists
                ],
                "audiences": [
                    self._audience_api(audience)
                    for audience in sorted(self._audiences.values(), key=lambda a: int(a["id"]))
                ],
                "duplicate_name_creates": self._duplicate_name_creates,
                "deleted_customer_lists": list(self._deleted_lists),
                "applied_writes": self._applied_writes,
                "fault_counts": dict(self._fault_counts),
            }

    def reset(self) -> None:
        """Forget all lists and audiences (tokens and the request log stay)."""
        with self._lock:
            self._lists.clear()
            self._audiences.clear()
            self._duplicate_name_creates = 0
            self._deleted_lists.clear()
            self._applied_writes = 0

    # -- request handling -------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> _Response:
        """Answer one HTTP request; independent of the socket layer so it stays testable."""
        started = time.monotonic()
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        body, body_error = _parse_body(headers, raw_body)
        path = parts.path
        is_v5 = path == "/v5" or path.startswith("/v5/")
        record_path = path[3:] if is_v5 else path
        fault = _NO_FAULT
        number: int | None = None
        try:
            if body_error is not None:
                raise body_error
            if is_v5:
                number, fault = self._next_fault(record_path)
                fault = self._aim_not_found(fault, method, record_path)
                response = self._before_processing(fault) or self._handle_v5(method, record_path, query, headers, body)
            else:
                response = self._handle_root(method, path, query)
        except ApiError as error:
            response = _Response(error.status, {"code": error.code, "message": error.message}, error.headers)
        if number is not None:
            with self._settled:
                self._outcomes[number] = 200 <= response.status < 300  # noqa: PLR2004 (2xx)
                self._settled.notify_all()
        if fault.after_effect:
            response = response._replace(drop=fault.drop)
        if fault.odd is not None and fault.odd != "html" and response.status < 400:  # noqa: PLR2004
            response = _odd_reply(fault.odd)  # processed, but the reply is not what Pinterest sends
        recorded = RecordedRequest(method, record_path, query, dict(headers), body, response.status, fault.kind, number)
        with self._lock:
            self.requests.append(recorded)
        if fault.reply_delay:
            time.sleep(fault.reply_delay)
        logger.debug(
            "%s %s -> %s in %.1f ms",
            method,
            path,
            f"dropped ({response.drop})" if response.drop else response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _next_fault(self, path: str) -> tuple[int, FaultDecision]:
        """Number the /v5 request, draw its seeded fault and apply the quota, under the lock."""
        with self._lock:
            self._v5_count += 1
            faults = self._faults
            subject = faults.include_oauth or path != "/oauth/token"
            draw = self._rng.random() if subject else None
            decision = decide_fault(faults, self._v5_count, draw)
            if subject and not faults.targets(self._v5_count) and faults.requests_per_second is not None:
                wait = self._take_quota(faults.requests_per_second)
                if wait is not None:
                    decision = FaultDecision(delay=decision.delay, status=429, kind="quota", retry_after=wait)
            odd = faults.odd_reply_nth.get(self._v5_count)
            if odd is not None:
                decision = dataclasses.replace(decision, odd=odd, kind=odd)
            if decision.kind is not None and not decision.not_found:  # counted when it applies
                self._count_fault(decision.kind)
            return self._v5_count, decision

    def _count_fault(self, kind: str) -> None:
        """Count an injected fault (lock held)."""
        self._fault_counts[kind] = self._fault_counts.get(kind, 0) + 1

    def _aim_not_found(self, fault: FaultDecision, method: str, path: str) -> FaultDecision:
        """Keep a ``not_found_nth`` fault only for a GET or PATCH of a list that exists."""
        if not fault.not_found:
            return fault
        segments = path.strip("/").split("/")
        aimed = (
            method in {"GET", "PATCH"}
            and len(segments) == 4  # noqa: PLR2004 (ad_accounts/{id}/customer_lists/{list_id})
            and segments[0] == "ad_accounts"
            and segments[2] == "customer_lists"
        )
        with self._lock:
            found = self._lists.get(segments[3]) if aimed else None
            if found is None or found.ad_account_id != segments[1]:
                return dataclasses.replace(fault, not_found=False, kind=None)
            self._count_fault("not_found")
        return fault

    def _before_processing(self, fault: FaultDecision) -> _Response | None:
        """Wait the latency; raise the fault's error, or answer a drop that skips processing."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.odd == "html":  # an error page from a proxy: the request never got through
            return _odd_reply(fault.odd)
        if fault.status is not None:
            raise _error_for_status(fault.status, fault.retry_after, http_date=self._faults.retry_after_http_date)
        if fault.drop is not None and not fault.after_effect:
            return _Response(0, None, {}, drop=fault.drop)
        if fault.not_found:
            raise ApiError(404, 1, "Customer list not found.")
        return None

    def _take_quota(self, requests_per_second: float) -> float | None:
        """Take a slot of the current quota window (lock held); else the seconds until it ends.

        Fixed windows, global to all tokens: a window opens with the first request that finds
        none open and lasts one second (``1 / requests_per_second`` when that is longer); it
        admits ``floor(requests_per_second * window)`` requests (at least one).
        """
        now = time.monotonic()
        window = max(1.0, 1.0 / requests_per_second)
        if now >= self._quota_window_end:
            self._quota_window_end = now + window
            self._quota_used = 0
        if self._quota_used < max(1, math.floor(requests_per_second * window + 1e-9)):
            self._quota_used += 1
            return None
        return self._quota_window_end - now

    def _handle_root(self, method: str, path: str, query: dict[str, list[str]]) -> _Response:
        if path in {"/oauth", "/oauth/"} and method == "GET":
            return self._authorize(query)
        if path == "/_emulator/state" and method == "GET":
            return _Response(200, self.state(), {})
        if path == "/_emulator/reset" and method == "POST":
            self.reset()
            return _Response(200, {"reset": True}, {})
        prefix = "/_emulator/customer_lists/"
        if path.startswith(prefix) and method == "DELETE":
            list_id = path[len(prefix) :]
            try:
                self.delete_list(list_id)
            except KeyError:
                raise ApiError(404, 1, "Customer list not found.") from None
            return _Response(200, {"deleted": list_id}, {})
        raise ApiError(404, 404, "Not found")

    def _handle_v5(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: object,
    ) -> _Response:
        if path == "/oauth/token":
            if method != "POST":
                raise ApiError(405, 405, "Method not allowed")
            return self._token(headers, body)
        self._authenticate(headers.get("Authorization"))
        segments = path.strip("/").split("/")
        if segments == ["ad_accounts"] and method == "GET":
            accounts = [self._ad_account(account) for account in self._ad_account_ids]
            return _Response(200, _paginate(accounts, query), {})
        if len(segments) < 2 or segments[0] != "ad_accounts":  # noqa: PLR2004
            raise ApiError(404, 404, "Not found")
        account = _check_id(segments[1], "ad_account_id")
        if account not in self._ad_account_ids:
            raise ApiError(404, 2, "AdAccount not found.")
        if len(segments) == 2:  # noqa: PLR2004 (ad_accounts/{id}: operationId ad_accounts/get)
            if method != "GET":
                raise ApiError(405, 405, "Method not allowed")
            return _Response(200, self._ad_account(account), {})
        return self._route_account(method, account, segments[2:], query, body)

    def _route_account(
        self,
        method: str,
        account: str,
        rest: list[str],
        query: dict[str, list[str]],
        body: object,
    ) -> _Response:
        routes: dict[tuple[str, str], Any] = {
            ("customer_lists", "GET"): lambda: self._list_lists(account, query),
            ("customer_lists", "POST"): lambda: self._create_list(account, body),
            ("audiences", "GET"): lambda: self._list_audiences(account, query),
            ("audiences", "POST"): lambda: self._create_audience(account, body),
        }
        if len(rest) == 1 and rest[0] in {"customer_lists", "audiences"}:
            handler = routes.get((rest[0], method))
            if handler is None:
                raise ApiError(405, 405, "Method not allowed")
            result: _Response = handler()
            return result
        if len(rest) == 2 and rest[0] == "customer_lists":  # noqa: PLR2004
            list_id = _check_id(rest[1], "customer_list_id")
            if method == "GET":
                with self._lock:
                    return _Response(200, self._get_list(account, list_id).as_api(), {})
            if method == "PATCH":
                return self._update_list(account, list_id, body)
            raise ApiError(405, 405, "Method not allowed")
        raise ApiError(404, 404, "Not found")

    def _authenticate(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        with self._lock:
            limit = self._faults.access_token_max_uses
            valid = scheme.lower() == "bearer" and token in self._access_tokens
            if valid and limit is not None and self._token_uses.get(token, 0) >= limit:
                valid = False
                self._fault_counts["expired_token"] = self._fault_counts.get("expired_token", 0) + 1
            if not valid:
                raise ApiError(401, 2, "Authentication failed.")
            self._token_uses[token] = self._token_uses.get(token, 0) + 1

    def _validate_body(self, schema_name: str, body: object) -> dict[str, Any]:
        """Apply the official schema (if loaded), then the checks that need no file."""
        if self._spec is not None:
            self._spec.validate(schema_name, body)
        if not isinstance(body, dict):
            msg = "Request body must be a JSON object"
            raise _invalid(msg)
        unknown = sorted(set(body) - _BODY_FIELDS[schema_name])
        if unknown:
            msg = f"Unknown field(s) in the request body: {', '.join(unknown)}"
            raise _invalid(msg)
        return body

    # -- OAuth ------------------------------------------------------------------------------------
    def _authorize(self, query: dict[str, list[str]]) -> _Response:
        """Approve an authorisation request at once, as a consenting user would."""
        if _one(query, "client_id") != self._client_id:
            raise _invalid("Invalid client_id")
        redirect_uri = _one(query, "redirect_uri")
        if not redirect_uri or _one(query, "response_type") != "code":
            raise _invalid("redirect_uri and response_type=code are required")
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._auth_codes[code] = redirect_uri
        params = {"code": code}
        state = _one(query, "state")
        if state is not None:
            params["state"] = state
        parts = urlsplit(redirect_uri)
        joined = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
        location = urlunsplit(parts._replace(query=joined))
        return _Response(302, None, {"Location": location})

    def _token(self, headers: dict[str, str], body: object) -> _Response:
        credentials = _basic_credentials(headers.get("Authorization"))
        if credentials is None or not (
            hmac.compare_digest(credentials[0], self._client_id)
            and hmac.compare_digest(credentials[1], self._client_secret)
        ):
            raise ApiError(401, 2, "Authentication failed.")
        if self._spec is not None:
            self._spec.validate("OauthAccessTokenRequest", body)
        if not isinstance(body, dict):
            msg = "A form-encoded body with grant_type is required"
            raise _invalid(msg)
        grant_type = body.get("grant_type")
        answer: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": SCOPE,
        }
        new_refresh = False
        with self._lock:
            if grant_type == "refresh_token":
                old = body.get("refresh_token")
                if old not in self._refresh_tokens:
                    msg = "Invalid refresh token."
                    raise _invalid(msg)
                answer["response_type"] = "refresh_token"
                if self.rotate_refresh_tokens:
                    self._refresh_tokens.discard(old)
                    new_refresh = True
            elif grant_type == "authorization_code":
                expected = self._auth_codes.pop(str(body.get("code")), None)
                if expected is None or expected != body.get("redirect_uri"):
                    msg = "Invalid authorization code or redirect_uri."
                    raise _invalid(msg)
                answer["response_type"] = "authorization_code"
                new_refresh = True
            else:
                msg = "Unsupported grant_type"
                raise _invalid(msg)
            if new_refresh:
                refresh = f"pinr_{secrets.token_urlsafe(24)}"
                self._refresh_tokens.add(refresh)
                answer["refresh_token"] = refresh
                answer["refresh_token_expires_in"] = REFRESH_TOKEN_TTL
                answer["refresh_token_expires_at"] = int(time.time()) + REFRESH_TOKEN_TTL
        answer["access_token"] = self.issue_access_token()
        return _Response(200, answer, {})

    # -- ad accounts, lists and audiences -------------------------------------------------
    def _ad_account(self, account: str) -> dict[str, Any]:
        return {
            "id": account,
            "name": f"Emulated ad account {account}",
            "currency": "USD",
            "country": "US",
            "owner": {"id": "1000000000001", "username": "emulator"},
            "permissions": ["OWNER"],
            "created_time": 1451431341,
            "updated_time": 1451431341,
        }

    def _get_list(self, account: str, list_id: str) -> _List:
        """Find a list of the account; call with the lock held."""
        found = self._lists.get(list_id)
        if found is None or found.ad_account_id != account:
            raise ApiError(404, 1, "Customer list not found.")
        return found

    def _list_lists(self, account: str, query: dict[str, list[str]]) -> _Response:
        with self._lock:
            items = [item.as_api() for item in self._lists.values() if item.ad_account_id == account]
            repeat = self._faults.repeat_bookmark
            if repeat:
                self._count_fault("repeat_bookmark")
        if repeat:  # Prism's answer: the first page again, always with the spec's example bookmark
            page = _paginate(items, {name: values for name, values in query.items() if name != "bookmark"})
            return _Response(200, {**page, "bookmark": "string"}, {})
        return _Response(200, _paginate(items, query), {})

    def _create_list(self, account: str, body: object) -> _Response:
        request = self._validate_body("CustomerListRequest", body)
        name = request.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid("name is required and must be a non-empty string")
        list_type = request.get("list_type", "EMAIL")
        if list_type not in LIST_TYPES:
            raise _invalid(f"list_type must be one of {', '.join(LIST_TYPES)}")
        records = parse_records(request.get("records"), list_type)
        self._check_size(records)
        now = int(time.time())
        with self._lock:
            if any(i.ad_account_id == account and i.name == name for i in self._lists.values()):
                self._duplicate_name_creates += 1
                logger.warning("A second customer list with an existing name was created")
            created = _List(
                id=str(next(self._ids)),
                name=name,
                ad_account_id=account,
                list_type=list_type,
                members=set(records),
                created_time=now,
                updated_time=now,
                num_uploaded_user_records=len(records),
            )
            self._lists[created.id] = created
            self._applied_writes += 1
            return _Response(200, created.as_api(), {})

    def _check_size(self, records: list[str]) -> None:
        limit = self._faults.max_records_per_request
        if limit is not None and len(records) > limit:
            raise ApiError(413, 1, f"Request entity too large: {len(records)} records, at most {limit} accepted.")

    def _update_list(self, account: str, list_id: str, body: object) -> _Response:
        request = self._validate_body("CustomerListUpdateRequest", body)
        operation = request.get("operation_type")
        if operation not in OPERATION_TYPES:
            raise _invalid("operation_type is required and must be ADD or REMOVE")
        with self._lock:
            target = self._get_list(account, list_id)
            records = parse_records(request.get("records"), target.list_type)
            self._check_size(records)
            if operation == "ADD":
                target.members.update(records)
                target.num_uploaded_user_records += len(records)
            else:
                target.members.difference_update(records)
                target.num_removed_user_records += len(records)
            target.num_batches += 1
            target.updated_time = int(time.time())
            self._applied_writes += 1
            return _Response(200, target.as_api(), {})

    def _audience_api(self, audience: dict[str, Any]) -> dict[str, Any]:
        """Render an audience; size and status follow its list (call with the lock held)."""
        rendered = copy.deepcopy(audience)
        source = self._lists.get(audience["rule"]["customer_list_id"])
        size = len(source.members) if source else 0
        rendered["size"] = size
        rendered["status"] = "READY" if size >= MIN_READY_MEMBERS else "TOO_SMALL"
        return rendered

    def _list_audiences(self, account: str, query: dict[str, list[str]]) -> _Response:
        ownership = _one(query, "ownership_type") or "OWNED"
        if ownership not in {"OWNED", "RECEIVED"}:
            raise _invalid("ownership_type must be OWNED or RECEIVED")
        with self._lock:
            items = [
                self._audience_api(audience)
                for audience in self._audiences.values()
                if audience["ad_account_id"] == account and ownership == "OWNED"
            ]
        return _Response(200, _paginate(items, query), {})

    def _create_audience(self, account: str, body: object) -> _Response:
        request = self._validate_body("AudienceCreateRequest", body)
        name = request.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid("name is required and must be a non-empty string")
        audience_type = request.get("audience_type")
        if audience_type not in AUDIENCE_TYPES:
            raise _invalid(f"audience_type must be one of {', '.join(AUDIENCE_TYPES)}")
        if audience_type != "CUSTOMER_LIST":
            raise _invalid("The emulator only supports CUSTOMER_LIST audiences")
        if request.get("ad_account_id", account) != account:
            raise _invalid("ad_account_id in the body does not match the path")
        rule = request.get("rule")
        list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
        if not isinstance(list_id, str) or not _ID.fullmatch(list_id):
            raise _invalid("rule.customer_list_id is required and must be a string of digits")
        now = int(time.time())
        with self._lock:
            known = self._lists.get(list_id)
            if known is None or known.ad_account_id != account:
                msg = f"rule.customer_list_id {list_id} is not a customer list of this account"
                raise _invalid(msg)
            audience = {
                "id": str(next(self._ids)),
                "ad_account_id": account,
                "name": name,
                "audience_type": audience_type,
                "description": request.get("description"),
                "rule": copy.deepcopy(rule),
                "created_timestamp": now,
                "updated_timestamp": now,
                "created_by_company_name": None,
                "type": "audience",
            }
            self._audiences[audience["id"]] = audience
            return _Response(200, self._audience_api(audience), {})


class _Handler(BaseHTTPRequestHandler):
    """Socket glue: read the body, let the emulator answer, write JSON with a length."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are dropped after this many seconds
    # Headers and body leave in one buffered write with Nagle off: otherwise each reply
    # waits ~40 ms for a delayed ACK and a 300-request test takes seconds.
    wbufsize = -1
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        emulator: PinterestEmulator = self.server.emulator  # type: ignore[attr-defined]
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(_Response(411, {"code": 1, "message": "Content-Length required"}, {}))
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(_Response(413, {"code": 1, "message": "Request body too large"}, {}))
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

    def _send(self, response: _Response) -> None:
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


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM (``target-pinterest-audiences-emulator``)."""
    parser = argparse.ArgumentParser(
        prog="target-pinterest-audiences-emulator",
        description="Serve a local emulator of Pinterest's API v5 customer lists.",
        epilog="Faults and a CI example: python -m pydoc pinterest_emulator (section Faults).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--ad-account-id", action="append", dest="ad_account_ids")
    parser.add_argument("--access-token", action="append", dest="access_tokens")
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--refresh-token", action="append", dest="refresh_tokens")
    parser.add_argument("--rotate-refresh-tokens", action="store_true")
    parser.add_argument("--openapi", type=Path, help="validate bodies against this file")
    parser.add_argument("--log-level", default="WARNING")
    group = parser.add_argument_group(
        "faults",
        "Misbehave on /v5 requests (never on /_emulator/*), reproducibly for a given seed. "
        "SHARE is a probability from 0 to 1 per request; the shares add up to at most 1.",
    )
    group.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="wait per /v5 request")
    group.add_argument("--fault-seed", type=int, default=0, metavar="INT", help="seed of the fault draws (0)")
    group.add_argument("--fault-429", type=float, default=0.0, metavar="SHARE", help="429 code 8 with Retry-After")
    group.add_argument("--fault-500", type=float, default=0.0, metavar="SHARE", help="500, not processed")
    group.add_argument("--fault-503", type=float, default=0.0, metavar="SHARE", help="503 code 4197, not processed")
    group.add_argument(
        "--fault-drop", type=float, default=0.0, metavar="SHARE", help="close or reset without reply, not processed"
    )
    group.add_argument(
        "--fault-drop-after-effect",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="process (e.g. create the list), then close or reset without reply",
    )
    group.add_argument(
        "--fault-slow", type=float, default=0.0, metavar="SHARE", help="process, then hold the reply --slow-seconds"
    )
    group.add_argument("--slow-seconds", type=float, default=5.0, metavar="SECONDS", help="delay of slow replies (5)")
    group.add_argument("--retry-after", type=float, default=0.0, metavar="SECONDS", help="Retry-After of 429s (0)")
    group.add_argument("--retry-after-http-date", action="store_true", help="send Retry-After as an HTTP date")
    group.add_argument("--fault-oauth", action="store_true", help="also fault and meter POST /v5/oauth/token")
    group.add_argument(
        "--quota-rps",
        type=float,
        metavar="RPS",
        help="global quota in fixed one-second windows; the excess gets 429 with Retry-After",
    )
    group.add_argument(
        "--access-token-max-uses", type=int, metavar="N", help="access tokens give 401 code 2 after N uses"
    )
    args = parser.parse_args(argv)
    try:
        faults = Faults(
            latency_seconds=args.latency,
            access_token_max_uses=args.access_token_max_uses,
            seed=args.fault_seed,
            rate_429=args.fault_429,
            rate_500=args.fault_500,
            rate_503=args.fault_503,
            rate_drop=args.fault_drop,
            rate_drop_after_effect=args.fault_drop_after_effect,
            rate_slow=args.fault_slow,
            slow_seconds=args.slow_seconds,
            include_oauth=args.fault_oauth,
            retry_after_seconds=args.retry_after,
            retry_after_http_date=args.retry_after_http_date,
            requests_per_second=args.quota_rps,
        )
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    emulator = PinterestEmulator(
        host=args.host,
        port=args.port,
        ad_account_ids=args.ad_account_ids or ("549755885175",),
        access_tokens=args.access_tokens or ("emulator-access-token",),
        client_id=args.client_id,
        client_secret=args.client_secret,
        refresh_tokens=args.refresh_tokens or ("emulator-refresh-token",),
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        openapi_path=args.openapi,
        faults=faults,
    )
    stopping = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    emulator.start()
    sys.stderr.write(f"Pinterest v5 emulator listening on {emulator.url}\n")
    sys.stderr.flush()
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
