"""Pinterest's error answers: an HTTP status with its ``{"code", "message"}`` body.

Why a room of its own: every other room (paging, records, OAuth, faults, routing) refuses
requests, and all must refuse them in the one shape Pinterest's ``Error`` schema gives.
"""

from __future__ import annotations

import math
import time
from email.utils import formatdate
from http import HTTPStatus

RATE_LIMIT_MESSAGE = (
    "This request exceeded a rate limit. This can happen if the client exceeds one of the "
    "published rate limits within a short time window."
)
# Pinterest's own error code and message for each HTTP status the emulator may answer: the
# messages are the spec's examples (400, 401, 403, 503 code 4197; Pinterest.Lib.Error's example
# is 2 "AdAccount not found.", so 404 gets it). Assumption: an injected status without an
# example (500, for one) carries its HTTP status as ``code`` (undocumented).
ERROR_BODIES = {
    400: (1, "Invalid parameters."),
    401: (2, "Authentication failed."),
    403: (29, "You are not permitted to access that resource."),
    404: (2, "AdAccount not found."),
    429: (8, RATE_LIMIT_MESSAGE),
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


def invalid(message: str) -> ApiError:
    """A 400 code 1, Pinterest's answer to a request it cannot use."""
    return ApiError(400, 1, message)


def list_not_found() -> ApiError:
    """The 404 for a customer list the account does not hold (or no longer holds)."""
    # Assumption: an unknown or deleted customer list answers 404 with code 1 "Customer list
    # not found." (undocumented: customer_lists/get and /update list only 200 and a default
    # Error; the contract asks the target to confirm such a 404 before it remakes a list).
    return ApiError(404, 1, "Customer list not found.")


def rate_limit_headers(retry_after: float, *, http_date: bool = False) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up, or an HTTP date) and ``X-RateLimit-Reset``."""
    reset = math.ceil(time.time() + retry_after)
    value = formatdate(reset, usegmt=True) if http_date else str(math.ceil(retry_after))
    return {"Retry-After": value, "X-RateLimit-Reset": str(reset)}


def error_for_status(status: int, retry_after: float = 0.0, *, http_date: bool = False) -> ApiError:
    """Build the Pinterest-style error for a status, e.g. for an injected fault."""
    code, message = ERROR_BODIES.get(status, (status, HTTPStatus(status).phrase))
    headers = rate_limit_headers(retry_after, http_date=http_date) if status == HTTPStatus.TOO_MANY_REQUESTS else {}
    return ApiError(status, code, message, headers)
