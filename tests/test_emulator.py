"""Tests of the Pinterest v5 emulator, over real HTTP on loopback.

A test marked ``assumption`` checks behaviour Pinterest does not document (the README's
"What the emulator assumes" lists it; the code says "Assumption:" where it lives): if
Pinterest turns out to differ, change the emulator, that test, and the target together.
Unmarked tests check documented behaviour (the spec, Pinterest's docs) or the emulator's
own machinery (faults, inspection, the command line).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pinterest_emulator import (
    EmulatedList,
    Faults,
    PinterestEmulator,
    decide_fault,
    main,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

ACCOUNT = "549755885175"
TOKEN = "emulator-access-token"
OPENAPI = Path(__file__).parents[2] / "shared/pinterest-openapi/openapi.yaml"
CLIENT = ("emulator-client-id", "emulator-client-secret")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def emulator() -> Iterator[PinterestEmulator]:
    with PinterestEmulator() as api:
        yield api


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


def lists_url(api: PinterestEmulator, account: str = ACCOUNT) -> str:
    return f"{api.url}/ad_accounts/{account}/customer_lists"


def create(http: requests.Session, api: PinterestEmulator, name: str, records: str, **extra: str) -> dict[str, Any]:
    response = http.post(lists_url(api), json={"name": name, "records": records, **extra})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_auth_required(emulator: PinterestEmulator, http: requests.Session) -> None:
    with requests.Session() as anonymous:
        response = anonymous.get(lists_url(emulator))
        assert response.status_code == 401
        assert response.json() == {"code": 2, "message": "Authentication failed."}
        wrong = anonymous.get(lists_url(emulator), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    assert http.get(lists_url(emulator)).json() == {"items": [], "bookmark": None}
    emulator.revoke_access_token(TOKEN)
    assert http.get(lists_url(emulator)).status_code == 401


def test_ad_accounts(http: requests.Session) -> None:
    with PinterestEmulator(ad_account_ids=["1", "2", "3"]) as api:
        first = http.get(f"{api.url}/ad_accounts", params={"page_size": 2}).json()
        second = http.get(f"{api.url}/ad_accounts", params={"page_size": 2, "bookmark": first["bookmark"]}).json()
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert ids == ["1", "2", "3"]
    assert second["bookmark"] is None
    assert first["items"][0]["currency"] == "USD"


@pytest.mark.assumption  # a list's status is known at once, every identifier a matched user
def test_create_and_paginate(emulator: PinterestEmulator, http: requests.Session) -> None:
    created = [create(http, emulator, f"list {n}", f"user{n}@example.com") for n in range(260)]
    assert created[0]["num_batches"] == 1
    assert created[0]["status"] == "TOO_SMALL"
    assert created[0]["type"] == "customerlist"
    assert "list_type" not in created[0]
    seen: list[str] = []
    bookmark = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"page_size": 250}
        if bookmark:
            params["bookmark"] = bookmark
        page = http.get(lists_url(emulator), params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        bookmark = page["bookmark"]
        if bookmark is None:
            break
    assert pages == 2
    assert seen == [item["id"] for item in created]
    assert len(http.get(lists_url(emulator)).json()["items"]) == 25
    descending = http.get(lists_url(emulator), params={"order": "DESCENDING", "page_size": "3"})
    assert [i["name"] for i in descending.json()["items"]] == ["list 259", "list 258", "list 257"]


@pytest.mark.assumption  # READY from 100 members at once
def test_patch_add_remove(emulator: PinterestEmulator, http: requests.Session) -> None:
    first = create(http, emulator, "vip", "a@example.com,b@example.com")
    url = f"{lists_url(emulator)}/{first['id']}"
    batch = ",".join(f"u{n}@example.com" for n in range(120))
    added = http.patch(url, json={"operation_type": "ADD", "records": batch + ",a@example.com"})
    assert added.status_code == 200, added.text
    assert added.json()["num_batches"] == 2
    assert added.json()["num_uploaded_user_records"] == 123
    assert added.json()["status"] == "READY"
    removed = http.patch(url, json={"operation_type": "REMOVE", "records": "a@example.com,never@example.com"})
    assert removed.json()["num_removed_user_records"] == 2
    assert removed.json()["num_batches"] == 3
    snapshot = emulator.list_by_name("vip")
    assert isinstance(snapshot, EmulatedList)
    assert snapshot.list_type == "EMAIL"
    assert "a@example.com" not in snapshot.members
    assert "b@example.com" in snapshot.members
    assert len(snapshot.members) == 121
    assert http.get(url).json()["num_batches"] == 3
    bad_op = http.patch(url, json={"operation_type": "add", "records": "c@example.com"})
    assert bad_op.status_code == 400
    assert bad_op.json()["code"] == 1
    missing = http.patch(url, json={"records": "c@example.com"})
    assert missing.status_code == 400


@pytest.mark.parametrize(
    ("list_type", "record", "reason"),
    [
        ("EMAIL", "Secret.Person@example.com", "uppercase"),
        ("EMAIL", "not-an-email", "neither"),
        ("EMAIL", "a b@example.com", "whitespace"),
        ("IDFA", "6d92078a-8246-4ba4-ae5b-76104861e7dc", "not a hashed IDFA"),
        ("MAID", "38400000-8cf0-11bd-b23e-10b96e40000d", "not a hashed MAID"),
    ],
)
@pytest.mark.assumption  # a bad record refuses the whole request with 400
def test_records_rejected_without_echo(
    emulator: PinterestEmulator, http: requests.Session, list_type: str, record: str, reason: str
) -> None:
    records = f"{sha256('x')},{record}"
    body = {"name": "n", "records": records, "list_type": list_type}
    response = http.post(lists_url(emulator), json=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == 1
    assert "record 2 of 2" in payload["message"]
    assert reason in payload["message"]
    assert record not in response.text
    assert record.lower() not in response.text
    assert emulator.customer_lists() == []


@pytest.mark.assumption  # a trailing comma and an undefined field are 400s
def test_records_accepted_and_empty_rejected(emulator: PinterestEmulator, http: requests.Session) -> None:
    idfa = sha256("6d92078a-8246-4ba4-ae5b-76104861e7dc")
    create(http, emulator, "ios", f"{idfa},{hashlib.md5(b'x').hexdigest()}", list_type="IDFA")  # noqa: S324
    create(http, emulator, "mail", f"{sha256('a@example.com')},b@example.com")
    assert emulator.list_by_name("ios").list_type == "IDFA"
    for records in ["", "a@example.com,", ",a@example.com"]:
        response = http.post(lists_url(emulator), json={"name": "x", "records": records})
        assert response.status_code == 400, records
    exceptions = http.post(lists_url(emulator), json={"name": "x", "records": "a@example.com", "exceptions": {}})
    assert exceptions.status_code == 400
    assert "exceptions" in exceptions.json()["message"]
    bad_type = http.post(lists_url(emulator), json={"name": "x", "records": "a@example.com", "list_type": "PHONE"})
    assert bad_type.status_code == 400


@pytest.mark.assumption  # an unknown list is 404 (code 1)
def test_unknown_account_and_bad_ids(emulator: PinterestEmulator, http: requests.Session) -> None:
    unknown = http.get(lists_url(emulator, "1234"))
    assert unknown.status_code == 404
    assert unknown.json() == {"code": 2, "message": "AdAccount not found."}
    for bad in ["abc", "1" * 19, "12a"]:
        response = http.get(lists_url(emulator, bad))
        assert response.status_code == 400, bad
        assert response.json()["code"] == 1
    assert http.get(f"{lists_url(emulator)}/12x").status_code == 400
    assert http.get(f"{lists_url(emulator)}/{'9' * 19}").status_code == 400
    missing = http.get(f"{lists_url(emulator)}/42")
    assert missing.status_code == 404


@pytest.mark.assumption  # a bookmark Pinterest never gave is a 400
def test_page_size_and_bookmark_bounds(emulator: PinterestEmulator, http: requests.Session) -> None:
    for size in ["0", "251", "-1", "ten"]:
        response = http.get(lists_url(emulator), params={"page_size": size})
        assert response.status_code == 400, size
        assert response.json()["code"] == 1
    for size in ["1", "250"]:
        assert http.get(lists_url(emulator), params={"page_size": size}).status_code == 200
    assert http.get(lists_url(emulator), params={"bookmark": "garbage!"}).status_code == 400
    assert http.get(lists_url(emulator), params={"order": "UP"}).status_code == 400


@pytest.mark.assumption  # an audience's size follows its list at once; a rule naming no list is a 400
def test_audiences(emulator: PinterestEmulator, http: requests.Session) -> None:
    customer_list = create(http, emulator, "vip", "a@example.com")
    url = f"{emulator.url}/ad_accounts/{ACCOUNT}/audiences"
    body = {
        "name": "vip",
        "audience_type": "CUSTOMER_LIST",
        "rule": {"customer_list_id": customer_list["id"]},
    }
    created = http.post(url, json=body)
    assert created.status_code == 200, created.text
    audience = created.json()
    assert audience["rule"] == {"customer_list_id": customer_list["id"]}
    assert audience["status"] == "TOO_SMALL"
    assert audience["size"] == 1
    assert audience["ad_account_id"] == ACCOUNT
    assert http.get(url).json()["items"] == [audience]
    assert emulator.audiences(ACCOUNT) == [audience]
    unknown = http.post(url, json={**body, "rule": {"customer_list_id": "999"}})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == 1
    wrong_case = http.post(url, json={**body, "audience_type": "customer_list"})
    assert wrong_case.status_code == 400
    no_name = http.post(url, json={k: v for k, v in body.items() if k != "name"})
    assert no_name.status_code == 400


def refresh(api: PinterestEmulator, token: str, auth: tuple[str, str] = CLIENT) -> requests.Response:
    return requests.post(
        f"{api.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=auth,
        timeout=5,
    )


@pytest.mark.assumption  # a revoked refresh token is a 400 code 1
def test_oauth_refresh_without_rotation(emulator: PinterestEmulator) -> None:
    response = refresh(emulator, "emulator-refresh-token")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 2592000
    assert answer["scope"] == "ads:read,ads:write"
    assert answer["response_type"] == "refresh_token"
    assert "refresh_token" not in answer
    got = requests.get(
        lists_url(emulator),
        headers={"Authorization": f"Bearer {answer['access_token']}"},
        timeout=5,
    )
    assert got.status_code == 200
    assert refresh(emulator, "emulator-refresh-token").status_code == 200
    wrong = refresh(emulator, "emulator-refresh-token", ("emulator-client-id", "wrong"))
    assert wrong.status_code == 401
    assert wrong.json() == {"code": 2, "message": "Authentication failed."}
    emulator.revoke_refresh_token("emulator-refresh-token")
    revoked = refresh(emulator, "emulator-refresh-token")
    assert revoked.status_code == 400
    assert revoked.json()["code"] == 1


@pytest.mark.assumption  # a rotated-out refresh token stops at once
def test_oauth_refresh_rotation() -> None:
    with PinterestEmulator(rotate_refresh_tokens=True) as api:
        answer = refresh(api, "emulator-refresh-token").json()
        new = answer["refresh_token"]
        assert answer["refresh_token_expires_in"] == 5184000
        assert isinstance(answer["refresh_token_expires_at"], int)
        assert api.refresh_tokens == {new}
        assert refresh(api, "emulator-refresh-token").status_code == 400
        assert refresh(api, new).status_code == 200


@pytest.mark.assumption  # a used authorisation code is a 400
def test_authorization_code_flow(emulator: PinterestEmulator) -> None:
    redirect = "http://127.0.0.1:9/callback"
    response = requests.get(
        f"{emulator.root_url}/oauth/",
        params={
            "client_id": CLIENT[0],
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "ads:read,ads:write",
            "state": "xyz",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    params = parse_qs(location.query)
    assert params["state"] == ["xyz"]
    form = {"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect}
    token = requests.post(f"{emulator.url}/oauth/token", data=form, auth=CLIENT, timeout=5)
    assert token.status_code == 200, token.text
    answer = token.json()
    assert answer["refresh_token"] in emulator.refresh_tokens
    assert answer["response_type"] == "authorization_code"
    again = requests.post(f"{emulator.url}/oauth/token", data=form, auth=CLIENT, timeout=5)
    assert again.status_code == 400


def test_fail_nth(emulator: PinterestEmulator, http: requests.Session) -> None:
    http.get(lists_url(emulator))
    emulator.faults = Faults(fail_nth={2: 429, 3: 503})
    assert http.get(lists_url(emulator)).status_code == 200
    limited = http.get(lists_url(emulator))
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "0"
    assert limited.json()["code"] == 8
    assert http.get(lists_url(emulator)).status_code == 503
    assert http.get(lists_url(emulator)).status_code == 200
    assert [r.status for r in emulator.requests] == [200, 200, 429, 503, 200]


def test_access_token_max_uses(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(access_token_max_uses=2)
    assert http.get(lists_url(emulator)).status_code == 200
    assert http.get(lists_url(emulator)).status_code == 200
    expired = http.get(lists_url(emulator))
    assert expired.status_code == 401
    assert expired.json()["code"] == 2
    fresh = refresh(emulator, "emulator-refresh-token").json()["access_token"]
    http.headers["Authorization"] = f"Bearer {fresh}"
    assert http.get(lists_url(emulator)).status_code == 200


@pytest.mark.assumption  # two lists may share a name
def test_state_reset_and_requests(emulator: PinterestEmulator, http: requests.Session) -> None:
    create(http, emulator, "dup", "b@example.com,a@example.com")
    create(http, emulator, "dup", "c@example.com")
    state = http.get(f"{emulator.root_url}/_emulator/state").json()
    assert state == emulator.state()
    assert state["duplicate_name_creates"] == 1
    assert emulator.duplicate_name_creates == 1
    assert state["customer_lists"][0]["members"] == ["a@example.com", "b@example.com"]
    assert state["customer_lists"][0]["list_type"] == "EMAIL"
    with pytest.raises(AssertionError):
        emulator.list_by_name("dup")
    with pytest.raises(KeyError):
        emulator.list_by_name("nothing")
    first = emulator.requests[0]
    assert first.method == "POST"
    assert first.path == f"/ad_accounts/{ACCOUNT}/customer_lists"
    assert first.body == {"name": "dup", "records": "b@example.com,a@example.com"}
    assert first.status == 200
    assert http.post(f"{emulator.root_url}/_emulator/reset").status_code == 200
    assert emulator.customer_lists() == []
    assert emulator.state()["audiences"] == []


def test_concurrent_patches(emulator: PinterestEmulator) -> None:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        list_id = create(session, emulator, "busy", "seed@example.com")["id"]
    url = f"{lists_url(emulator)}/{list_id}"
    errors: list[int] = []

    def worker(n: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            for m in range(5):
                body = {"operation_type": "ADD", "records": f"t{n}-{m}@example.com"}
                status = session.patch(url, json=body).status_code
                if status != 200:
                    errors.append(status)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    snapshot = emulator.list_by_name("busy")
    assert snapshot.num_batches == 51
    assert len(snapshot.members) == 51


def test_logs_hold_no_secrets_or_records(
    emulator: PinterestEmulator, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="pinterest_emulator"):
        create(http, emulator, "x", "private.person@example.com")
        refresh(emulator, "emulator-refresh-token")
    assert "POST /v5/ad_accounts" in caplog.text
    for secret in [TOKEN, "private.person", "emulator-refresh-token", CLIENT[1]]:
        assert secret not in caplog.text


@pytest.fixture(scope="module")
def spec_path() -> Path:
    if not OPENAPI.exists():
        pytest.skip(f"Pinterest's OpenAPI file is absent at {OPENAPI}")
    return OPENAPI


def test_openapi_validation(spec_path: Path) -> None:
    with PinterestEmulator(openapi_path=spec_path) as api, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        customer_list = create(http, api, "vip", "a@example.com")
        url = f"{api.url}/ad_accounts/{ACCOUNT}/audiences"
        rule = {"customer_list_id": customer_list["id"]}
        bad = http.post(url, json={"name": "vip", "audience_type": "LOOKALIKE", "rule": rule})
        assert bad.status_code == 400
        assert "AudienceCreateRequest" in bad.json()["message"]
        not_string = http.post(lists_url(api), json={"name": "x", "records": ["a@example.com"]})
        assert not_string.status_code == 400
        assert "a@example.com" not in not_string.text
        good = http.post(url, json={"name": "vip", "audience_type": "CUSTOMER_LIST", "rule": rule})
        assert good.status_code == 200, good.text


def test_main_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        main(["--port", "not-a-port"])


def test_cli_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "pinterest_emulator", "--port", "0"]
    command += ["--ad-account-id", "77", "--access-token", "cli-token"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            assert line.startswith("Pinterest v5 emulator listening on http://127.0.0.1:")
            base = line.rsplit(" ", 1)[-1].strip()
            assert base.endswith("/v5")
            response = requests.get(f"{base}/ad_accounts", headers={"Authorization": "Bearer cli-token"}, timeout=5)
            assert response.status_code == 200
            assert [a["id"] for a in response.json()["items"]] == ["77"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            if process.poll() is None:
                process.kill()


# -- faults ---------------------------------------------------------------------------------------
def status_or_drop(session: requests.Session, url: str) -> str:
    try:
        return str(session.get(url, timeout=5).status_code)
    except requests.ConnectionError:
        return "drop"


def statuses(api: PinterestEmulator, count: int) -> list[str]:
    """Status of each of ``count`` sequential GETs, or "drop" for a connection error."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        return [status_or_drop(session, lists_url(api)) for _ in range(count)]


def test_fault_429_retry_after_seconds_and_http_date(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(rate_429=1.0, retry_after_seconds=2.5)
    before = time.time()
    limited = http.get(lists_url(emulator))
    assert limited.status_code == 429
    assert limited.json() == {"code": 8, "message": limited.json()["message"]}
    assert limited.json()["message"].startswith("This request exceeded a rate limit")
    assert limited.headers["Retry-After"] == "3"
    assert before + 2.5 <= int(limited.headers["X-RateLimit-Reset"]) <= time.time() + 3.5
    assert "chunked" not in limited.headers.get("Transfer-Encoding", "")
    assert int(limited.headers["Content-Length"]) == len(limited.content)
    emulator.faults = Faults(rate_429=1.0, retry_after_seconds=30, retry_after_http_date=True)
    dated = http.get(lists_url(emulator))
    assert dated.status_code == 429
    when = parsedate_to_datetime(dated.headers["Retry-After"]).timestamp()
    assert time.time() + 28 <= when <= time.time() + 32
    assert emulator.fault_counts == {"429": 1}


def test_fault_500_and_503_are_not_processed(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(rate_500=1.0)
    failed = http.post(lists_url(emulator), json={"name": "x", "records": "a@example.com"})
    assert failed.status_code == 500
    assert set(failed.json()) == {"code", "message"}
    emulator.faults = Faults(rate_503=1.0)
    ramped = http.patch(f"{lists_url(emulator)}/1", json={"operation_type": "ADD", "records": "a@example.com"})
    assert ramped.status_code == 503
    assert ramped.json()["code"] == 4197
    assert emulator.customer_lists() == []
    assert emulator.fault_counts == {"503": 1}
    assert [r.fault for r in emulator.requests] == ["500", "503"]


def test_fault_drop_gives_connection_error_and_server_goes_on(
    emulator: PinterestEmulator, http: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    with requests.Session() as bystander:  # a keep-alive connection opened before the drops
        bystander.headers["Authorization"] = f"Bearer {TOKEN}"
        assert bystander.get(lists_url(emulator)).status_code == 200
        emulator.faults = Faults(rate_drop=1.0, seed=3)
        for _ in range(4):
            with pytest.raises(requests.ConnectionError):
                http.post(lists_url(emulator), json={"name": "x", "records": "a@example.com"})
        assert emulator.customer_lists() == []
        assert emulator.fault_counts == {"drop": 4}
        assert [r.status for r in emulator.requests[-4:]] == [0, 0, 0, 0]
        emulator.faults = Faults()
        assert bystander.get(lists_url(emulator)).status_code == 200
        assert http.get(lists_url(emulator)).status_code == 200
    assert capsys.readouterr().err == ""  # no traceback from the server threads


def test_fault_drop_closes_or_resets_on_the_wire(emulator: PinterestEmulator) -> None:
    emulator.faults = Faults(rate_drop=1.0, seed=1)
    host, port = urlsplit(emulator.url).netloc.split(":")
    request = f"GET /v5/ad_accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
    outcomes = []
    for _ in range(8):
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            raw.sendall(request)
            try:
                outcomes.append("close" if raw.recv(1024) == b"" else "reply")
            except ConnectionResetError:
                outcomes.append("reset")
    assert set(outcomes) == {"close", "reset"}


def test_fault_drop_after_effect_applies_the_change(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(rate_drop_after_effect=1.0)
    with pytest.raises(requests.ConnectionError):
        http.post(lists_url(emulator), json={"name": "applied", "records": "a@example.com"})
    created = emulator.list_by_name("applied")
    with pytest.raises(requests.ConnectionError):
        http.patch(f"{lists_url(emulator)}/{created.id}", json={"operation_type": "ADD", "records": "b@example.com"})
    assert emulator.list_by_name("applied").members == {"a@example.com", "b@example.com"}
    assert emulator.fault_counts == {"drop_after_effect": 2}
    assert [(r.status, r.fault) for r in emulator.requests] == [(200, "drop_after_effect")] * 2


def test_fault_slow_times_the_client_out(
    emulator: PinterestEmulator, http: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.faults = Faults(rate_slow=1.0, slow_seconds=0.4)
    with pytest.raises(requests.Timeout):
        http.post(lists_url(emulator), json={"name": "late", "records": "a@example.com"}, timeout=0.1)
    assert emulator.list_by_name("late").members == {"a@example.com"}  # applied, reply held
    assert emulator.fault_counts == {"slow": 1}
    emulator.faults = Faults()
    assert http.get(lists_url(emulator), timeout=5).status_code == 200
    time.sleep(0.4)  # the held reply meets a closed socket
    assert http.get(lists_url(emulator), timeout=5).status_code == 200
    assert capsys.readouterr().err == ""


MIXED = Faults(seed=42, rate_429=0.05, rate_500=0.05, rate_503=0.05, rate_drop=0.05, rate_drop_after_effect=0.05)


def test_faults_are_deterministic_for_a_seed() -> None:
    runs = []
    for seed in (42, 42, 43):
        with PinterestEmulator(faults=dataclasses.replace(MIXED, seed=seed)) as api:
            runs.append(statuses(api, 80))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert {"200", "429", "500", "503", "drop"} <= set(runs[0])
    with PinterestEmulator() as api:
        api.faults = MIXED  # assigning restarts the generator
        assert statuses(api, 80) == runs[0]
    assert [decide_fault(MIXED, n, draw).kind for n, draw in enumerate((0.01, 0.07, 0.12, 0.17, 0.22, 0.5))] == [
        "429",
        "500",
        "503",
        "drop",
        "drop_after_effect",
        None,
    ]


def test_fault_counts_match_what_the_client_saw(emulator: PinterestEmulator) -> None:
    emulator.faults = MIXED
    seen = statuses(emulator, 400)
    counts = emulator.fault_counts
    assert counts.pop("drop", 0) + counts.pop("drop_after_effect", 0) == seen.count("drop")
    assert counts == {kind: seen.count(kind) for kind in ("429", "500", "503")}
    assert 0.15 < (len(seen) - seen.count("200")) / len(seen) < 0.35
    assert emulator.state()["fault_counts"] == emulator.fault_counts


def test_faults_spare_emulator_endpoints_and_oauth(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(rate_500=0.5, rate_drop=0.5, requests_per_second=1)
    for _ in range(5):
        assert http.get(f"{emulator.root_url}/_emulator/state").status_code == 200
        assert refresh(emulator, "emulator-refresh-token").status_code == 200
    assert http.post(f"{emulator.root_url}/_emulator/reset").status_code == 200
    assert emulator.fault_counts == {}
    emulator.faults = Faults(rate_503=1.0, include_oauth=True)
    assert refresh(emulator, "emulator-refresh-token").status_code == 503


def test_quota_rejects_exactly_the_excess_of_a_burst(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(requests_per_second=5)
    burst = [http.get(lists_url(emulator)) for _ in range(12)]
    assert [r.status_code for r in burst] == [200] * 5 + [429] * 7
    assert emulator.quota_rejections == 7
    assert emulator.fault_counts == {"quota": 7}
    limited = burst[-1]
    assert limited.json()["code"] == 8
    assert limited.headers["Retry-After"] == "1"
    assert time.time() <= int(limited.headers["X-RateLimit-Reset"]) <= time.time() + 2
    time.sleep(int(limited.headers["Retry-After"]))
    assert [http.get(lists_url(emulator)).status_code for _ in range(5)] == [200] * 5
    assert emulator.quota_rejections == 7


def test_quota_spares_a_paced_client(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(requests_per_second=100)
    start = time.monotonic()
    for n in range(120):  # 1.2 s at 90 % of the quota, across two windows
        time.sleep(max(0.0, start + n / 90 - time.monotonic()))
        assert http.get(lists_url(emulator)).status_code == 200
    assert emulator.quota_rejections == 0


def test_faults_validated_and_cli_flags() -> None:
    for bad in ({"rate_500": 1.5}, {"rate_429": 0.6, "rate_drop": 0.6}, {"requests_per_second": 0}):
        with pytest.raises(ValueError, match=r"share|positive"):
            Faults(**bad)  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        main(["--fault-429", "0.7", "--fault-500", "0.7"])


def test_cli_help_lists_fault_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    for flag in ["--fault-seed", "--fault-429", "--fault-500", "--fault-503", "--fault-drop", "--fault-slow"]:
        assert flag in usage
    for flag in ["--slow-seconds", "--quota-rps", "--access-token-max-uses", "--latency", "--retry-after"]:
        assert flag in usage


# -- abilities for the simulation tests (issue 13, "The oracle") ----------------------------------
def make_audience(http: requests.Session, api: PinterestEmulator, name: str, list_id: str) -> dict[str, Any]:
    body = {"name": name, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": list_id}}
    response = http.post(f"{api.url}/ad_accounts/{ACCOUNT}/audiences", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def page_ids(http: requests.Session, api: PinterestEmulator) -> list[str]:
    return [item["id"] for item in http.get(lists_url(api), params={"page_size": 250}).json()["items"]]


NOT_FOUND = {"code": 1, "message": "Customer list not found."}


@pytest.mark.assumption  # a list deleted in Ads Manager is a 404 and takes its audience
def test_delete_list_as_in_ads_manager(emulator: PinterestEmulator, http: requests.Session) -> None:
    gone = create(http, emulator, "vip", "a@example.com")
    kept = create(http, emulator, "other", "b@example.com")
    make_audience(http, emulator, "vip", gone["id"])
    kept_audience = make_audience(http, emulator, "other", kept["id"])
    emulator.delete_list(gone["id"])
    url = f"{lists_url(emulator)}/{gone['id']}"
    read = http.get(url)
    assert (read.status_code, read.json()) == (404, NOT_FOUND)
    patched = http.patch(url, json={"operation_type": "ADD", "records": "c@example.com"})
    assert (patched.status_code, patched.json()) == (404, NOT_FOUND)
    assert page_ids(http, emulator) == [kept["id"]]
    assert [item.id for item in emulator.customer_lists()] == [kept["id"]]
    assert emulator.audiences() == [kept_audience]  # the audience went with its list
    assert emulator.state()["deleted_customer_lists"] == [gone["id"]]
    again = create(http, emulator, "vip", "d@example.com")  # the name is free again
    make_audience(http, emulator, "vip", again["id"])
    assert emulator.duplicate_name_creates == 0
    assert emulator.duplicate_names() == {"customer_lists": {}, "audiences": {}}
    assert emulator.list_by_name("vip").members == {"d@example.com"}
    assert emulator.audience_by_name("vip")["rule"] == {"customer_list_id": again["id"]}
    with pytest.raises(KeyError):
        emulator.delete_list(gone["id"])


@pytest.mark.assumption  # a deleted list is a 404 (code 1)
def test_delete_list_over_http(emulator: PinterestEmulator, http: requests.Session) -> None:
    created = create(http, emulator, "vip", "a@example.com")
    deleted = http.delete(f"{emulator.root_url}/_emulator/customer_lists/{created['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {"deleted": created["id"]})
    assert emulator.customer_lists() == []
    twice = http.delete(f"{emulator.root_url}/_emulator/customer_lists/{created['id']}")
    assert (twice.status_code, twice.json()) == (404, NOT_FOUND)


@pytest.mark.assumption  # two lists or audiences may share a name
def test_duplicate_names_counts_live_lists_and_audiences(emulator: PinterestEmulator, http: requests.Session) -> None:
    first = create(http, emulator, "dup", "a@example.com")
    second = create(http, emulator, "dup", "b@example.com")
    create(http, emulator, "single", "c@example.com")
    make_audience(http, emulator, "dup", first["id"])
    make_audience(http, emulator, "dup", second["id"])
    assert emulator.duplicate_names() == {"customer_lists": {"dup": 2}, "audiences": {"dup": 2}}
    assert emulator.duplicate_names("1234") == {"customer_lists": {}, "audiences": {}}
    with pytest.raises(AssertionError):
        emulator.audience_by_name("dup")
    with pytest.raises(KeyError):
        emulator.audience_by_name("single")
    emulator.delete_list(second["id"])
    assert emulator.duplicate_names() == {"customer_lists": {}, "audiences": {}}


@pytest.mark.assumption  # an unknown list is 404 (code 1); the ad account's 404 is the spec's
def test_ad_account_get_and_unknown_list(emulator: PinterestEmulator, http: requests.Session) -> None:
    known = http.get(f"{emulator.url}/ad_accounts/{ACCOUNT}")
    assert known.status_code == 200
    assert known.json()["id"] == ACCOUNT
    unknown = http.get(f"{emulator.url}/ad_accounts/1234")
    assert (unknown.status_code, unknown.json()) == (404, {"code": 2, "message": "AdAccount not found."})
    missing = http.get(f"{lists_url(emulator)}/42")
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)


def patch(http: requests.Session, api: PinterestEmulator, list_id: str, records: str) -> requests.Response:
    return http.patch(f"{lists_url(api)}/{list_id}", json={"operation_type": "ADD", "records": records}, timeout=10)


def test_drop_before_and_after_effect_by_request_number(emulator: PinterestEmulator, http: requests.Session) -> None:
    list_id = create(http, emulator, "vip", "a@example.com")["id"]
    assert emulator.applied_writes == 1
    emulator.faults = Faults(drop_before_effect_nth={1}, drop_after_effect_nth={3})
    with pytest.raises(requests.ConnectionError):
        patch(http, emulator, list_id, "b@example.com")  # request 1: nothing applied
    assert emulator.list_by_name("vip").members == {"a@example.com"}
    assert emulator.applied_writes == 1
    assert patch(http, emulator, list_id, "c@example.com").status_code == 200  # request 2
    with pytest.raises(requests.ConnectionError):
        patch(http, emulator, list_id, "d@example.com")  # request 3: applied, answer lost
    assert emulator.list_by_name("vip").members == {"a@example.com", "c@example.com", "d@example.com"}
    assert emulator.applied_writes == 3
    assert emulator.fault_counts == {"drop_before_effect": 1, "drop_after_effect": 1}
    assert [(r.number, r.status, r.fault) for r in emulator.requests[-3:]] == [
        (1, 0, "drop_before_effect"),
        (2, 200, None),
        (3, 200, "drop_after_effect"),
    ]
    assert emulator.wait_applied(1, 0) is False
    assert emulator.wait_applied(2, 0) is True
    assert emulator.wait_applied(3, 0) is True


@pytest.mark.assumption  # the body of a list's 404
def test_not_found_nth_is_a_one_off_on_a_live_list(emulator: PinterestEmulator, http: requests.Session) -> None:
    list_id = create(http, emulator, "vip", "a@example.com")["id"]
    emulator.faults = Faults(not_found_nth={1, 2, 4})
    refused = patch(http, emulator, list_id, "b@example.com")  # request 1
    assert (refused.status_code, refused.json()) == (404, NOT_FOUND)
    assert emulator.list_by_name("vip").members == {"a@example.com"}
    assert http.get(f"{lists_url(emulator)}/{list_id}").status_code == 404  # request 2, a GET
    assert http.get(f"{lists_url(emulator)}/{list_id}").status_code == 200  # request 3: it still exists
    assert page_ids(http, emulator) == [list_id]  # request 4 is no read of one list: served
    assert emulator.fault_counts == {"not_found": 2}
    assert emulator.applied_writes == 1


def test_hold_after_effect_and_wait_applied(emulator: PinterestEmulator, http: requests.Session) -> None:
    list_id = create(http, emulator, "vip", "a@example.com")["id"]
    emulator.faults = Faults(hold_after_effect_nth={1: 1.0})
    answers: list[int] = []
    writer = threading.Thread(
        target=lambda: answers.append(patch(http, emulator, list_id, "b@example.com").status_code)
    )
    started = time.monotonic()
    writer.start()
    assert emulator.wait_applied(1, timeout=5) is True
    assert time.monotonic() - started < 0.8
    assert answers == []  # applied, answer on its way
    assert "b@example.com" in emulator.list_by_name("vip").members
    assert emulator.applied_writes == 2
    writer.join(timeout=5)
    assert answers == [200]
    assert time.monotonic() - started >= 1.0
    assert emulator.fault_counts == {"hold_after_effect": 1}
    assert emulator.wait_applied(2, timeout=0.1) is False  # no such request yet
    with pytest.raises(ValueError, match="negative"):
        Faults(hold_after_effect_nth={1: -1.0})


def test_wait_applied_is_false_for_a_refused_request(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(fail_nth={1: 500})
    assert http.post(lists_url(emulator), json={"name": "x", "records": "a@example.com"}).status_code == 500
    assert http.post(lists_url(emulator), json={"name": "x", "records": "A@example.com"}).status_code == 400
    started = time.monotonic()
    assert emulator.wait_applied(1, timeout=5) is False
    assert emulator.wait_applied(2, timeout=5) is False
    assert time.monotonic() - started < 1  # known outcomes: no waiting out the timeout
    assert emulator.applied_writes == 0


def test_aimed_faults_are_exempt_from_the_quota(emulator: PinterestEmulator, http: requests.Session) -> None:
    emulator.faults = Faults(requests_per_second=1, not_found_nth={2}, drop_before_effect_nth={3})
    assert http.get(lists_url(emulator)).status_code == 200
    assert http.get(lists_url(emulator)).status_code == 200  # aimed (though a page is no list read)
    with pytest.raises(requests.ConnectionError):
        http.get(lists_url(emulator))
    assert http.get(lists_url(emulator)).status_code == 429  # the quota's one slot went to request 1
    assert emulator.fault_counts == {"drop_before_effect": 1, "quota": 1}


def test_repeat_bookmark_as_prism_serves_the_spec(emulator: PinterestEmulator, http: requests.Session) -> None:
    ids = [create(http, emulator, f"list {n}", "a@example.com")["id"] for n in range(3)]
    emulator.faults = Faults(repeat_bookmark=True)
    first = http.get(lists_url(emulator), params={"page_size": 2}).json()
    assert first == {"items": first["items"], "bookmark": "string"}
    assert [item["id"] for item in first["items"]] == ids[:2]
    again = http.get(lists_url(emulator), params={"page_size": 2, "bookmark": first["bookmark"]}).json()
    assert again == first
    whole = http.get(lists_url(emulator), params={"page_size": 250}).json()
    assert whole["bookmark"] == "string"
    assert emulator.fault_counts == {"repeat_bookmark": 3}


def test_the_target_never_imports_the_emulator() -> None:
    # The emulator is an extra (pip install 'target-pinterest-audiences[emulator]'): the
    # target's modules must run without it, so none of them may import it.
    check = (
        "import sys, target_pinterest_audiences.target, target_pinterest_audiences.cli; "
        "assert 'pinterest_emulator' not in sys.modules, 'the target imported the emulator'"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_console_script_entry_point_names_the_cli() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'target-pinterest-audiences-emulator = "pinterest_emulator.cli:main"' in pyproject
    from pinterest_emulator.cli import main as cli_main  # noqa: PLC0415 (the entry point's own path)

    assert cli_main is main
