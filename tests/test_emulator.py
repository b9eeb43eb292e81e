"""Tests of the Pinterest v5 emulator, over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from target_pinterest_audiences.emulator import (
    EmulatedList,
    Faults,
    PinterestEmulator,
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


def test_page_size_and_bookmark_bounds(emulator: PinterestEmulator, http: requests.Session) -> None:
    for size in ["0", "251", "-1", "ten"]:
        response = http.get(lists_url(emulator), params={"page_size": size})
        assert response.status_code == 400, size
        assert response.json()["code"] == 1
    for size in ["1", "250"]:
        assert http.get(lists_url(emulator), params={"page_size": size}).status_code == 200
    assert http.get(lists_url(emulator), params={"bookmark": "garbage!"}).status_code == 400
    assert http.get(lists_url(emulator), params={"order": "UP"}).status_code == 400


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


def test_oauth_refresh_rotation() -> None:
    with PinterestEmulator(rotate_refresh_tokens=True) as api:
        answer = refresh(api, "emulator-refresh-token").json()
        new = answer["refresh_token"]
        assert answer["refresh_token_expires_in"] == 5184000
        assert isinstance(answer["refresh_token_expires_at"], int)
        assert api.refresh_tokens == {new}
        assert refresh(api, "emulator-refresh-token").status_code == 400
        assert refresh(api, new).status_code == 200


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
    with caplog.at_level(logging.DEBUG, logger="target_pinterest_audiences.emulator"):
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
    command = [sys.executable, "-m", "target_pinterest_audiences.emulator", "--port", "0"]
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
