"""``PinterestEmulator``: what Pinterest answers to each request, and what tests may ask of it.

Why one class: a test holds one object that starts the server, injects faults, and
inspects the lists; the rooms beside it hold the parts (``state``, ``oauth``, ``faults``,
``paging``, ``openapi_check``, ``server``). The package docstring describes the behaviour.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from pinterest_emulator.errors import ApiError, error_for_status, invalid, list_not_found
from pinterest_emulator.faults import NO_FAULT, FaultDecision, Faults, Quota, decide_fault
from pinterest_emulator.oauth import Tokens, TokenUsedUpError, consent_html
from pinterest_emulator.openapi_check import check_body, spec_validator
from pinterest_emulator.paging import check_id, one, paginate
from pinterest_emulator.population import Population
from pinterest_emulator.server import EmulatorServer, Response, error_response, odd_reply, parse_body
from pinterest_emulator.state import AdAccounts, EmulatedList

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Self

logger = logging.getLogger(__name__)

_Item = TypeVar("_Item")
_ACCOUNT_PATH = 2  # ad_accounts/{id}
_LIST_PATH = 4  # ad_accounts/{id}/customer_lists/{list_id}


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


class PinterestEmulator:
    """An in-memory Pinterest v5 for tests and CI; see the package docstring."""

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
        consent_page: bool = False,
        population: Population | str | Path | None = None,
        size_lag_seconds: float = 0.0,
    ) -> None:
        """Configure; nothing listens until ``start()``.

        ``population`` (a Population or its file, population.py): matching is modelled, an
        audience's size counts its list's entries found there; without it every entry matches
        (ASSUMPTION, see population.py). ``size_lag_seconds``: a new audience's size is null and
        its status INITIALIZING for that long.

        ``consent_page``: ``GET /oauth/`` shows a page with Allow and Deny (as Pinterest asks a
        user to consent) instead of approving at once, for tests that drive a real browser.
        """
        self._consent_page = consent_page
        self._host = host
        self._port = port
        if population is not None and not isinstance(population, Population):
            population = Population.load(Path(population))
        self._accounts = AdAccounts(
            tuple(check_id(a, "ad_account_id") for a in ad_account_ids), population, size_lag_seconds
        )
        self._tokens = Tokens(
            client_id=client_id,
            client_secret=client_secret,
            access_tokens=access_tokens,
            refresh_tokens=refresh_tokens,
            rotate_refresh_tokens=rotate_refresh_tokens,
        )
        self._spec = spec_validator(Path(openapi_path).resolve()) if openapi_path else None
        # Guards the faults, their counts, the request numbers and the request log.
        self._lock = threading.Lock()
        self._faults = faults or Faults()
        self._v5_count = 0
        # Outcome of each /v5 request by number (True: processed with a 2xx answer), for
        # wait_applied; the condition shares the lock.
        self._outcomes: dict[int, bool] = {}
        self._settled = threading.Condition(self._lock)
        self._rng = random.Random(self._faults.seed)  # noqa: S311 (reproducible faults, not secrets)
        self._fault_counts: dict[str, int] = {}
        # One quota per rate-limit category: reads (ads_read) and everything else (ads_write).
        self._quotas = {"read": Quota(), "write": Quota()}
        self.requests: list[RecordedRequest] = []
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Listen and serve in a daemon thread, so a test process never hangs on it."""
        server = EmulatorServer((self._host, self._port), self)
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

    # -- faults ---------------------------------------------------------------------------------
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
            self._tokens.reset_uses()
            self._rng = random.Random(value.seed)  # noqa: S311 (reproducible faults, not secrets)
            self._fault_counts.clear()
            self._quotas = {"read": Quota(), "write": Quota()}

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

    # -- lists and audiences, for tests -------------------------------------------------------------
    @property
    def duplicate_name_creates(self) -> int:
        """How many lists were created with a name a live list of their account had."""
        return self._accounts.duplicate_name_creates

    @property
    def applied_writes(self) -> int:
        """Customer-list writes applied (a create, an ADD or REMOVE PATCH), answered or not.

        Counts since start or ``reset()``; a write whose answer a fault dropped or held
        counts, one refused before processing does not.
        """
        return self._accounts.applied_writes

    def delete_list(self, list_id: str) -> None:
        """Delete a list as a user would in Ads Manager (the API has no DELETE for lists, [spec]).

        Afterwards GET and PATCH of it answer 404 code 1 "Customer list not found.", the
        account's list pages no longer hold it, and a new list may take its name without
        counting as a duplicate. The audiences built on it go with it. KeyError if unknown.
        """
        self._accounts.delete_list(list_id)

    def customer_lists(self, ad_account_id: str | None = None) -> list[EmulatedList]:
        """Snapshots of the live lists (of one account, or all), ordered by id."""
        return self._accounts.snapshots(ad_account_id)

    def list_by_name(self, name: str, ad_account_id: str | None = None) -> EmulatedList:
        """Return the one list of that name; KeyError if none, AssertionError if several."""
        found = [item for item in self.customer_lists(ad_account_id) if item.name == name]
        return _the_one(found, name, "customer lists")

    def audiences(self, ad_account_id: str | None = None) -> list[dict[str, Any]]:
        """Return the audiences (as the API renders them), ordered by id."""
        return self._accounts.audiences(ad_account_id)

    def audience_by_name(self, name: str, ad_account_id: str | None = None) -> dict[str, Any]:
        """Return the one audience of that name; KeyError if none, AssertionError if several."""
        found = [item for item in self.audiences(ad_account_id) if item["name"] == name]
        return _the_one(found, name, "audiences")

    def duplicate_names(self, ad_account_id: str | None = None) -> dict[str, dict[str, int]]:
        """Names that more than one live list, or audience, of an account hold, with counts.

        ``{"customer_lists": {}, "audiences": {}}`` means one list and one audience per
        name at most (deleted lists, and the audiences that went with them, do not count).
        """
        return self._accounts.duplicate_names(ad_account_id)

    def state(self) -> dict[str, Any]:
        """Everything held, as JSON-ready data (also served at ``/_emulator/state``)."""
        held = self._accounts.as_json()
        with self._lock:
            return {**held, "fault_counts": dict(self._fault_counts)}

    def reset(self) -> None:
        """Forget all lists and audiences (tokens and the request log stay)."""
        self._accounts.reset()

    # -- tokens ---------------------------------------------------------------------------------
    @property
    def rotate_refresh_tokens(self) -> bool:
        """Whether a refresh hands out a new refresh token and retires the old one."""
        return self._tokens.rotate_refresh_tokens

    @rotate_refresh_tokens.setter
    def rotate_refresh_tokens(self, value: bool) -> None:
        self._tokens.rotate_refresh_tokens = value

    @property
    def refresh_tokens(self) -> frozenset[str]:
        """The refresh tokens that currently work."""
        return self._tokens.refresh_tokens

    def issue_access_token(self) -> str:
        """Mint a new valid access token (what the OAuth flows hand out)."""
        token = f"pina_{secrets.token_urlsafe(24)}"
        self._tokens.add_access_token(token)
        return token

    def revoke_access_token(self, token: str) -> None:
        """Make a token fail with 401, e.g. to test renewal."""
        self._tokens.revoke_access_token(token)

    def revoke_refresh_token(self, token: str) -> None:
        """Make a refresh token fail, e.g. to test the error a user sees."""
        self._tokens.revoke_refresh_token(token)

    # -- request handling -------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> Response:
        """Answer one HTTP request; independent of the socket layer so it stays testable."""
        started = time.monotonic()
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        body, body_error = parse_body(headers, raw_body)
        path = parts.path
        is_v5 = path == "/v5" or path.startswith("/v5/")
        record_path = path[3:] if is_v5 else path
        fault = NO_FAULT
        number: int | None = None
        try:
            if body_error is not None:
                raise body_error
            if is_v5:
                number, fault = self._next_fault(method, record_path)
                fault = self._aim_not_found(fault, method, record_path)
                response = self._before_processing(fault) or self._handle_v5(method, record_path, query, headers, body)
            else:
                response = self._handle_root(method, path, query)
        except ApiError as error:
            response = error_response(error)
        if number is not None:
            with self._settled:
                self._outcomes[number] = 200 <= response.status < 300  # noqa: PLR2004 (2xx)
                self._settled.notify_all()
        if fault.after_effect:
            response = response._replace(drop=fault.drop)
        if fault.odd is not None and fault.odd != "html" and response.status < 400:  # noqa: PLR2004
            response = odd_reply(fault.odd)  # processed, but the reply is not what Pinterest sends
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

    def _next_fault(self, method: str, path: str) -> tuple[int, FaultDecision]:
        """Number the /v5 request, draw its seeded fault and apply the quota, under the lock."""
        with self._lock:
            self._v5_count += 1
            faults = self._faults
            subject = faults.include_oauth or path != "/oauth/token"
            draw = self._rng.random() if subject else None
            decision = decide_fault(faults, self._v5_count, draw)
            if subject and not faults.targets(self._v5_count) and faults.requests_per_second is not None:
                wait = self._quotas["read" if method == "GET" else "write"].take(faults.requests_per_second)
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
            and len(segments) == _LIST_PATH
            and segments[0] == "ad_accounts"
            and segments[2] == "customer_lists"
        )
        if not (aimed and self._accounts.has_list(segments[1], segments[3])):
            return dataclasses.replace(fault, not_found=False, kind=None)
        with self._lock:
            self._count_fault("not_found")
        return fault

    def _before_processing(self, fault: FaultDecision) -> Response | None:
        """Wait the latency; raise the fault's error, or answer a drop that skips processing."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.odd == "html":  # an error page from a proxy: the request never got through
            return odd_reply(fault.odd)
        if fault.status is not None:
            raise error_for_status(fault.status, fault.retry_after, http_date=self._faults.retry_after_http_date)
        if fault.drop is not None and not fault.after_effect:
            return Response(0, None, {}, drop=fault.drop)
        if fault.not_found:
            raise list_not_found()
        return None

    def _authorize_page(self, path: str, query: dict[str, list[str]]) -> Response:
        """Pinterest's authorize page: at once a redirect with a code, or a consent page.

        With ``consent_page``, its Allow and Deny redirect with a code or ``error=access_denied``.
        """
        if path in {"/oauth", "/oauth/"}:
            location = self._tokens.authorize(query)  # also checks the request: a bad one gets no page
            if self._consent_page:
                return Response(200, None, {}, raw=("text/html; charset=utf-8", consent_html(query)))
            return Response(302, None, {"Location": location})
        if path == "/oauth/allow":
            return Response(302, None, {"Location": self._tokens.authorize(query)})
        if path == "/oauth/deny":
            return Response(302, None, {"Location": self._tokens.deny(query)})
        raise ApiError(404, 404, "Not found")

    def _handle_root(self, method: str, path: str, query: dict[str, list[str]]) -> Response:
        if path.startswith("/oauth") and method == "GET":
            return self._authorize_page(path, query)
        if path == "/_emulator/state" and method == "GET":
            return Response(200, self.state(), {})
        if path == "/_emulator/reset" and method == "POST":
            self.reset()
            return Response(200, {"reset": True}, {})
        prefix = "/_emulator/customer_lists/"
        if path.startswith(prefix) and method == "DELETE":
            list_id = path[len(prefix) :]
            try:
                self.delete_list(list_id)
            except KeyError:
                raise list_not_found() from None
            return Response(200, {"deleted": list_id}, {})
        raise ApiError(404, 404, "Not found")

    def _handle_v5(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: object,
    ) -> Response:
        if path == "/oauth/token":
            if method != "POST":
                raise ApiError(405, 405, "Method not allowed")
            return Response(200, self._tokens.exchange(headers, body, self._spec, self.issue_access_token), {})
        self._authenticate(headers.get("Authorization"))
        segments = path.strip("/").split("/")
        if segments == ["ad_accounts"] and method == "GET":
            accounts = [self._accounts.render_account(account) for account in self._accounts.ids]
            return Response(200, paginate(accounts, query), {})
        if len(segments) < _ACCOUNT_PATH or segments[0] != "ad_accounts":
            raise ApiError(404, 404, "Not found")  # Assumption: an unknown path's body (undocumented)
        account = check_id(segments[1], "ad_account_id")
        self._accounts.require(account)
        if len(segments) == _ACCOUNT_PATH:  # operationId ad_accounts/get
            if method != "GET":
                raise ApiError(405, 405, "Method not allowed")
            return Response(200, self._accounts.render_account(account), {})
        return self._route_account(method, account, segments[2:], query, body)

    def _route_account(
        self,
        method: str,
        account: str,
        rest: list[str],
        query: dict[str, list[str]],
        body: object,
    ) -> Response:
        limit = self._faults.max_records_per_request
        routes: dict[tuple[str, str], Callable[[], Response]] = {
            ("customer_lists", "GET"): lambda: self._list_lists(account, query),
            ("customer_lists", "POST"): lambda: Response(
                200, self._accounts.create_list(account, self._body("CustomerListRequest", body), limit), {}
            ),
            ("audiences", "GET"): lambda: self._list_audiences(account, query),
            ("audiences", "POST"): lambda: Response(
                200, self._accounts.create_audience(account, self._body("AudienceCreateRequest", body)), {}
            ),
        }
        if len(rest) == 1 and rest[0] in {"customer_lists", "audiences"}:
            handler = routes.get((rest[0], method))
            if handler is None:
                raise ApiError(405, 405, "Method not allowed")
            return handler()
        if len(rest) == 2 and rest[0] == "customer_lists":  # noqa: PLR2004
            list_id = check_id(rest[1], "customer_list_id")
            if method == "GET":
                return Response(200, self._accounts.get_list(account, list_id), {})
            if method == "PATCH":
                request = self._body("CustomerListUpdateRequest", body)
                return Response(200, self._accounts.update_list(account, list_id, request, limit), {})
            raise ApiError(405, 405, "Method not allowed")
        raise ApiError(404, 404, "Not found")

    def _body(self, schema_name: str, body: object) -> dict[str, Any]:
        return check_body(self._spec, schema_name, body)

    def _authenticate(self, header: str | None) -> None:
        try:
            self._tokens.authenticate(header, self._faults.access_token_max_uses)
        except TokenUsedUpError:
            with self._lock:
                self._count_fault("expired_token")
            raise

    def _list_lists(self, account: str, query: dict[str, list[str]]) -> Response:
        items = self._accounts.list_items(account)
        # Source for repeat_bookmark: Stoplight Prism serving Pinterest's spec answers every page
        # with the example bookmark "string" (seen, issue 13); not Pinterest's own behaviour.
        if self._faults.repeat_bookmark:
            with self._lock:
                self._count_fault("repeat_bookmark")
            page = paginate(items, {name: values for name, values in query.items() if name != "bookmark"})
            return Response(200, {**page, "bookmark": "string"}, {})
        return Response(200, paginate(items, query), {})

    def _list_audiences(self, account: str, query: dict[str, list[str]]) -> Response:
        ownership = one(query, "ownership_type") or "OWNED"
        if ownership not in {"OWNED", "RECEIVED"}:
            raise invalid("ownership_type must be OWNED or RECEIVED")
        items = self._accounts.audiences(account) if ownership == "OWNED" else []
        return Response(200, paginate(items, query), {})


def _the_one(found: list[_Item], name: str, what: str) -> _Item:
    """The one item of a name; KeyError if none, AssertionError if several."""
    if not found:
        raise KeyError(name)
    if len(found) > 1:
        msg = f"{len(found)} {what} are named {name!r}"
        raise AssertionError(msg)
    return found[0]
