"""target-pinterest-audiences-auth: the OAuth login and ad-accounts commands, against the emulator."""

from __future__ import annotations

import io
import json
import os
import queue
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from conftest import singer_lines
from pinterest_emulator import PinterestEmulator
from pinterest_emulator import oauth as emulator_oauth
from target_pinterest_audiences import auth_cli
from target_pinterest_audiences.pinterest import oauth
from target_pinterest_audiences.pinterest.client import Credentials, PinterestClient
from target_pinterest_audiences.pinterest.tokens import load_refresh, load_refresh_token, save_refresh_token, token_key
from target_pinterest_audiences.store import Store

CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
AD_ACCOUNT = "549755885175"
EXECUTABLE = Path(sys.executable).with_name("target-pinterest-audiences-auth")
TARGET = Path(sys.executable).with_name("target-pinterest-audiences")


def follow(url: str) -> None:
    """What a consenting user's browser does: open the consent URL, follow the redirect home."""
    reply = requests.get(url, timeout=10, allow_redirects=True)
    assert reply.headers["Content-Type"].startswith("text/html")


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def login_args(emulator: PinterestEmulator, store_url: str, *extra: str, secret: str = CLIENT_SECRET) -> list[str]:
    return [
        "login",
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        secret,
        "--redirect-port",
        "0",
        "--authorize-url",
        emulator.root_url + "/oauth/",
        "--api-url",
        emulator.url,
        "--store-url",
        store_url,
        *extra,
    ]


def issued_secrets(emulator: PinterestEmulator) -> set[str]:
    """Every code and token that crossed the wire, to check none reaches stderr."""
    found: set[str] = set()
    for request in emulator.requests:
        if isinstance(request.body, dict):
            found.update(str(request.body[name]) for name in ("code", "refresh_token") if name in request.body)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            found.add(auth.removeprefix("Bearer "))
    return found


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "no error line"
    assert "Traceback" not in stderr
    assert lines[-1].startswith("target-pinterest-audiences-auth: error: ")
    return lines[-1]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test leaves a default store in the checkout."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(auth_cli.ENV_PREFIX):
            monkeypatch.delenv(name)


# -- the flow in-process --------------------------------------------------------------------------


def assert_kept_encrypted(store_url: str, refresh_token: str) -> None:
    """The store holds the refresh token where the target looks, and only encrypted."""
    store = Store.open(store_url)
    try:
        key = token_key(CLIENT_ID, refresh_token)
        assert load_refresh_token(store, key, CLIENT_SECRET) == refresh_token
        sealed = store.refresh_token(key)
        assert sealed is not None
        assert refresh_token not in sealed
    finally:
        store.close()


def test_run_login_round_trip(emulator: PinterestEmulator, store_url: str) -> None:
    options = auth_cli.LoginOptions(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        api_url=emulator.url,
        authorize_url=emulator.root_url + "/oauth/",
        store_url=store_url,
        redirect_port=0,
        timeout=30,
    )
    opened: list[str] = []
    notes: list[str] = []

    def open_url(url: str) -> None:
        opened.append(url)
        follow(url)

    result = auth_cli.run_login(options, open_url=open_url, notify=notes.append)

    # The consent URL carries what Pinterest documents.
    (url,) = opened
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(emulator.root_url + "/oauth/?")
    assert query["client_id"] == [CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["ads:read,ads:write"]
    assert query["redirect_uri"] == [result.redirect_uri]
    assert result.redirect_uri.startswith("http://localhost:")
    assert result.redirect_uri.endswith("/callback")
    assert len(query["state"][0]) >= 20
    assert url in notes
    assert any("must be registered" in note and result.redirect_uri in note for note in notes)

    # The code was exchanged with Basic auth and a form body.
    (exchange,) = [r for r in emulator.requests if r.path == "/oauth/token"]
    assert exchange.headers["Authorization"].startswith("Basic ")
    assert exchange.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert isinstance(exchange.body, dict)
    assert exchange.body["grant_type"] == "authorization_code"
    assert exchange.body["redirect_uri"] == result.redirect_uri

    assert result.refresh_token in emulator.refresh_tokens
    assert result.ad_accounts == [
        {"id": AD_ACCOUNT, "name": f"Emulated ad account {AD_ACCOUNT}", "currency": "USD", "country": "US"}
    ]
    assert result.ad_account_id == AD_ACCOUNT
    assert result.scope == "ads:read,ads:write"
    assert "client_secret" not in result.settings()
    assert result.refresh_token not in repr(result)
    assert CLIENT_SECRET not in repr(options)
    assert not any(secret in note for note in notes for secret in issued_secrets(emulator))


def test_stored_refresh_token_is_found_and_works(emulator: PinterestEmulator, store_url: str) -> None:
    out = io.StringIO()
    code = auth_cli.run(login_args(emulator, store_url, "--json"), open_url=follow, environ={}, stdout=out)
    assert code == 0
    printed = json.loads(out.getvalue())
    refresh_token = printed["settings"]["refresh_token"]

    assert_kept_encrypted(store_url, refresh_token)

    # The target, configured with that token, can renew access tokens with it.
    client = PinterestClient(
        emulator.url, Credentials(refresh_token=refresh_token, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    )
    assert [item["id"] for item in client.ad_accounts()] == [AD_ACCOUNT]
    refreshes = [
        r for r in emulator.requests if isinstance(r.body, dict) and r.body.get("grant_type") == "refresh_token"
    ]
    assert len(refreshes) == 1
    assert refreshes[0].status == 200


def test_login_json_output(emulator: PinterestEmulator, store_url: str) -> None:
    out = io.StringIO()
    assert auth_cli.run(login_args(emulator, store_url, "--json"), open_url=follow, environ={}, stdout=out) == 0
    printed = json.loads(out.getvalue())
    settings = printed["settings"]
    assert settings["client_id"] == CLIENT_ID
    assert "client_secret" not in settings
    assert settings["ad_account_id"] == AD_ACCOUNT
    assert settings["api_url"] == emulator.url
    assert settings["store_url"] == store_url
    assert printed["ad_account_id"] == AD_ACCOUNT
    assert printed["ad_accounts"][0]["id"] == AD_ACCOUNT
    assert printed["env"]["TARGET_PINTEREST_AUDIENCES_REFRESH_TOKEN"] == settings["refresh_token"]
    assert f"meltano config set target-pinterest-audiences ad_account_id {AD_ACCOUNT}" in printed["meltano"]
    assert (
        'meltano config set target-pinterest-audiences client_secret "$TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET"'
        in printed["meltano"]
    )
    assert CLIENT_SECRET not in out.getvalue()


def test_login_text_output(emulator: PinterestEmulator, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert auth_cli.run(login_args(emulator, store_url), open_url=follow, environ={}) == 0
    captured = capsys.readouterr()
    (refresh_token,) = emulator.refresh_tokens - {"emulator-refresh-token"}
    stdout = captured.out
    assert f'"refresh_token": "{refresh_token}"' in stdout
    assert f'"ad_account_id": "{AD_ACCOUNT}"' in stdout
    assert '"client_secret"' not in stdout
    assert f"  meltano config set target-pinterest-audiences refresh_token {refresh_token}\n" in stdout
    assert f"  meltano config set target-pinterest-audiences client_id {CLIENT_ID}\n" in stdout
    assert f"  export TARGET_PINTEREST_AUDIENCES_REFRESH_TOKEN={refresh_token}\n" in stdout
    assert f"  export TARGET_PINTEREST_AUDIENCES_AD_ACCOUNT_ID={AD_ACCOUNT}\n" in stdout
    assert "client_secret was given as a flag: export TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET=" in stdout
    assert CLIENT_SECRET not in stdout + captured.err
    assert "Warning" in captured.err
    assert "secret" in captured.err
    for secret in issued_secrets(emulator):
        assert secret not in captured.err


def test_several_ad_accounts_are_listed_to_choose(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with PinterestEmulator(ad_account_ids=("111", "222")) as emulator:
        assert auth_cli.run(login_args(emulator, store_url), open_url=follow, environ={}) == 0
    stdout = capsys.readouterr().out
    assert "2 ad accounts; choose one" in stdout
    assert "Emulated ad account 111" in stdout
    assert "Emulated ad account 222" in stdout
    assert f'"ad_account_id": "{auth_cli.CHOOSE_PLACEHOLDER}"' in stdout


def test_credentials_from_env_and_config_file(
    emulator: PinterestEmulator, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": CLIENT_ID, "api_url": emulator.url, "store_url": store_url}))
    argv = ["login", "--config", str(config), "--redirect-port", "0", "--authorize-url", emulator.root_url + "/oauth/"]
    environ = {"TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET": CLIENT_SECRET}
    assert auth_cli.run(argv, open_url=follow, environ=environ) == 0
    assert f'"ad_account_id": "{AD_ACCOUNT}"' in capsys.readouterr().out


# -- failures: one line, exit 1, no secret --------------------------------------------------------


def test_wrong_state_fails(emulator: PinterestEmulator, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    def forged(url: str) -> None:
        follow(with_query(url, state="forged-state"))

    assert auth_cli.run(login_args(emulator, store_url), open_url=forged, environ={}) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert "state does not match" in line
    assert captured.out == ""
    assert not [r for r in emulator.requests if r.path == "/oauth/token"]


def test_access_denied_fails(emulator: PinterestEmulator, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    def deny(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        redirect_uri, state = query["redirect_uri"][0], query["state"][0]
        reply = requests.get(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}", timeout=10)
        assert "Authorisation failed" in reply.text

    assert auth_cli.run(login_args(emulator, store_url), open_url=deny, environ={}) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert "did not authorise" in line
    assert "access_denied" in line
    assert captured.out == ""


def test_wrong_client_secret_fails(
    emulator: PinterestEmulator, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-secret-123"
    assert auth_cli.run(login_args(emulator, store_url, secret=wrong), open_url=follow, environ={}) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert "HTTP 401" in line
    assert "client_secret" in line
    assert "re-authorise" in line
    assert wrong not in captured.err + captured.out
    for secret in issued_secrets(emulator):
        assert secret not in captured.err


def test_timeout_fails(emulator: PinterestEmulator, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = login_args(emulator, store_url, "--timeout", "0.3")
    assert auth_cli.run(argv, open_url=lambda _url: None, environ={}) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "no redirect from Pinterest within 0.3 s" in line
    assert "registered" in line


def test_missing_client_secret_fails(emulator: PinterestEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["login", "--client-id", CLIENT_ID, "--api-url", emulator.url]
    assert auth_cli.run(argv, open_url=follow, environ={}) == 2  # a wrong command line, as the target's
    assert "--client-secret" in one_error_line(capsys.readouterr().err)


def test_port_in_use_fails(emulator: PinterestEmulator, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = urlsplit(emulator.root_url).port
    argv = [*login_args(emulator, store_url), "--redirect-port", str(port)]
    assert auth_cli.run(argv, open_url=follow, environ={}) == 1
    assert "--redirect-port" in one_error_line(capsys.readouterr().err)


# -- ad-accounts ----------------------------------------------------------------------------------


def test_ad_accounts_table_and_json(emulator: PinterestEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["ad-accounts", "--access-token", "emulator-access-token", "--api-url", emulator.url]
    assert auth_cli.run(base, environ={}) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "name", "currency", "country"]
    assert table[1].split() == [AD_ACCOUNT, "Emulated", "ad", "account", AD_ACCOUNT, "USD", "US"]

    assert auth_cli.run([*base, "--json"], environ={}) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"id": AD_ACCOUNT, "name": f"Emulated ad account {AD_ACCOUNT}", "currency": "USD", "country": "US"}
    ]


def test_ad_accounts_with_refresh_token_from_env_uses_latest_rotation(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), rotate_refresh_tokens=True) as emulator:
        environ = {
            "TARGET_PINTEREST_AUDIENCES_REFRESH_TOKEN": "emulator-refresh-token",
            "TARGET_PINTEREST_AUDIENCES_CLIENT_ID": CLIENT_ID,
            "TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET": CLIENT_SECRET,
            "TARGET_PINTEREST_AUDIENCES_API_URL": emulator.url,
            "TARGET_PINTEREST_AUDIENCES_STORE_URL": store_url,
        }
        # Twice: the second run needs the rotation the first one kept in the store.
        for _ in range(2):
            assert auth_cli.run(["ad-accounts", "--json"], environ=environ) == 0
            assert [a["id"] for a in json.loads(capsys.readouterr().out)] == [AD_ACCOUNT]
        assert "emulator-refresh-token" not in emulator.refresh_tokens


def test_ad_accounts_bad_token_fails(emulator: PinterestEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        auth_cli.run(["ad-accounts", "--access-token", "wrong-token-xyz", "--api-url", emulator.url], environ={}) == 1
    )
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert "HTTP 401" in line
    assert "Re-authorise" in line
    assert "wrong-token-xyz" not in captured.err


def test_ad_accounts_without_credentials_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert auth_cli.run(["ad-accounts"], environ={}) == 2
    assert "--access-token" in one_error_line(capsys.readouterr().err)


def test_a_near_miss_variable_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"TARGET_PINTEREST_AUDIENCES_ACCESSTOKEN": "x"}
    assert auth_cli.run(["ad-accounts"], environ=environ) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "TARGET_PINTEREST_AUDIENCES_ACCESSTOKEN is not a setting" in line
    assert "did you mean TARGET_PINTEREST_AUDIENCES_ACCESS_TOKEN?" in line


# -- the installed executable ---------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith(auth_cli.ENV_PREFIX)}


def run_for_jane(argv: list[str], tmp_path: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``tmp_path`` as a user's shell would, fed one vip record for jane."""
    return subprocess.run(
        argv,
        input=singer_lines("vip", [{"email": "jane@example.com"}]),
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=clean_env() | environ,
        timeout=120,
    )


def start_login(
    emulator: PinterestEmulator, store_url: str, cwd: Path, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [str(EXECUTABLE), *login_args(emulator, store_url, "--no-browser", "--timeout", "30", *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=clean_env(),
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("http"):
            return process, line.strip()
    process.kill()
    pytest.fail(f"no URL line on stderr: {''.join(seen)}")


def test_executable_login_round_trip(emulator: PinterestEmulator, store_url: str, tmp_path: Path) -> None:
    process, url = start_login(emulator, store_url, tmp_path)
    follow(url)
    stdout, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    settings_block = stdout[stdout.index("{") : stdout.index("}") + 1]
    settings: dict[str, Any] = json.loads(settings_block)
    assert settings["client_id"] == CLIENT_ID
    assert "client_secret" not in settings
    assert settings["ad_account_id"] == AD_ACCOUNT
    refresh_token = settings["refresh_token"]
    assert refresh_token in emulator.refresh_tokens
    assert_kept_encrypted(store_url, refresh_token)
    assert "Warning" in rest
    for secret in issued_secrets(emulator):
        assert secret not in url + rest
    assert CLIENT_SECRET not in stdout + url + rest


def test_executable_wrong_state_is_one_line(emulator: PinterestEmulator, store_url: str, tmp_path: Path) -> None:
    process, url = start_login(emulator, store_url, tmp_path)
    follow(with_query(url, state="forged-state"))
    stdout, rest = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stdout == ""
    assert "state does not match" in one_error_line(rest)


def test_executable_ad_accounts(emulator: PinterestEmulator, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(EXECUTABLE), "ad-accounts", "--access-token", "emulator-access-token", "--api-url", emulator.url],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert AD_ACCOUNT in done.stdout
    assert "emulator-access-token" not in done.stderr


# -- what login prints runs as printed -----------------------------------------------------------


def test_printed_config_runs_the_target_with_the_secret_from_the_environment(
    emulator: PinterestEmulator, store_url: str, tmp_path: Path
) -> None:
    """The README's way: the secret only in TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET, read by both commands."""
    environ = {"TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET": CLIENT_SECRET}
    argv = [
        "login",
        "--client-id",
        CLIENT_ID,
        "--redirect-port",
        "0",
        "--authorize-url",
        emulator.root_url + "/oauth/",
        "--api-url",
        emulator.url,
        "--store-url",
        store_url,
        "--json",
    ]
    out = io.StringIO()
    assert auth_cli.run(argv, open_url=follow, environ=environ, stdout=out) == 0
    printed = json.loads(out.getvalue())
    assert "client_secret" not in printed["settings"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(printed["settings"]))
    done = run_for_jane(
        [str(EXECUTABLE.with_name("target-pinterest-audiences")), "--config", str(config)], tmp_path, environ
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (held,) = emulator.customer_lists()
    assert held.name == "vip (EMAIL)"
    assert len(held.members) == 1
    grants = [
        r.body.get("grant_type") for r in emulator.requests if r.path == "/oauth/token" and isinstance(r.body, dict)
    ]
    assert grants == ["authorization_code", "refresh_token"]
    assert CLIENT_SECRET not in done.stderr
    assert printed["settings"]["refresh_token"] not in done.stderr


# -- the exchange library, pure parts ---------------------------------------------------------------


def test_grants_and_rotation() -> None:
    assert oauth.refresh_grant("r1") == {"grant_type": "refresh_token", "refresh_token": "r1"}
    assert oauth.code_grant("c", "http://localhost:1/callback") == {
        "grant_type": "authorization_code",
        "code": "c",
        "redirect_uri": "http://localhost:1/callback",
    }
    assert oauth.rotated_refresh_token({"access_token": "a", "refresh_token": "r2"}, "r1") == "r2"
    assert oauth.rotated_refresh_token({"access_token": "a", "refresh_token": "r1"}, "r1") is None
    assert oauth.rotated_refresh_token({"access_token": "a"}, "r1") is None
    assert oauth.rotated_refresh_token(["not", "a", "reply"], "r1") is None


def test_a_reply_without_access_token_points_at_api_url() -> None:
    with pytest.raises(oauth.OAuthError, match="check that api_url points at Pinterest's v5 API"):
        oauth.token_reply({"items": []}, oauth.CODE_OPERATION)
    reply = {"access_token": "pina-access-xyz", "refresh_token": "pinr-refresh-xyz", "scope": "ads:read"}
    tokens = oauth.token_reply(reply, oauth.CODE_OPERATION)
    assert tokens.lacks_scopes
    assert "xyz" not in repr(tokens)


def test_printed_export_and_meltano_lines_run_as_printed(emulator: PinterestEmulator, tmp_path: Path) -> None:
    """The export lines, pasted into a shell, run the target; the meltano lines are Meltano 4.4's form."""
    environ = {"TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET": CLIENT_SECRET}
    argv = ["login", "--client-id", CLIENT_ID, "--redirect-port", "0", "--api-url", emulator.url]
    argv += ["--authorize-url", emulator.root_url + "/oauth/"]
    out = io.StringIO()
    assert auth_cli.run(argv, open_url=follow, environ=environ, stdout=out) == 0
    text = out.getvalue()
    exports = [line.strip() for line in text.splitlines() if line.strip().startswith("export ")]
    meltano = [line.strip() for line in text.splitlines() if line.strip().startswith("meltano ")]
    assert "client_secret is read from TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET" in text

    shell = "\n".join([*exports, f"{EXECUTABLE.with_name('target-pinterest-audiences')} --config ENV"])
    done = run_for_jane(["bash", "-euc", shell], tmp_path, environ)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [item.name for item in emulator.customer_lists()] == ["vip (EMAIL)"]
    # Kept where that run looked: the default store of the directory login ran in... here, tmp_path.
    assert (tmp_path / ".target-pinterest-audiences" / "store.db").is_file()

    settings = json.loads(text[text.index("{") : text.index("}") + 1])
    command = ("meltano", "config", "set", "target-pinterest-audiences")
    expected = {(*command, name, value) for name, value in settings.items()}
    expected.add((*command, "client_secret", "$TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET"))
    assert {tuple(shlex.split(line)) for line in meltano} == expected
    assert all(CLIENT_SECRET not in line for line in meltano + exports)


def test_a_config_file_that_is_not_json_is_named_as_the_target_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.json").write_text("client_id = 1")
    assert auth_cli.run(["ad-accounts", "--config", "config.json"], environ={}) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (
        "target-pinterest-audiences-auth: error: config file config.json is not valid JSON "
        "(Expecting value at line 1 column 1); fix the file"
    )


# -- login --no-browser: the redirect pasted ------------------------------------------------------


def redirect_of(url: str) -> str:
    """Where Pinterest (the emulator) sends the browser after consent, without going there."""
    reply = requests.get(url, timeout=10, allow_redirects=False)
    assert reply.status_code in (302, 303), reply.status_code
    return reply.headers["Location"]


def login_pasting(emulator: PinterestEmulator, store_url: str, paste: Any) -> auth_cli.LoginResult:
    """run_login without a browser: ``paste`` turns the consent URL into the line the user pastes."""
    options = auth_cli.LoginOptions(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        api_url=emulator.url,
        authorize_url=emulator.root_url + "/oauth/",
        store_url=store_url,
        redirect_port=0,
        timeout=30,
        open_browser=False,
    )
    pasted: queue.Queue[str] = queue.Queue()

    def notify(line: str) -> None:
        if line.startswith("http"):
            pasted.put(paste(line) + "\n")

    def never(url: str) -> None:
        pytest.fail(f"a browser was opened: {url}")

    return auth_cli.run_login(options, open_url=never, notify=notify, read_line=lambda: pasted.get(timeout=30))


@pytest.mark.parametrize("what", ["the address", "the code"])
def test_login_without_a_browser_takes_the_pasted_redirect(
    emulator: PinterestEmulator, store_url: str, what: str
) -> None:
    def paste(url: str) -> str:
        location = redirect_of(url)
        return location if what == "the address" else parse_qs(urlsplit(location).query)["code"][0]

    result = login_pasting(emulator, store_url, paste)
    assert result.refresh_token
    assert result.ad_account_id == "549755885175"
    assert_kept_encrypted(store_url, result.refresh_token)


def test_a_pasted_redirect_of_another_login_is_refused(emulator: PinterestEmulator, store_url: str) -> None:
    with pytest.raises(auth_cli.AuthError, match="state does not match"):
        login_pasting(emulator, store_url, lambda url: with_query(redirect_of(url), state="forged-state"))


def test_executable_login_no_browser_reads_the_pasted_address(
    emulator: PinterestEmulator, store_url: str, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [str(EXECUTABLE), *login_args(emulator, store_url, "--no-browser", "--timeout", "30")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    assert process.stderr is not None
    assert process.stdin is not None
    url = next(line.strip() for line in process.stderr if line.startswith("http"))
    process.stdin.write(redirect_of(url) + "\n")
    process.stdin.flush()
    stdout, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "Connected." in stdout


# -- the refresh token's end ------------------------------------------------------------------------

DAY = 86_400


def run_with_refresh(emulator: PinterestEmulator, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The target on one record, with the refresh flow and its store in ``tmp_path``."""
    config = {
        "ad_account_id": "549755885175",
        "refresh_token": "emulator-refresh-token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_url": emulator.url,
        "store_url": f"sqlite:///{tmp_path / 'store.db'}",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return run_for_jane([str(TARGET), "--config", str(tmp_path / "config.json")], tmp_path, {})


@pytest.mark.parametrize(("lifetime_days", "warned"), [(10, True), (60, False)])
def test_a_refresh_token_ending_within_14_days_is_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime_days: int, *, warned: bool
) -> None:
    """Pinterest's rotated token says when it ends; the store keeps it, so every run warns in time."""
    monkeypatch.setattr(emulator_oauth, "REFRESH_TOKEN_TTL", lifetime_days * DAY)
    with PinterestEmulator(ad_account_ids=("549755885175",), rotate_refresh_tokens=True) as emulator:
        for _ in range(2):
            done = run_with_refresh(emulator, tmp_path)
            assert done.returncode == 0, done.stderr[-2000:]
            lines = [line for line in done.stderr.splitlines() if "refresh token ends on" in line]
            assert len(lines) == int(warned)
            if warned:
                assert "WARNING" in lines[0]
                assert f"(in {lifetime_days} days)" in lines[0]
                assert "run target-pinterest-audiences-auth login again" in lines[0]


def test_an_ended_refresh_token_stops_the_run_before_any_request(emulator: PinterestEmulator, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        key = token_key(CLIENT_ID, "emulator-refresh-token")
        save_refresh_token(store, key, "emulator-refresh-token", CLIENT_SECRET, int(time.time()) - DAY)
    finally:
        store.close()
    done = run_with_refresh(emulator, tmp_path)
    assert done.returncode == 1
    ended = [line for line in done.stderr.splitlines() if "refresh token ended on" in line]
    assert "| ERROR" in ended[0]
    assert done.stderr.splitlines()[-1].startswith(
        "target-pinterest-audiences: error: the Pinterest refresh token ended on "
    )
    assert done.stderr.splitlines()[-1].endswith(
        "; run target-pinterest-audiences-auth login again and update refresh_token"
    )
    assert emulator.requests == []


def test_login_keeps_when_the_refresh_token_ends(emulator: PinterestEmulator, store_url: str) -> None:
    options = auth_cli.LoginOptions(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        api_url=emulator.url,
        authorize_url=emulator.root_url + "/oauth/",
        store_url=store_url,
        redirect_port=0,
        timeout=30,
    )
    result = auth_cli.run_login(options, open_url=follow, notify=lambda _line: None)
    store = Store.open(store_url)
    try:
        found = load_refresh(store, token_key(CLIENT_ID, result.refresh_token), CLIENT_SECRET)
    finally:
        store.close()
    assert found is not None
    assert found[0] == result.refresh_token
    assert found[1] is not None
    assert abs(found[1] - (time.time() + 60 * DAY)) < 60
