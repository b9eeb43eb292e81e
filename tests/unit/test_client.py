"""Unit tests of the Pinterest client's edge cases, against mocked HTTP (responses)."""

from __future__ import annotations

import base64
import email.utils
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
import requests
import responses
from requests.structures import CaseInsensitiveDict
from responses import matchers

from target_pinterest_audiences.pinterest import client as client_module
from target_pinterest_audiences.pinterest.client import (
    AuthenticationError,
    Credentials,
    Pacer,
    PinterestClient,
    PinterestError,
    UnreachableError,
    retry_after_seconds,
)

API = "https://api.example.test/v5"
ACCOUNT = "549755885175"
ACCESS = "access-token-OLD-abc"
NEW_ACCESS = "access-token-NEW-xyz"
REFRESH = "refresh-token-123"
ROTATED = "refresh-token-ROTATED-456"
CLIENT_ID = "1234567"
CLIENT_SECRET = "client-secret-789"
LISTS = f"{API}/ad_accounts/{ACCOUNT}/customer_lists"
TOKEN_URL = f"{API}/oauth/token"
NOW = 1_700_000_000.0


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(credentials: Credentials | None = None, **kwargs: object) -> tuple[PinterestClient, Sleeps]:
    sleeps = Sleeps()
    client = PinterestClient(
        API,
        credentials or Credentials(access_token=ACCESS),
        sleep=sleeps,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, sleeps


def refresh_credentials(**kwargs: object) -> Credentials:
    return Credentials(
        access_token=ACCESS,
        refresh_token=REFRESH,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_no_secret(text: str) -> None:
    for secret in (ACCESS, NEW_ACCESS, REFRESH, ROTATED, CLIENT_SECRET):
        assert secret not in text


# -- retry_after_seconds ------------------------------------------------------------------


def test_retry_after_seconds() -> None:
    assert retry_after_seconds({"Retry-After": "7"}, now=NOW) == 7.0
    assert retry_after_seconds({"Retry-After": " 0 "}, now=NOW) == 0.0


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    assert retry_after_seconds({"Retry-After": when}, now=NOW) == 30.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    when = email.utils.formatdate(NOW - 300, usegmt=True)
    assert retry_after_seconds({"Retry-After": when}, now=NOW) == 0.0


def test_rate_limit_reset_as_delta() -> None:
    assert retry_after_seconds({"X-RateLimit-Reset": "12"}, now=NOW) == 12.0
    assert retry_after_seconds({"X-RateLimit-Reset": "2.5"}, now=NOW) == 2.5
    assert retry_after_seconds({"X-RateLimit-Reset": "86400"}, now=NOW) == 86400.0


def test_rate_limit_reset_as_epoch() -> None:
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(NOW + 45))}, now=NOW) == 45.0
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(NOW - 45))}, now=NOW) == 0.0


def test_retry_after_wins_over_rate_limit_reset() -> None:
    assert retry_after_seconds({"Retry-After": "3", "X-RateLimit-Reset": "50"}, now=NOW) == 3.0


def test_garbage_retry_after_falls_back_to_rate_limit_reset() -> None:
    assert retry_after_seconds({"Retry-After": "soon", "X-RateLimit-Reset": "5"}, now=NOW) == 5.0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": "soon"},
        {"Retry-After": ""},
        {"Retry-After": "-5"},
        {"X-RateLimit-Reset": "later"},
        {"Retry-After": "garbage", "X-RateLimit-Reset": "garbage"},
    ],
)
def test_garbage_gives_none(headers: dict[str, str]) -> None:
    assert retry_after_seconds(headers, now=NOW) is None


def test_retry_after_header_names_are_case_insensitive_in_responses() -> None:
    assert retry_after_seconds(CaseInsensitiveDict({"retry-after": "4"}), now=NOW) == 4.0
    assert retry_after_seconds(CaseInsensitiveDict({"x-ratelimit-reset": "6"}), now=NOW) == 6.0


# -- retries ------------------------------------------------------------------------------


def test_429_then_200_is_retried(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/ad_accounts/1", status=429, json={"code": 8, "message": "Too many requests"})
    mocked.get(f"{API}/ad_accounts/1", status=200, json={"id": "1"})
    client, sleeps = make_client()
    assert client.request("GET", "/ad_accounts/1", "reading") == {"id": "1"}
    assert len(mocked.calls) == 2
    assert len(sleeps) == 1
    assert 0.0 <= sleeps[0] <= 1.0
    assert (client.stats.requests, client.stats.retries) == (2, 1)


def test_retry_after_is_honoured(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=429, headers={"Retry-After": "30"}, json={"code": 8, "message": "slow down"})
    mocked.get(f"{API}/x", status=200, json={})
    client, sleeps = make_client()
    assert client.request("GET", "/x", "reading") == {}
    assert sleeps == [30.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(mocked: responses.RequestsMock, status: int) -> None:
    mocked.get(f"{API}/x", status=status, body="<html>down</html>", content_type="text/html")
    mocked.get(f"{API}/x", status=status, json={"code": 1, "message": "busy"})
    mocked.get(f"{API}/x", status=200, json={"ok": True})
    client, sleeps = make_client()
    assert client.request("GET", "/x", "reading") == {"ok": True}
    assert len(mocked.calls) == 3
    assert len(sleeps) == 2
    assert 0.0 <= sleeps[1] <= 2.0
    assert client.stats.retries == 2


@pytest.mark.parametrize("exc", [requests.ConnectionError("reset by peer"), requests.ReadTimeout("slow")])
def test_connection_errors_are_retried(mocked: responses.RequestsMock, exc: Exception) -> None:
    mocked.get(f"{API}/x", body=exc)
    mocked.get(f"{API}/x", status=200, json={"ok": 1})
    client, sleeps = make_client()
    assert client.request("GET", "/x", "reading") == {"ok": 1}
    assert len(mocked.calls) == 2
    assert len(sleeps) == 1


def test_400_is_not_retried_and_says_everything_in_one_line(mocked: responses.RequestsMock) -> None:
    mocked.patch(
        f"{LISTS}/42",
        status=400,
        json={"code": 2, "message": "Invalid request:\n  records is malformed"},
        headers={"x-pinterest-rid": "rid-0987"},
    )
    client, sleeps = make_client()
    with pytest.raises(PinterestError) as caught:
        client.update_customer_list(ACCOUNT, "42", "ADD", ["a" * 64, "b" * 64], "vip (EMAIL)")
    error = caught.value
    assert not isinstance(error, AuthenticationError)
    assert str(error) == (
        "Pinterest refused adding to customer list 'vip (EMAIL)' (2 records), HTTP 400, code 2:"
        " Invalid request: records is malformed [x-pinterest-rid rid-0987]"
    )
    assert (error.status, error.code, error.request_id) == (400, 2, "rid-0987")
    assert len(mocked.calls) == 1
    assert sleeps == []
    assert_no_secret(str(error))


@pytest.mark.parametrize("status", [403, 404, 409, 422])
def test_other_4xx_are_not_retried(mocked: responses.RequestsMock, status: int) -> None:
    mocked.patch(f"{LISTS}/42", status=status, json={"code": 2790, "message": "Nope"})
    client, sleeps = make_client()
    with pytest.raises(
        PinterestError, match=rf"removing from customer list 'vip \(EMAIL\)' \(1 records\), HTTP {status}"
    ):
        client.update_customer_list(ACCOUNT, "42", "REMOVE", ["a" * 64], "vip (EMAIL)")
    assert len(mocked.calls) == 1
    assert sleeps == []


def test_non_json_error_body(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=400, body="<html>\n<b>Bad</b>\n</html>", content_type="text/html; charset=utf-8")
    client, _ = make_client()
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading things")
    text = str(caught.value)
    assert text == "Pinterest refused reading things, HTTP 400: unexpected reply (text/html, 25 bytes)"
    assert "\n" not in text
    assert "<b>" not in text


def test_json_error_without_message(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=400, json=["weird"])
    client, _ = make_client()
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    assert str(caught.value) == "Pinterest refused reading, HTTP 400: unexpected JSON reply without code and message"


def test_long_error_message_is_cut(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=400, json={"code": 1, "message": "x" * 1000})
    client, _ = make_client()
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    assert caught.value.message == "x" * 299 + "…"


def test_success_that_is_not_json(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=200, body="OK", headers={"x-pinterest-rid": "r1"})
    client, _ = make_client()
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    assert str(caught.value) == "Pinterest refused reading, HTTP 200: reply is not JSON [x-pinterest-rid r1]"


def test_retries_stop_at_max_retry_seconds(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=503, json={"code": 1, "message": "Service unavailable"})
    client, sleeps = make_client(max_retry_seconds=0)
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    assert str(caught.value) == "Pinterest refused reading, HTTP 503, code 1: Service unavailable"
    assert caught.value.status == 503
    assert len(mocked.calls) == 1
    assert sleeps == []


def test_retries_stop_when_retry_after_exceeds_budget(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=429, headers={"Retry-After": "3600"}, json={"code": 8, "message": "Later"})
    client, sleeps = make_client(max_retry_seconds=60)
    with pytest.raises(PinterestError, match=r"^Pinterest refused reading, HTTP 429, code 8: Later$"):
        client.request("GET", "/x", "reading")
    assert sleeps == []


def test_retry_count_is_in_the_message(mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    mocked.get(f"{API}/x", status=500, json={"code": 1, "message": "Boom"})
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(client_module.time, "monotonic", lambda: clock.now)
    monkeypatch.setattr(client_module, "random", SimpleNamespace(uniform=lambda _lo, hi: hi))

    def sleep(seconds: float) -> None:
        clock.now += 4.0 + seconds

    client = PinterestClient(API, Credentials(access_token=ACCESS), sleep=sleep, max_retry_seconds=10)
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    # Backoffs 1, 2, 4 s: retries at t=0 (to t=5) and t=5 (to t=11); the third would pass t=10.
    assert str(caught.value) == "Pinterest refused reading, HTTP 500, code 1: Boom (after 2 retries)"
    assert len(mocked.calls) == 3


def test_backoff_doubles_up_to_the_cap(mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(8):
        mocked.get(f"{API}/x", status=503, json={"code": 1, "message": "busy"})
    mocked.get(f"{API}/x", json={})
    monkeypatch.setattr(client_module, "random", SimpleNamespace(uniform=lambda _lo, hi: hi))
    client, sleeps = make_client()
    assert client.request("GET", "/x", "reading") == {}
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_connection_errors_stop_at_max_retry_seconds(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", body=requests.ConnectionError("refused"))
    client, sleeps = make_client(max_retry_seconds=0)
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    assert str(caught.value) == "Pinterest refused reading: no answer (ConnectionError)"
    assert sleeps == []


# -- authentication -----------------------------------------------------------------------


def test_bearer_and_user_agent(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", json={})
    client, _ = make_client()
    client.request("GET", "/x", "reading")
    headers = mocked.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {ACCESS}"
    assert headers["User-Agent"] == "target-pinterest-audiences"


def test_401_refreshes_and_retries_with_new_token(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS, "token_type": "bearer", "expires_in": 2592000})
    mocked.get(f"{API}/x", status=200, json={"ok": True})
    client, sleeps = make_client(refresh_credentials())
    assert client.request("GET", "/x", "reading") == {"ok": True}
    assert [call.request.method for call in mocked.calls] == ["GET", "POST", "GET"]
    token_request = mocked.calls[1].request
    expected_basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected_basic}"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.body) == {"grant_type": ["refresh_token"], "refresh_token": [REFRESH]}
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert mocked.calls[2].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"
    assert sleeps == []


def test_new_token_is_kept_for_later_calls(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS})
    mocked.get(f"{API}/x", status=200, json={})
    client, _ = make_client(refresh_credentials())
    client.request("GET", "/x", "reading")
    client.request("GET", "/x", "reading")
    assert [call.request.method for call in mocked.calls] == ["GET", "POST", "GET", "GET"]
    assert mocked.calls[3].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"


def test_no_access_token_gets_one_first(mocked: responses.RequestsMock) -> None:
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS})
    mocked.get(f"{API}/x", json={})
    creds = refresh_credentials()
    creds.access_token = None
    client, _ = make_client(creds)
    client.request("GET", "/x", "reading")
    assert [call.request.method for call in mocked.calls] == ["POST", "GET"]
    assert mocked.calls[1].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"


def test_rotated_refresh_token_calls_on_rotate(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS, "refresh_token": ROTATED})
    mocked.get(f"{API}/x", status=200, json={})
    rotated: list[str] = []
    creds = refresh_credentials(on_rotate=rotated.append)
    client, _ = make_client(creds)
    client.request("GET", "/x", "reading")
    assert rotated == [ROTATED]
    assert creds.refresh_token == ROTATED


def test_rotated_token_is_used_for_next_refresh(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS, "refresh_token": ROTATED})
    mocked.get(f"{API}/x", status=200, json={})
    mocked.get(f"{API}/y", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"access_token": "third-token"})
    mocked.get(f"{API}/y", status=200, json={})
    client, _ = make_client(refresh_credentials())
    client.request("GET", "/x", "reading")
    client.request("GET", "/y", "reading")
    posts = [call.request for call in mocked.calls if call.request.method == "POST"]
    assert [parse_qs(p.body)["refresh_token"] for p in posts] == [[REFRESH], [ROTATED]]


def test_same_refresh_token_does_not_call_on_rotate(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS, "refresh_token": REFRESH})
    mocked.get(f"{API}/x", status=200, json={})
    rotated: list[str] = []
    client, _ = make_client(refresh_credentials(on_rotate=rotated.append))
    client.request("GET", "/x", "reading")
    assert rotated == []


def test_second_401_is_authentication_error(mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{API}/x",
        status=401,
        json={"code": 2, "message": "Authentication failed."},
        headers={"x-pinterest-rid": "rid-1"},
    )
    mocked.post(TOKEN_URL, json={"access_token": NEW_ACCESS})
    client, sleeps = make_client(refresh_credentials())
    with pytest.raises(AuthenticationError) as caught:
        client.request("GET", "/x", "reading things")
    text = str(caught.value)
    assert text == (
        "Pinterest refused reading things, HTTP 401, code 2: Authentication failed. [x-pinterest-rid rid-1]."
        " Re-authorise the Pinterest app and update access_token or refresh_token."
    )
    assert "Re-authorise" in text
    assert_no_secret(text)
    assert_no_secret(repr(caught.value))
    # Each refused token is renewed once: the old one, then the new one (a short-lived token can
    # expire again before a busy client retries); refused twice, the token counts as revoked.
    assert [call.request.method for call in mocked.calls] == ["GET", "POST", "GET", "POST", "GET"]
    assert sleeps == []


def test_static_token_401_is_authentication_error(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    client, _ = make_client(Credentials(access_token=ACCESS))
    with pytest.raises(AuthenticationError) as caught:
        client.request("GET", "/x", "reading")
    text = str(caught.value)
    assert "Re-authorise" in text
    assert_no_secret(text)
    assert len(mocked.calls) == 1


def test_refresh_refused_is_an_error_without_secrets(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, status=401, json={"code": 2, "message": "Invalid client credentials"})
    client, _ = make_client(refresh_credentials())
    with pytest.raises(AuthenticationError) as caught:
        client.request("GET", "/x", "reading")
    assert str(caught.value).startswith("Pinterest refused refreshing the access token, HTTP 401")
    assert_no_secret(str(caught.value))


def test_token_reply_without_access_token(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", status=401, json={"code": 2, "message": "Authentication failed."})
    mocked.post(TOKEN_URL, json={"token_type": "bearer"})
    client, _ = make_client(refresh_credentials())
    with pytest.raises(PinterestError) as caught:
        client.request("GET", "/x", "reading")
    assert str(caught.value) == (
        "Pinterest refused refreshing the access token, HTTP 200: no access_token in the reply"
        " (does api_url end in /v5?)"
    )


def test_credentials_repr_hides_tokens() -> None:
    assert repr(refresh_credentials()) == "Credentials(***)"
    assert refresh_credentials().can_refresh is True
    assert Credentials(access_token=ACCESS, refresh_token=REFRESH, client_id=CLIENT_ID).can_refresh is False


# -- pagination ---------------------------------------------------------------------------


def test_pagination_follows_bookmarks(mocked: responses.RequestsMock) -> None:
    mocked.get(
        LISTS,
        match=[matchers.query_param_matcher({"page_size": "250"})],
        json={"items": [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}], "bookmark": "bm-1"},
    )
    mocked.get(
        LISTS,
        match=[matchers.query_param_matcher({"page_size": "250", "bookmark": "bm-1"})],
        json={"items": [{"id": "3", "name": "c"}], "bookmark": "bm-2"},
    )
    mocked.get(
        LISTS,
        match=[matchers.query_param_matcher({"page_size": "250", "bookmark": "bm-2"})],
        json={"items": [], "bookmark": None},
    )
    client, _ = make_client()
    assert [item["id"] for item in client.customer_lists(ACCOUNT)] == ["1", "2", "3"]
    assert len(mocked.calls) == 3


def test_find_customer_list_by_exact_name_across_pages(mocked: responses.RequestsMock) -> None:
    mocked.get(
        LISTS,
        match=[matchers.query_param_matcher({"page_size": "250"})],
        json={"items": [{"id": "1", "name": "vip (email)"}], "bookmark": "bm-1"},
    )
    mocked.get(
        LISTS,
        match=[matchers.query_param_matcher({"page_size": "250", "bookmark": "bm-1"})],
        json={"items": [{"id": "2", "name": "vip (EMAIL)"}]},
    )
    client, _ = make_client()
    assert client.find_customer_list(ACCOUNT, "vip (EMAIL)") == {"id": "2", "name": "vip (EMAIL)"}


def test_pagination_without_items_is_an_error(mocked: responses.RequestsMock) -> None:
    mocked.get(LISTS, json={"data": []})
    client, _ = make_client()
    with pytest.raises(PinterestError) as caught:
        list(client.customer_lists(ACCOUNT))
    assert str(caught.value) == "Pinterest refused listing customer lists: reply has no items list"


# -- create with recovery -----------------------------------------------------------------


def test_create_customer_list_body(mocked: responses.RequestsMock) -> None:
    mocked.post(
        LISTS,
        match=[
            matchers.json_params_matcher({"name": "vip (EMAIL)", "records": "aa,bb", "list_type": "EMAIL"}),
        ],
        json={"id": "77", "name": "vip (EMAIL)"},
    )
    client, _ = make_client()
    assert client.create_customer_list(ACCOUNT, "vip (EMAIL)", "EMAIL", ["aa", "bb"]) == {
        "id": "77",
        "name": "vip (EMAIL)",
    }


def test_create_customer_list_recovers_the_created_list(mocked: responses.RequestsMock) -> None:
    mocked.post(LISTS, status=503, json={"code": 1, "message": "Service unavailable"})
    mocked.get(LISTS, json={"items": [{"id": "5", "name": "other"}, {"id": "77", "name": "vip (EMAIL)"}]})
    client, sleeps = make_client()
    result = client.create_customer_list(ACCOUNT, "vip (EMAIL)", "EMAIL", ["aa"])
    assert result == {"id": "77", "name": "vip (EMAIL)"}
    assert [call.request.method for call in mocked.calls] == ["POST", "GET"]
    assert len(sleeps) == 1


def test_create_customer_list_posts_again_when_not_created(mocked: responses.RequestsMock) -> None:
    mocked.post(LISTS, body=requests.ConnectionError("dropped"))
    mocked.get(LISTS, json={"items": [{"id": "5", "name": "other"}]})
    mocked.post(LISTS, json={"id": "78", "name": "vip (EMAIL)"})
    client, _ = make_client()
    assert client.create_customer_list(ACCOUNT, "vip (EMAIL)", "EMAIL", ["aa"])["id"] == "78"
    assert [call.request.method for call in mocked.calls] == ["POST", "GET", "POST"]


def test_create_customer_list_without_id_is_an_error(mocked: responses.RequestsMock) -> None:
    mocked.post(LISTS, json={"name": "vip (EMAIL)"})
    client, _ = make_client()
    with pytest.raises(PinterestError) as caught:
        client.create_customer_list(ACCOUNT, "vip (EMAIL)", "EMAIL", ["aa"])
    assert str(caught.value) == "Pinterest refused creating customer list 'vip (EMAIL)': reply carries no list id"


def test_create_audience_recovers(mocked: responses.RequestsMock) -> None:
    audiences = f"{API}/ad_accounts/{ACCOUNT}/audiences"
    mocked.post(audiences, status=500, json={"code": 1, "message": "Boom"})
    mocked.get(audiences, json={"items": [{"id": "a9", "rule": {"customer_list_id": "77"}}]})
    client, _ = make_client()
    assert client.create_audience(ACCOUNT, "vip (EMAIL)", "77") == {"id": "a9", "rule": {"customer_list_id": "77"}}
    assert [call.request.method for call in mocked.calls] == ["POST", "GET"]


def test_api_url_trailing_slash(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/x", json={})
    client = PinterestClient(API + "/", Credentials(access_token=ACCESS), sleep=lambda _: None)
    assert client.request("GET", "/x", "reading") == {}


# -- pacing -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_request_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(client_module, "time", clock)
    pacer = Pacer(4)
    for _ in range(4):
        pacer.wait()
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25])
    clock.now += 10
    pacer.wait()
    assert len(clock.sleeps) == 3


@pytest.mark.parametrize("rate", [None, 0])
def test_pacer_off(monkeypatch: pytest.MonkeyPatch, rate: float | None) -> None:
    clock = FakeClock()
    monkeypatch.setattr(client_module, "time", clock)
    pacer = Pacer(rate)
    for _ in range(5):
        pacer.wait()
    assert clock.sleeps == []


def test_pacer_real_time() -> None:
    import time  # noqa: PLC0415

    pacer = Pacer(50)
    start = time.monotonic()
    for _ in range(4):
        pacer.wait()
    assert 0.055 <= time.monotonic() - start < 1.0


def test_pacer_hold_pauses_every_thread() -> None:
    pacer = Pacer(100.0)
    pacer.wait()
    pacer.hold(0.3)
    started = time.monotonic()
    pacer.wait()
    assert time.monotonic() - started >= 0.25


def test_a_repeated_page_bookmark_stops_the_listing_with_one_line(mocked: responses.RequestsMock) -> None:
    """What Stoplight Prism serving the spec does: every page says bookmark "string"."""
    for _ in range(2):
        mocked.get(LISTS, json={"items": [{"id": "1", "name": "x"}], "bookmark": "string"})
    client, _ = make_client()
    with pytest.raises(PinterestError, match="repeats the bookmark of an earlier page") as caught:
        list(client.customer_lists(ACCOUNT))
    assert "\n" not in str(caught.value)
    assert len(mocked.calls) == 2


def test_nothing_listening_fails_within_the_budget_naming_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "CONNECT_BUDGET_SECONDS", 0.5)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PinterestClient(f"http://127.0.0.1:{port}/v5", Credentials(access_token=ACCESS), sleep=time.sleep)
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        client.request("GET", f"/ad_accounts/{ACCOUNT}", "reading the ad account")
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "connection refused" in str(caught.value)


def test_a_host_that_does_not_resolve_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "CONNECT_BUDGET_SECONDS", 0.5)
    client = PinterestClient("https://nonexistent.invalid/v5", Credentials(access_token=ACCESS), sleep=time.sleep)
    with pytest.raises(UnreachableError, match=r"nonexistent\.invalid:443 \(the host name does not resolve\)"):
        client.request("GET", f"/ad_accounts/{ACCOUNT}", "reading the ad account")


def test_a_cancelled_client_retries_no_more(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/ad_accounts/1", status=503, json={"code": 4197, "message": "ramped down"})
    client = PinterestClient(API, Credentials(access_token=ACCESS))
    client.cancel()
    started = time.monotonic()
    with pytest.raises(PinterestError, match="HTTP 503"):
        client.request("GET", "/ad_accounts/1", "reading")
    assert time.monotonic() - started < 1


def test_a_404_from_an_api_url_without_v5_says_so(mocked: responses.RequestsMock) -> None:
    mocked.get("https://api.example.test/ad_accounts/1", status=404, json={"code": 404, "message": "Not found"})
    client = PinterestClient("https://api.example.test", Credentials(access_token=ACCESS))
    with pytest.raises(PinterestError, match=r"api_url does not end in /v5, as https://api\.pinterest\.com/v5 does"):
        client.request("GET", "/ad_accounts/1", "reading the ad account")


def test_reads_are_paced_apart_from_writes(mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    """GETs wait only for other GETs (ads_read), writes only for writes (ads_write): a read never
    spends a write's turn, and a burst of writes does not hold the end-of-run reads back."""
    clock = FakeClock()
    monkeypatch.setattr(client_module, "time", clock)
    list_url = f"{LISTS}/1"
    for _ in range(3):
        mocked.patch(list_url, json={"id": "1"})
    for _ in range(2):
        mocked.get(LISTS, json={"items": [], "bookmark": None})
    client, _ = make_client(requests_per_second=1, reads_per_second=10)
    for _ in range(3):
        client.update_customer_list(ACCOUNT, "1", "ADD", ["a" * 64], "vip (EMAIL)")
    assert clock.sleeps == pytest.approx([1.0, 1.0])  # writes: one a second
    list(client.customer_lists(ACCOUNT))
    list(client.customer_lists(ACCOUNT))
    # The first read starts at once (the writes' pacing is not its own), the second 0.1 s later.
    assert clock.sleeps == pytest.approx([1.0, 1.0, 0.1])
