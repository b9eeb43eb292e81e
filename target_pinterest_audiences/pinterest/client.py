"""Pinterest v5 client: auth, retries with backoff, pacing, and the calls this target makes.

Everything that crosses the network goes through :meth:`PinterestClient.request`, so the
rules hold for every call: a per-thread keep-alive session, client-side pacing, retries of
429/5xx/timeouts/dropped connections with full-jitter backoff that honours ``Retry-After``
and ``X-RateLimit-Reset``, one token renewal on a 401, and errors of one line that name the
list and the operation but never a token or an identifier.
"""

from __future__ import annotations

import email.utils
import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from target_pinterest_audiences.pinterest import oauth

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.pinterest.com/v5"
#: Statuses worth another try: rate limiting and server-side failures (contract, Semantics).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
HTTP_TOO_MANY_REQUESTS = 429
HTTP_NOT_FOUND = 404
#: How long a call keeps trying to connect to a host that refuses, times out or does not
#: resolve before the run stops (with the connect timeout, well within the contract's 60 s).
CONNECT_BUDGET_SECONDS = 25.0
#: Renewals one call may make (one per refused token) before the token counts as revoked.
MAX_RENEWALS = 3
#: customer_lists/list allows page_size 1..250 (spec, ``query_page_size``).
MAX_PAGE_SIZE = 250
#: Seconds to connect and to wait for a reply; Pinterest answers list updates in well under.
TIMEOUT = (10.0, 120.0)
#: Reads (GET) are paced on their own: Pinterest's ``ads_read`` quota is 1,000 a minute per user
#: per app [docs /docs/reference/rate-limits/], apart from ``ads_write``. 90 % of it, so that
#: reads never wait for, nor spend, the writes' pacing (max_requests_per_second).
READS_PER_SECOND = 0.9 * 1000 / 60
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
USER_AGENT = "target-pinterest-audiences"
_MAX_MESSAGE = 300
_T = TypeVar("_T")


class Outcome(enum.Enum):
    """What a write's attempts, all of them, say about its effect at Pinterest (CONTRACT.md, Semantics)."""

    ACCEPTED = "accepted"
    """A 2xx answered it."""
    NOT_APPLIED = "certainly not applied"
    """Pinterest refused it, and no attempt of it ever went unanswered."""
    UNKNOWN = "unknown"
    """Some attempt went unanswered (a timeout, a connection lost after sending, a 5xx): it may
    have taken effect, whatever the later attempts met."""


class PinterestError(Exception):
    """A request Pinterest did not accept. ``str()`` is the one line a user sees.

    ``outcome`` says whether it may have taken effect: only a call's retry loop can say
    "certainly not applied", so any other error counts as unknown.
    """

    def __init__(  # noqa: PLR0913
        self,
        operation: str,
        *,
        status: int | None = None,
        code: object = None,
        message: str = "",
        request_id: str | None = None,
        retries: int = 0,
        outcome: Outcome = Outcome.UNKNOWN,
    ) -> None:
        """Keep the parts of the failure; the message is built in ``__str__``."""
        super().__init__(operation)
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retries = retries
        self.outcome = outcome

    @property
    def maybe_applied(self) -> bool:
        """Whether Pinterest may hold the effect of the failed call."""
        return self.outcome is not Outcome.NOT_APPLIED

    def __str__(self) -> str:
        """One line: what failed, Pinterest's answer, and the request id for support."""
        parts = [f"Pinterest refused {self.operation}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        text = ", ".join(parts)
        if self.message:
            text += f": {self.message}"
        if self.retries:
            text += f" (after {self.retries} retries)"
        if self.request_id:
            text += f" [x-pinterest-rid {self.request_id}]"
        return text


class AuthenticationError(PinterestError):
    """The credentials are wrong, expired or revoked: only a person can fix that."""

    def __str__(self) -> str:
        """Say what to do: re-authorise."""
        return super().__str__() + ". Re-authorise the Pinterest app and update access_token or refresh_token."


class UnreachableError(PinterestError):
    """No connection could be made to ``api_url``'s host: nothing was sent."""

    def __init__(self, operation: str, *, url: str, reason: str, retries: int = 0) -> None:
        """Keep the host and port, never the path or query."""
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        self.where = f"{parts.hostname}:{parts.port or default_port}"
        super().__init__(operation, message=reason, retries=retries)

    def __str__(self) -> str:
        """One line naming host and port, and what to check."""
        return (
            f"Cannot reach {self.where} ({self.message}) while {self.operation}, after {self.retries} retries."
            " Check api_url and the network (or start the emulator)."
        )


def connect_failure(exc: requests.RequestException) -> str | None:
    """Why no connection was made (so nothing was sent), or None when it broke after sending."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    if isinstance(reason, NameResolutionError):
        return "the host name does not resolve"
    if isinstance(reason, NewConnectionError):
        return "connection refused"
    return None


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


def error_from_response(operation: str, response: requests.Response, retries: int = 0) -> PinterestError:
    """Build the error for a refused request from Pinterest's ``{code, message}`` body."""
    code: object = None
    message = ""
    try:
        body = response.json()
    except ValueError:
        content_type = response.headers.get("Content-Type", "no content type").split(";")[0]
        message = f"unexpected reply ({content_type}, {len(response.content)} bytes)"
    else:
        if isinstance(body, Mapping) and "message" in body:
            code = body.get("code")
            message = _one_line(str(body["message"]))
        else:
            message = "unexpected JSON reply without code and message"
    kind: type[PinterestError] = PinterestError
    if response.status_code == 401:  # noqa: PLR2004
        kind = AuthenticationError
    return kind(
        operation,
        status=response.status_code,
        code=code,
        message=message,
        request_id=response.headers.get("x-pinterest-rid"),
        retries=retries,
    )


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` or ``X-RateLimit-Reset``.

    ``Retry-After`` is seconds or an HTTP date (RFC 9110 section 10.2.3). Pinterest documents
    neither header, so both are honoured when present. ``X-RateLimit-Reset`` is read as
    seconds to wait, or as a Unix time when it is larger than a day.
    """
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - now)
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            return None
        return max(0.0, number - now) if number > 86_400 else max(0.0, number)  # noqa: PLR2004
    return None


class Pacer:
    """Client-side pacing: at most ``rate`` request starts per second across all threads."""

    def __init__(self, rate: float | None) -> None:
        """``rate`` of None or 0 turns pacing off."""
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Start no request for ``seconds``, in any thread: Pinterest said to slow down."""
        if not self.interval:
            return
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)

    def wait(self) -> None:
        """Block until this thread may start a request."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class Credentials:
    """What the client authenticates with; tokens live only here, never in messages."""

    access_token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    on_rotate: Callable[[str], None] | None = None
    """Called with a new refresh token when Pinterest rotates it (continuous refresh)."""
    refresh_token_expires_at: int | None = None
    """When ``refresh_token`` ends (Unix seconds), when known: kept with it in the store."""

    def __repr__(self) -> str:
        """Never show a token, even in a debugger or a traceback."""
        return "Credentials(***)"

    @property
    def can_refresh(self) -> bool:
        """True when the refresh flow is configured."""
        return bool(self.refresh_token and self.client_id and self.client_secret)


@dataclass
class CallStats:
    """Requests and retries made, for the run report (thread-safe increments)."""

    requests: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0) -> None:
        """Count a request or a retry."""
        with self.lock:
            self.requests += requests
            self.retries += retries

    def snapshot(self) -> tuple[int, int]:
        """(requests, retries) so far."""
        with self.lock:
            return self.requests, self.retries


@dataclass(frozen=True)
class _Retry:
    """Why an attempt is worth another: what failed, the wait the server asked for, its reply if any."""

    failure: str
    wait: float | None = None
    response: requests.Response | None = None


@dataclass
class _Attempts:
    """One call's attempts so far, and what they say about its effect."""

    operation: str
    url: str
    deadline: float
    number: int = 0
    unanswered: bool = False
    """Some attempt went unanswered after it was sent: the outcome is unknown for good."""
    connect_deadline: float | None = None
    refused: set[str] = field(default_factory=set)
    """Tokens this call saw refused: each is renewed once. Another thread may renew in between,
    and a short-lived token may expire again before this call retries."""

    @property
    def outcome(self) -> Outcome:
        """The outcome of the call if it fails now."""
        return Outcome.UNKNOWN if self.unanswered else Outcome.NOT_APPLIED

    def failed(self, error: PinterestError) -> PinterestError:
        """``error`` as the end of this call: it carries the outcome of every attempt."""
        error.outcome = self.outcome
        return error

    def guarded(self, step: Callable[[], _T]) -> _T:
        """Run a step of the call (a token renewal, a look for its effect); its failure ends the call."""
        try:
            return step()
        except PinterestError as exc:
            raise self.failed(exc) from None

    def may_renew(self, token: str) -> bool:
        """Whether a refused token is one this call has not renewed yet (and renewals are left)."""
        if token in self.refused or len(self.refused) >= MAX_RENEWALS:
            return False
        self.refused.add(token)
        return True

    def answered(self) -> None:
        """An answer came: the host is reachable."""
        self.connect_deadline = None

    def unanswered_by(self, exc: requests.RequestException) -> _Retry:
        """No answer: nothing was sent when no connection was made; else it may have taken effect."""
        unreachable = connect_failure(exc)
        if unreachable is None:
            self.connect_deadline = None
            self.unanswered = True
            return _Retry(type(exc).__name__)
        self.connect_deadline = self.connect_deadline or time.monotonic() + CONNECT_BUDGET_SECONDS
        return _Retry(unreachable)

    def give_up_at(self) -> float:
        """When retrying ends: the call's budget, or sooner when the host cannot be reached."""
        return min(self.deadline, self.connect_deadline or self.deadline)

    def gave_up(self, retry: _Retry, *, stopping: bool) -> PinterestError:
        """The error for a call that is not retried any more."""
        failure = retry.failure + ("; not retried, the run is stopping" if stopping else "")
        if retry.response is not None:
            return self.failed(error_from_response(self.operation, retry.response, self.number))
        if self.connect_deadline is not None:
            return self.failed(UnreachableError(self.operation, url=self.url, reason=failure, retries=self.number))
        return self.failed(PinterestError(self.operation, message=f"no answer ({failure})", retries=self.number))


class PinterestClient:
    """The Pinterest v5 calls of this target, safe to share between sink threads."""

    def __init__(  # noqa: PLR0913
        self,
        api_url: str,
        credentials: Credentials,
        *,
        requests_per_second: float | None = None,
        reads_per_second: float = READS_PER_SECOND,
        max_retry_seconds: float = 600.0,
        timeout: tuple[float, float] = TIMEOUT,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        """Prepare the client; nothing is sent until the first call.

        Writes (and token requests) are paced at ``requests_per_second``, GETs apart at
        ``reads_per_second``; no ``requests_per_second`` turns both off.
        """
        self.api_url = api_url.rstrip("/")
        self._credentials = credentials
        self._access_token = credentials.access_token
        self._token_lock = threading.Lock()
        self._pacer = Pacer(requests_per_second)
        self._read_pacer = Pacer(reads_per_second if requests_per_second else None)
        self._max_retry_seconds = max_retry_seconds
        self._timeout = timeout
        self._cancelled = threading.Event()
        self._sleep: Callable[[float], object] = sleep if sleep is not None else self._cancelled.wait
        self._local = threading.local()
        self.stats = CallStats()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """One keep-alive session per thread: requests.Session is not thread-safe."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
        return session

    @contextmanager
    def counting(self) -> Iterator[CallStats]:
        """Count this thread's calls inside the block apart too (a list's requests and retries)."""
        stats = CallStats()
        self._local.stats = stats
        try:
            yield stats
        finally:
            self._local.stats = None

    def _explained(self, error: PinterestError) -> PinterestError:
        """A 404 from an api_url that is not a v5 base URL says so: every path is wrong then."""
        if error.status == HTTP_NOT_FOUND and not self.api_url.endswith("/v5"):
            error.message += f" (api_url does not end in /v5, as {DEFAULT_API_URL} does)"
        return error

    @property
    def credentials(self) -> Credentials:
        """What the client authenticates with (the refresh token's end, for the start-of-run warning)."""
        return self._credentials

    def cancel(self) -> None:
        """The run stops: no call retries or waits any more (one in flight finishes)."""
        self._cancelled.set()

    @contextmanager
    def _not_counted_for_list(self) -> Iterator[None]:
        """Calls made inside (token renewals) count for the run, not for the list at hand."""
        saved = getattr(self._local, "stats", None)
        self._local.stats = None
        try:
            yield
        finally:
            self._local.stats = saved

    def _count(self, *, requests: int = 0, retries: int = 0) -> None:
        self.stats.add(requests=requests, retries=retries)
        local: CallStats | None = getattr(self._local, "stats", None)
        if local is not None:
            local.add(requests=requests, retries=retries)

    def _token(self) -> str:
        with self._token_lock:
            if self._access_token is None:
                with self._not_counted_for_list():
                    self._refresh_locked(None)
            assert self._access_token is not None  # noqa: S101 - set by the refresh above
            return self._access_token

    def renew_token(self, rejected: str | None) -> None:
        """Get a new access token, unless another thread already replaced ``rejected``."""
        with self._token_lock, self._not_counted_for_list():
            self._refresh_locked(rejected)

    def _refresh_locked(self, rejected: str | None) -> None:
        if rejected is not None and self._access_token != rejected:
            return
        creds = self._credentials
        if not creds.can_refresh:
            raise AuthenticationError(
                "the access token", status=401, code=2, message="access token rejected or missing"
            )
        assert creds.client_id is not None  # noqa: S101 - can_refresh checked both
        assert creds.client_secret is not None  # noqa: S101
        try:
            response = self._send_plain(
                "POST",
                oauth.TOKEN_PATH,
                oauth.REFRESH_OPERATION,
                data=oauth.refresh_grant(creds.refresh_token or ""),
                auth=(creds.client_id, creds.client_secret),
            )
        except PinterestError as exc:
            if exc.status is not None and 400 <= exc.status < 500:  # noqa: PLR2004 - a refused grant
                raise AuthenticationError(
                    exc.operation, status=exc.status, code=exc.code, message=exc.message, request_id=exc.request_id
                ) from None
            raise
        try:
            payload = response.json()
            self._access_token = oauth.token_reply(payload, oauth.REFRESH_OPERATION).access_token
        except (ValueError, oauth.OAuthError):
            raise PinterestError(
                oauth.REFRESH_OPERATION,
                status=response.status_code,
                message="no access_token in the reply (does api_url end in /v5?)",
            ) from None
        rotated = oauth.rotated_refresh_token(payload, creds.refresh_token)
        if rotated is not None:
            creds.refresh_token = rotated
            creds.refresh_token_expires_at = oauth.refresh_token_expires_at(payload)
            if creds.on_rotate is not None:
                creds.on_rotate(rotated)
            logger.info("Pinterest rotated the refresh token; the new one is kept in the store.")

    def _send(  # noqa: PLR0913 - the call's parts, as requests takes them
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        recover: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> requests.Response | Mapping[str, Any]:
        """Send one call with pacing and retries; return the accepted response or raise.

        The error raised carries the outcome of all the call's attempts (``Outcome``). ``recover``
        runs before a retry of a call that may have taken effect (a create that timed out):
        when it finds the effect, what it found stands in for the reply.
        """
        attempts = _Attempts(operation, self.api_url + path, time.monotonic() + self._max_retry_seconds)
        # GETs spend the read quota (ads_read), everything else the write quota (see READS_PER_SECOND).
        pacer = self._read_pacer if method == "GET" else self._pacer
        while True:
            token = self._authorise(auth, attempts)
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            pacer.wait()
            self._count(requests=1)
            try:
                reply = self.session.request(
                    method,
                    attempts.url,
                    params=params,
                    json=json,
                    data=data,
                    auth=auth,
                    headers=headers,
                    timeout=self._timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                retry = attempts.unanswered_by(exc)
            else:
                if reply.status_code < 400:  # noqa: PLR2004
                    return reply
                if self._renewed_after_refusal(reply, token, attempts):
                    continue
                retry = self._retry_or_raise(reply, attempts, pacer)
            self._back_off(retry, attempts)
            if recover is not None:
                recovered = attempts.guarded(recover)
                if recovered is not None:
                    return recovered

    def _authorise(self, auth: tuple[str, str] | None, attempts: _Attempts) -> str | None:
        """The bearer token for the next attempt (None with basic ``auth``); a failed renewal ends the call."""
        if auth is not None:
            return None
        return attempts.guarded(self._token)

    def _renewed_after_refusal(self, reply: requests.Response, token: str | None, attempts: _Attempts) -> bool:
        """A 401 on a token not yet renewed by this call: renew it, and say the call goes on."""
        if reply.status_code != 401 or token is None or not attempts.may_renew(token):  # noqa: PLR2004
            return False
        attempts.guarded(lambda: self.renew_token(token))
        return True

    def _retry_or_raise(self, reply: requests.Response, attempts: _Attempts, pacer: Pacer) -> _Retry:
        """A refusal that is final raises; a 429 or 5xx is retried (a 5xx may have taken effect)."""
        status = reply.status_code
        if status not in RETRY_STATUSES:
            raise attempts.failed(self._explained(error_from_response(attempts.operation, reply, attempts.number)))
        attempts.answered()
        if status != HTTP_TOO_MANY_REQUESTS:
            attempts.unanswered = True  # a server error may come after the effect
        wait = retry_after_seconds(reply.headers)
        if status == HTTP_TOO_MANY_REQUESTS:
            pacer.hold(wait or pacer.interval)
        return _Retry(f"HTTP {status}", wait, reply)

    def _back_off(self, retry: _Retry, attempts: _Attempts) -> None:
        """Wait before the next attempt, or raise when the budget is spent or the run stops."""
        backoff = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempts.number))  # noqa: S311
        delay = max(backoff, retry.wait or 0.0)
        if time.monotonic() + delay > attempts.give_up_at() or self._cancelled.is_set():
            raise attempts.gave_up(retry, stopping=self._cancelled.is_set())
        attempts.number += 1
        self._count(retries=1)
        logger.warning(
            "Retrying %s in %.1fs after %s (retry %d).", attempts.operation, delay, retry.failure, attempts.number
        )
        self._sleep(delay)

    def _send_plain(
        self,
        method: str,
        path: str,
        operation: str,
        **kwargs: Any,  # noqa: ANN401
    ) -> requests.Response:
        response = self._send(method, path, operation, **kwargs)
        assert isinstance(response, requests.Response)  # noqa: S101 - no recover given
        return response

    def request(
        self,
        method: str,
        path: str,
        operation: str,
        **kwargs: Any,  # noqa: ANN401
    ) -> Any:  # noqa: ANN401
        """Send an authenticated call and return its JSON body."""
        response = self._send(method, path, operation, **kwargs)
        if not isinstance(response, requests.Response):
            return response
        try:
            return response.json()
        except ValueError:
            raise PinterestError(
                operation,
                status=response.status_code,
                message="reply is not JSON",
                request_id=response.headers.get("x-pinterest-rid"),
            ) from None

    # -- the calls ------------------------------------------------------------------------

    def paginate(self, path: str, operation: str) -> Iterator[Mapping[str, Any]]:
        """Yield every item of a bookmark-paginated listing, all pages."""
        params: dict[str, Any] = {"page_size": MAX_PAGE_SIZE}
        seen: set[str] = set()
        while True:
            page = self.request("GET", path, operation, params=params)
            if not isinstance(page, Mapping) or not isinstance(page.get("items"), list):
                raise PinterestError(operation, message="reply has no items list")
            yield from page["items"]
            bookmark = page.get("bookmark")
            if not bookmark:
                return
            if str(bookmark) in seen:
                # The SDK's paginators stop on a repeated token too: following it would loop.
                raise PinterestError(
                    operation,
                    message=f"page {len(seen) + 1} repeats the bookmark of an earlier page; stopped instead of"
                    " looping (is api_url a mock server?)",
                )
            seen.add(str(bookmark))
            params = {"page_size": MAX_PAGE_SIZE, "bookmark": bookmark}

    def ad_accounts(self) -> Iterator[Mapping[str, Any]]:
        """List the ad accounts this token can reach."""
        return self.paginate("/ad_accounts", "listing ad accounts")

    def customer_lists(self, ad_account_id: str) -> Iterator[Mapping[str, Any]]:
        """Every customer list of an ad account."""
        return self.paginate(f"/ad_accounts/{ad_account_id}/customer_lists", "listing customer lists")

    def find_customer_list(self, ad_account_id: str, name: str) -> Mapping[str, Any] | None:
        """Find the list of exactly this name, paging through the whole account."""
        for item in self.customer_lists(ad_account_id):
            if item.get("name") == name:
                return item
        return None

    def create_customer_list(
        self, ad_account_id: str, name: str, list_type: str, records: list[str]
    ) -> Mapping[str, Any]:
        """Create a list with its first records; a retry first checks it was not made."""
        operation = f"creating customer list '{name}'"
        body = {"name": name, "records": ",".join(records), "list_type": list_type}
        result = self.request(
            "POST",
            f"/ad_accounts/{ad_account_id}/customer_lists",
            operation,
            json=body,
            recover=lambda: self.find_customer_list(ad_account_id, name),
        )
        if not isinstance(result, Mapping) or not result.get("id"):
            raise PinterestError(operation, message="reply carries no list id")
        return result

    def update_customer_list(
        self, ad_account_id: str, list_id: str, operation_type: str, records: list[str], name: str
    ) -> Mapping[str, Any]:
        """ADD or REMOVE records; both are idempotent, so retries are safe."""
        verb = "adding to" if operation_type == "ADD" else "removing from"
        result = self.request(
            "PATCH",
            f"/ad_accounts/{ad_account_id}/customer_lists/{list_id}",
            f"{verb} customer list '{name}' ({len(records)} records)",
            json={"operation_type": operation_type, "records": ",".join(records)},
        )
        return result if isinstance(result, Mapping) else {}

    def get_customer_list(self, ad_account_id: str, list_id: str, name: str) -> Mapping[str, Any]:
        """One list, for its status at the end of a run."""
        result = self.request(
            "GET",
            f"/ad_accounts/{ad_account_id}/customer_lists/{list_id}",
            f"reading customer list '{name}'",
        )
        return result if isinstance(result, Mapping) else {}

    def audiences(self, ad_account_id: str) -> Iterator[Mapping[str, Any]]:
        """Every audience of an ad account."""
        return self.paginate(f"/ad_accounts/{ad_account_id}/audiences", "listing audiences")

    def find_list_audience(self, ad_account_id: str, list_id: str) -> Mapping[str, Any] | None:
        """Find the CUSTOMER_LIST audience built on a list."""
        for item in self.audiences(ad_account_id):
            rule = item.get("rule")
            if isinstance(rule, Mapping) and str(rule.get("customer_list_id")) == list_id:
                return item
        return None

    def create_audience(self, ad_account_id: str, name: str, list_id: str) -> Mapping[str, Any]:
        """Create the CUSTOMER_LIST audience that makes a list usable for targeting."""
        operation = f"creating the audience of customer list '{name}'"
        body = {
            "name": name,
            "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": list_id},
        }
        result = self.request(
            "POST",
            f"/ad_accounts/{ad_account_id}/audiences",
            operation,
            json=body,
            recover=lambda: self.find_list_audience(ad_account_id, list_id),
        )
        return result if isinstance(result, Mapping) else {}
