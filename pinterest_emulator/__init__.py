r"""A local emulator of the part of Pinterest's REST API v5 that the target uses.

Why: the target must be testable (by us and in users' CI pipelines) without a Pinterest
account, without network and without mocking HTTP calls one by one. This package runs a
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

Matching (ASSUMPTION: Pinterest does not document how it matches; see ``population.py``):
with ``population=FILE`` (``--population FILE``: lines ``email,…``, ``idfa,…``, ``aaid,…`` of
raw ids of the people "on Pinterest") an audience's ``size`` is the number of its list's
entries equal to one of those people's hashes as Pinterest would compute them (email and AAID
lowercase, IDFA uppercase; MD5, SHA-1 and SHA-256 hex), its status ``TOO_SMALL`` below 100,
and a list's status ``TOO_SMALL`` below 100 matched. ``size_lag_seconds``
(``--size-lag-seconds``) keeps a new audience's size null and its status ``INITIALIZING``
for that long (Pinterest's sizes lag 24 to 48 h). Without a population every entry matches
and sizes are known at once, as before.

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
  user per app, and the emulator's tokens all belong to one user) in each rate-limit category
  (GETs count as ``ads_read``, every other request as ``ads_write``), in fixed windows: a
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
- ``repeat_bookmark`` [``--repeat-bookmark``]: every customer-list page answers with bookmark ``"string"`` whatever
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

from pinterest_emulator.cli import main
from pinterest_emulator.emulator import PinterestEmulator, RecordedRequest
from pinterest_emulator.errors import ApiError
from pinterest_emulator.faults import FAULT_KINDS, FaultDecision, Faults, decide_fault
from pinterest_emulator.records import parse_records
from pinterest_emulator.state import LIST_TYPES, MIN_READY_MEMBERS, EmulatedList

__all__ = [
    "FAULT_KINDS",
    "LIST_TYPES",
    "MIN_READY_MEMBERS",
    "ApiError",
    "EmulatedList",
    "FaultDecision",
    "Faults",
    "PinterestEmulator",
    "RecordedRequest",
    "decide_fault",
    "main",
    "parse_records",
]
