"""Misbehaviour on demand: what to inject into a request, and the per-second quota.

Why: the target's retries, backoff, pacing, token renewal and exactness after a lost
answer can only be tested against a Pinterest that fails, and reproducibly: seeded shares
and faults aimed at a request number give the same faults for the same request order.
The package docstring, section "Faults", says what each fault does on the wire.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

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
    See the package docstring (``pinterest_emulator``), section "Faults", for what each one does.
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


NO_FAULT = FaultDecision()


class Quota:
    """One rate-limit category's quota for all tokens, in fixed windows.

    Pinterest counts per user per app and category: the emulator keeps one for reads
    (``ads_read``) and one for the rest (``ads_write``).
    Assumption: fixed one-second windows, one quota per category (GETs, and every other request), and
    ``Retry-After`` / ``X-RateLimit-Reset`` on the 429 (undocumented: Pinterest's rate-limit
    page, developers.pinterest.com /docs/reference/rate-limits/, gives the limits per second
    and per category per minute, not how it counts them nor these headers; the 429 body,
    code 8, is the spec's).
    Not thread-safe: the emulator calls it under its lock.
    """

    def __init__(self) -> None:
        """No window is open until the first request."""
        self._window_end = -math.inf
        self._used = 0

    def take(self, requests_per_second: float) -> float | None:
        """Take a slot of the current window; else the seconds until it ends.

        A window opens with the first request that finds none open and lasts one second
        (``1 / requests_per_second`` when that is longer); it admits
        ``floor(requests_per_second * window)`` requests (at least one).
        """
        now = time.monotonic()
        window = max(1.0, 1.0 / requests_per_second)
        if now >= self._window_end:
            self._window_end = now + window
            self._used = 0
        if self._used < max(1, math.floor(requests_per_second * window + 1e-9)):
            self._used += 1
            return None
        return self._window_end - now
