"""The outcome of a failed call, accumulated over all its attempts (CONTRACT.md: the three outcomes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from target_pinterest_audiences.pinterest.client import Credentials, Outcome, PinterestClient, PinterestError
from target_pinterest_audiences.write.journal import not_applied

API = "https://api.example.test/v5"
TOKEN_URL = f"{API}/oauth/token"
REFUSED = {"status": 400, "json": {"code": 1, "message": "Invalid parameters."}}
RATE_LIMITED = {"status": 429, "json": {"code": 8, "message": "slow down"}, "headers": {"Retry-After": "1"}}
EXPIRED = {"status": 401, "json": {"code": 2, "message": "Authentication failed."}}
SERVER_ERROR = {"status": 503, "json": {"code": 4197, "message": "ramped down"}}
LOST = {"body": requests.ConnectionError("Connection aborted: remote end closed without response")}
TIMED_OUT = {"body": requests.ReadTimeout("read timed out")}
NOT_CONNECTED = {"body": requests.ConnectTimeout("connect timed out")}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def failed_call(mocked: responses.RequestsMock, *answers: dict[str, Any], refresh: bool = False) -> PinterestError:
    """PATCH a list once; the answers come in order, the last one again (a 401 with ``refresh`` meets a
    refused renewal). The random backoff may spend the budget before every answer is used."""
    for answer in answers:
        mocked.patch(f"{API}/x", **answer)
    if refresh:
        mocked.post(TOKEN_URL, status=400, json={"code": 1, "message": "invalid refresh token"})
    credentials = (
        Credentials(access_token="a", refresh_token="r", client_id="1", client_secret="s") if refresh else None
    )
    client = PinterestClient(
        API, credentials or Credentials(access_token="a"), sleep=lambda _: None, max_retry_seconds=2.5
    )
    with pytest.raises(PinterestError) as caught:
        client.request("PATCH", "/x", "adding", json={})
    return caught.value


@pytest.mark.parametrize(
    ("answers", "refresh"),
    [
        ((REFUSED,), False),
        ((RATE_LIMITED, RATE_LIMITED, RATE_LIMITED), False),
        ((EXPIRED,), False),
        ((EXPIRED,), True),
        ((NOT_CONNECTED, REFUSED), False),
        ((RATE_LIMITED, REFUSED), False),
    ],
    ids=["400", "429-until-budget", "401-no-refresh", "401-renewal-refused", "not-connected-then-400", "429-then-400"],
)
def test_refused_without_an_unanswered_attempt_is_certainly_not_applied(
    mocked: responses.RequestsMock, answers: tuple[dict[str, Any], ...], *, refresh: bool
) -> None:
    error = failed_call(mocked, *answers, refresh=refresh)
    assert error.outcome is Outcome.NOT_APPLIED
    assert not error.maybe_applied
    assert not_applied(error)


@pytest.mark.parametrize(
    ("answers", "refresh"),
    [
        ((LOST, RATE_LIMITED, RATE_LIMITED), False),
        ((TIMED_OUT, REFUSED), False),
        ((SERVER_ERROR, EXPIRED), False),
        ((LOST, EXPIRED), True),
        ((SERVER_ERROR, SERVER_ERROR, SERVER_ERROR), False),
        ((TIMED_OUT, NOT_CONNECTED, NOT_CONNECTED, NOT_CONNECTED), False),
    ],
    ids=[
        "lost-then-429s",
        "timeout-then-400",
        "503-then-401",
        "lost-then-renewal-refused",
        "5xx-until-budget",
        "timeout-then-unreachable",
    ],
)
def test_once_an_attempt_went_unanswered_the_outcome_is_unknown(
    mocked: responses.RequestsMock, answers: tuple[dict[str, Any], ...], *, refresh: bool
) -> None:
    error = failed_call(mocked, *answers, refresh=refresh)
    assert error.outcome is Outcome.UNKNOWN
    assert error.maybe_applied
    assert not not_applied(error)


def test_a_failure_that_is_not_pinterests_answer_is_unknown() -> None:
    assert PinterestError("x").outcome is Outcome.UNKNOWN
    assert not not_applied(RuntimeError("store down"))


def test_a_cancelled_call_keeps_its_outcome(mocked: responses.RequestsMock) -> None:
    mocked.patch(f"{API}/x", **LOST)
    client = PinterestClient(API, Credentials(access_token="a"), sleep=lambda _: None)
    client.cancel()
    with pytest.raises(PinterestError, match="the run is stopping") as caught:
        client.request("PATCH", "/x", "adding", json={})
    assert caught.value.outcome is Outcome.UNKNOWN


def test_a_look_for_the_effect_that_is_refused_leaves_the_call_unknown(mocked: responses.RequestsMock) -> None:
    """A create that timed out looks for its list before the retry; a refused look says nothing of the create."""
    mocked.post(f"{API}/x", **TIMED_OUT)
    client = PinterestClient(API, Credentials(access_token="a"), sleep=lambda _: None)

    def look() -> None:
        raise PinterestError("listing customer lists", status=400, outcome=Outcome.NOT_APPLIED)

    with pytest.raises(PinterestError) as caught:
        client.request("POST", "/x", "creating", json={}, recover=look)
    assert caught.value.outcome is Outcome.UNKNOWN
