"""``target-pinterest-audiences-auth``: connect a Pinterest account once, without reading API docs.

``login`` runs Pinterest's OAuth authorisation-code flow against a one-shot HTTP server on
loopback: it prints (and opens) the authorisation URL, catches the redirect at
``http://localhost:<port>/callback``, checks ``state``, exchanges the code at
``{api_url}/oauth/token``, keeps the refresh token in the target's store under the key the
target looks it up by, lists the ad accounts the token reaches, and prints the settings to
use. ``ad-accounts`` lists the ad accounts a token reaches, for choosing ``ad_account_id``.

Tokens, the code and the client secret never reach stderr or an error line; the refresh
token is printed once, to stdout, in the settings block, because the user must put it into
their secret store.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import secrets
import shlex
import sys
import threading
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from target_pinterest_audiences.pinterest.client import (
    DEFAULT_API_URL,
    AuthenticationError,
    Credentials,
    PinterestClient,
    PinterestError,
)
from target_pinterest_audiences.pinterest.tokens import follow_rotations, save_refresh_token, token_key
from target_pinterest_audiences.store import Store, StoreError, default_store_url, redact_url

PROG = "target-pinterest-audiences-auth"
PLUGIN = "target-pinterest-audiences"
ENV_PREFIX = "TARGET_PINTEREST_AUDIENCES_"
DEFAULT_AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
DEFAULT_REDIRECT_PORT = 8085
DEFAULT_TIMEOUT_SECONDS = 300.0
SCOPES = ("ads:read", "ads:write")
CALLBACK_PATH = "/callback"
SECRET_PLACEHOLDER = "<your client secret>"  # noqa: S105 - printed instead of the secret
CHOOSE_PLACEHOLDER = "<one of the ad account ids listed above>"
#: How long one call to Pinterest may keep being retried here: a person is waiting.
MAX_RETRY_SECONDS = 20.0
MAX_LINE = 500
#: Settings that may come from flags, ``TARGET_PINTEREST_AUDIENCES_<NAME>`` or ``--config``.
CREDENTIAL_SETTINGS = ("client_id", "client_secret", "access_token", "refresh_token", "api_url", "store_url")

logger = logging.getLogger(__name__)


class AuthError(Exception):
    """A failure a user can act on; ``str()`` is one line without tokens or secrets."""


# -- settings from flags, environment and a config file --------------------------------------


def load_config_file(path: str | None) -> dict[str, Any]:
    """The target's config JSON at ``path`` (empty without one); errors name the file only."""
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthError(f"cannot read --config {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        config = json.loads(text)
    except ValueError:
        raise AuthError(f"--config {path} is not valid JSON") from None
    if not isinstance(config, dict):
        raise AuthError(f"--config {path} must hold a JSON object of settings")
    return config


def resolve_settings(
    flags: Mapping[str, object], config: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, str]:
    """Each credential setting from its flag, else ``TARGET_PINTEREST_AUDIENCES_<NAME>``, else the file."""
    resolved: dict[str, str] = {}
    for name in CREDENTIAL_SETTINGS:
        for value in (flags.get(name), environ.get(ENV_PREFIX + name.upper()), config.get(name)):
            if value not in (None, ""):
                resolved[name] = str(value)
                break
    return resolved


# -- the login flow ------------------------------------------------------------------------------


@dataclass
class LoginOptions:
    """What ``login`` needs; ``redirect_port`` 0 picks any free port."""

    client_id: str
    client_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    store_url: str | None = None
    redirect_port: int = DEFAULT_REDIRECT_PORT
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    open_browser: bool = True

    def __repr__(self) -> str:
        """Never show the secret."""
        return f"LoginOptions(client_id={self.client_id!r}, api_url={self.api_url!r}, ...)"


@dataclass
class LoginResult:
    """What ``login`` obtained; tokens are kept out of ``repr``."""

    client_id: str
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    scope: str
    refresh_token_expires_in: int | None
    ad_accounts: list[dict[str, str]]
    api_url: str
    store_url: str
    store_url_given: bool
    redirect_uri: str

    def __repr__(self) -> str:
        """Never show a token."""
        return f"LoginResult(client_id={self.client_id!r}, ad_accounts={len(self.ad_accounts)}, ...)"

    @property
    def ad_account_id(self) -> str | None:
        """The ad account to use when the token reaches exactly one."""
        return self.ad_accounts[0]["id"] if len(self.ad_accounts) == 1 else None

    def settings(self) -> dict[str, str]:
        """The target's settings to use, the client secret as a placeholder."""
        values = {
            "client_id": self.client_id,
            "client_secret": SECRET_PLACEHOLDER,
            "refresh_token": self.refresh_token,
            "ad_account_id": self.ad_account_id or CHOOSE_PLACEHOLDER,
        }
        if self.api_url.rstrip("/") != DEFAULT_API_URL:
            values["api_url"] = self.api_url
        if self.store_url_given:
            values["store_url"] = self.store_url
        return values


@dataclass
class _Redirect:
    """What the one redirect carried (set by the callback handler)."""

    code: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _CallbackServer(HTTPServer):
    """Loopback server that takes the first ``/callback`` request and answers it with a page."""

    def __init__(self, port: int, state: str) -> None:
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.expected_state = state
        self.redirect = _Redirect()


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>target-pinterest-audiences</title></head>
<body style="font-family: sans-serif; margin: 3em;"><h1>{title}</h1><p>{text}</p></body></html>
"""


def _clean(value: str, limit: int = 200) -> str:
    """One printable line of text that came from outside (an error description)."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _CallbackHandler(BaseHTTPRequestHandler):
    """Reads ``code``/``error`` and ``state`` from the redirect; logs nothing (the URL holds the code)."""

    server: _CallbackServer

    def do_GET(self) -> None:  # http.server's name
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._answer(404, "Not found", "This address only receives Pinterest's redirect at /callback.")
            return
        redirect = self.server.redirect
        if redirect.done.is_set():
            self._answer(200, "Already done", "This login has already finished. You can close this window.")
            return
        query = parse_qs(parts.query, keep_blank_values=True)

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        state = one("state") or ""
        error = one("error")
        if error is not None:
            description = one("error_description")
            detail = _clean(error) + (f" ({_clean(description)})" if description else "")
            redirect.error = f"Pinterest did not authorise the app: {detail}; run login again and choose Allow"
            title, text = "Authorisation failed", f"Pinterest answered: {detail}. Return to the terminal."
        elif not secrets.compare_digest(state.encode(), self.server.expected_state.encode()):
            redirect.error = (
                "the redirect's state does not match this login (a stale or forged redirect); run login again"
            )
            title, text = "Authorisation failed", "The redirect does not belong to this login. Return to the terminal."
        elif not one("code"):
            redirect.error = "Pinterest's redirect carries no authorisation code; run login again"
            title, text = "Authorisation failed", "The redirect carries no code. Return to the terminal."
        else:
            redirect.code = one("code")
            title, text = "Pinterest is connected", "You can close this window and return to the terminal."
        self._answer(200 if redirect.error is None else 400, title, text)
        redirect.done.set()

    def _answer(self, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Silent: the default log line would print the authorisation code."""


def authorization_url(authorize_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Pinterest's consent URL for the ads scopes, keeping any query ``authorize_url`` has."""
    params = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(SCOPES),
            "state": state,
        },
        safe=",:/",
    )
    parts = urlsplit(authorize_url)
    query = f"{parts.query}&{params}" if parts.query else params
    return urlunsplit(parts._replace(query=query))


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _client(api_url: str, credentials: Credentials) -> PinterestClient:
    return PinterestClient(api_url, credentials, max_retry_seconds=MAX_RETRY_SECONDS)


def _exchange_code(options: LoginOptions, code: str, redirect_uri: str) -> Mapping[str, Any]:
    """Trade the authorisation code for tokens; errors say what to check, never a secret."""
    client = _client(options.api_url, Credentials(client_id=options.client_id))
    operation = "exchanging the authorisation code for tokens"
    try:
        reply = client.request(
            "POST",
            "/oauth/token",
            operation,
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            auth=(options.client_id, options.client_secret),
        )
    except PinterestError as exc:
        plain = PinterestError.__str__(exc)
        if exc.status == 401:  # noqa: PLR2004
            raise AuthError(
                f"{plain}. Check client_id and client_secret (your app at developers.pinterest.com), then run login "
                "again to re-authorise"
            ) from None
        if exc.status is not None and 400 <= exc.status < 500:  # noqa: PLR2004
            raise AuthError(
                f"{plain}. The code expired or was used, or the redirect URI is not registered for the app; "
                "run login again to re-authorise"
            ) from None
        raise
    if not isinstance(reply, Mapping) or not reply.get("access_token") or not reply.get("refresh_token"):
        raise AuthError(
            f"Pinterest's reply to {operation} carries no access_token or refresh_token; "
            "check that api_url points at Pinterest's v5 API"
        )
    return reply


def _account_row(item: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(item.get(name) or "") for name in ("id", "name", "currency", "country")}


def run_login(
    options: LoginOptions,
    *,
    open_url: Callable[[str], object] = webbrowser.open,
    notify: Callable[[str], None] = _stderr,
) -> LoginResult:
    """Run the whole flow; ``open_url`` gets the authorisation URL (tests fetch it themselves)."""
    state = secrets.token_urlsafe(24)
    try:
        server = _CallbackServer(options.redirect_port, state)
    except OSError as exc:
        raise AuthError(
            f"cannot listen on 127.0.0.1:{options.redirect_port} ({exc.strerror or type(exc).__name__}); "
            "choose another --redirect-port and register http://localhost:<port>/callback for the app"
        ) from None
    port = int(server.server_address[1])
    redirect_uri = f"http://localhost:{port}{CALLBACK_PATH}"
    url = authorization_url(options.authorize_url, options.client_id, redirect_uri, state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        notify(
            f"The redirect URI {redirect_uri} must be registered for your Pinterest app "
            "(developers.pinterest.com > My apps > your app > Redirect URIs), or Pinterest refuses the login."
        )
        notify("Open this URL in a browser, sign in to Pinterest and allow access (ads:read, ads:write):")
        notify(url)
        if options.open_browser:
            open_url(url)
        notify(f"Waiting up to {options.timeout:g} s for Pinterest to redirect to {redirect_uri} ...")
        if not server.redirect.done.wait(options.timeout):
            raise AuthError(
                f"no redirect from Pinterest within {options.timeout:g} s; check that {redirect_uri} is registered "
                "as a redirect URI of the app, then run login again (--timeout sets the wait)"
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    redirect = server.redirect
    if redirect.error is not None:
        raise AuthError(redirect.error)
    assert redirect.code is not None  # noqa: S101 - set whenever there is no error
    reply = _exchange_code(options, redirect.code, redirect_uri)
    refresh_token = str(reply["refresh_token"])
    access_token = str(reply["access_token"])
    scope = str(reply.get("scope") or "")
    granted = {item.strip() for item in scope.replace(" ", ",").split(",") if item.strip()}
    if scope and not set(SCOPES) <= granted:
        notify(f"Warning: Pinterest granted the scopes {scope!r}; the target needs {', '.join(SCOPES)}.")

    store_url = options.store_url or default_store_url()
    store = Store.open(store_url)
    try:
        save_refresh_token(store, token_key(options.client_id, refresh_token), refresh_token, options.client_secret)
    finally:
        store.close()
    where = "" if options.store_url else " (relative to this directory: run login where the target runs)"
    notify(f"Refresh token kept in the store at {redact_url(store_url)}{where}, where the target finds its rotations.")

    client = _client(options.api_url, Credentials(access_token=access_token))
    accounts = [_account_row(item) for item in client.ad_accounts()]
    expires = reply.get("refresh_token_expires_in")
    return LoginResult(
        client_id=options.client_id,
        refresh_token=refresh_token,
        access_token=access_token,
        scope=scope,
        refresh_token_expires_in=int(expires) if isinstance(expires, (int, float)) else None,
        ad_accounts=accounts,
        api_url=options.api_url,
        store_url=store_url,
        store_url_given=options.store_url is not None,
        redirect_uri=redirect_uri,
    )


# -- output --------------------------------------------------------------------------------------


def accounts_table(accounts: Sequence[Mapping[str, str]]) -> str:
    """The ad accounts as a fixed-width table."""
    columns = ("id", "name", "currency", "country")
    rows = [list(columns)] + [[row.get(name, "") for name in columns] for row in accounts]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def login_text(result: LoginResult) -> str:
    """The settings block for a person: config JSON, ``meltano config`` lines, env var names."""
    settings = result.settings()
    out = []
    count = len(result.ad_accounts)
    if count == 1:
        only = result.ad_accounts[0]
        out.append(f"Connected. The token reaches one ad account: {only['id']} ({only['name']}).")
    elif count == 0:
        out.append("Connected, but the token reaches no ad account: ask for access to one, then set ad_account_id.")
    else:
        out.append(f"Connected. The token reaches {count} ad accounts; choose one as ad_account_id:")
        out.append("")
        out.append(accounts_table(result.ad_accounts).rstrip("\n"))
    if result.refresh_token_expires_in:
        days = result.refresh_token_expires_in // 86_400
        out.append(
            f"Pinterest says the refresh token is valid for {days} days; when Pinterest rotates it (continuous "
            "refresh), the target keeps each new one in its store. Otherwise run login again before then."
        )
    out += ["", "Settings (config JSON for target-pinterest-audiences):", json.dumps(settings, indent=2), ""]
    out.append("With Meltano:")
    out += [f"  meltano config {PLUGIN} set {name} {shlex.quote(value)}" for name, value in settings.items()]
    out += ["", "Or as environment variables:"]
    out += [f"  {ENV_PREFIX}{name.upper()}={shlex.quote(value)}" for name, value in settings.items()]
    return "\n".join(out) + "\n"


def login_json(result: LoginResult) -> str:
    """The same as one JSON object, for scripts."""
    settings = result.settings()
    document = {
        "settings": settings,
        "ad_accounts": result.ad_accounts,
        "ad_account_id": result.ad_account_id,
        "scope": result.scope,
        "refresh_token_expires_in": result.refresh_token_expires_in,
        "store_url": redact_url(result.store_url),
        "redirect_uri": result.redirect_uri,
        "meltano": [f"meltano config {PLUGIN} set {name} {shlex.quote(value)}" for name, value in settings.items()],
        "env": {f"{ENV_PREFIX}{name.upper()}": value for name, value in settings.items()},
    }
    return json.dumps(document, indent=2) + "\n"


# -- the command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Connect target-pinterest-audiences to a Pinterest account (OAuth), and list ad accounts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{login,ad-accounts}")
    env_note = f"Each credential also comes from {ENV_PREFIX}<NAME> or the --config file."

    login = commands.add_parser(
        "login",
        help="authorise the app in a browser; print the settings to use",
        description="Authorise your Pinterest app for ads:read and ads:write, keep the refresh token in the "
        f"target's store and print the settings to use. {env_note}",
    )
    login.add_argument("--client-id", help="your Pinterest app id")
    login.add_argument(
        "--client-secret",
        help=f"your Pinterest app secret, never printed (or set {ENV_PREFIX}CLIENT_SECRET: no shell history)",
    )
    login.add_argument(
        "--redirect-port",
        type=int,
        default=DEFAULT_REDIRECT_PORT,
        help="local port of http://localhost:PORT/callback, which must be a registered redirect URI of the app "
        f"(default {DEFAULT_REDIRECT_PORT}; 0 picks a free port)",
    )
    login.add_argument("--authorize-url", default=DEFAULT_AUTHORIZE_URL, help="Pinterest's consent page")
    login.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to wait (300)")
    login.add_argument("--no-browser", action="store_true", help="only print the URL; open it yourself")

    accounts = commands.add_parser(
        "ad-accounts",
        help="list the ad accounts a token reaches",
        description="List the ad accounts (id, name, currency, country) that an access token, or a refresh "
        f"token with client_id and client_secret, reaches. {env_note}",
    )
    accounts.add_argument("--access-token", help="a v5 access token")
    accounts.add_argument("--refresh-token", help="a refresh token (with --client-id and --client-secret)")
    accounts.add_argument("--client-id", help="your Pinterest app id")
    accounts.add_argument("--client-secret", help="your Pinterest app secret")

    for sub in (login, accounts):
        sub.add_argument("--api-url", help=f"Pinterest API base URL (default {DEFAULT_API_URL})")
        sub.add_argument(
            "--store-url",
            help="the target's store, where the refresh token and its rotations are kept "
            "(default: the target's, .target-pinterest-audiences/store.db)",
        )
        sub.add_argument("--config", help="a target config JSON file to take credentials from")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _login(args: argparse.Namespace, settings: Mapping[str, str], open_url: Callable[[str], object]) -> str:
    missing = [name for name in ("client_id", "client_secret") if not settings.get(name)]
    if missing:
        flags = " and ".join("--" + name.replace("_", "-") for name in missing)
        raise AuthError(f"login needs {flags} (or {ENV_PREFIX}{missing[0].upper()}, or --config)")
    if not 0 <= args.redirect_port <= 65_535:  # noqa: PLR2004
        raise AuthError("--redirect-port must be from 0 to 65535")
    if args.timeout <= 0:
        raise AuthError("--timeout must be a positive number of seconds")
    options = LoginOptions(
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
        api_url=settings.get("api_url", DEFAULT_API_URL),
        authorize_url=args.authorize_url,
        store_url=settings.get("store_url"),
        redirect_port=args.redirect_port,
        timeout=args.timeout,
        open_browser=not args.no_browser,
    )
    result = run_login(options, open_url=open_url)
    _stderr(
        "Warning: the refresh_token printed below is a secret. Put it into your secret store "
        "(meltano config ... set, which keeps secrets in .env; or your vault); never commit it."
    )
    return login_json(result) if args.json else login_text(result)


def _ad_accounts(args: argparse.Namespace, settings: Mapping[str, str]) -> str:
    api_url = settings.get("api_url", DEFAULT_API_URL)
    store: Store | None = None
    if settings.get("access_token"):
        credentials = Credentials(access_token=settings["access_token"])
    elif settings.get("refresh_token"):
        missing = [name for name in ("client_id", "client_secret") if not settings.get(name)]
        if missing:
            raise AuthError("a refresh token needs " + " and ".join("--" + name.replace("_", "-") for name in missing))
        credentials = Credentials(
            refresh_token=settings["refresh_token"],
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
        )
        # As the target does: use the latest rotation of this token and keep any new one.
        store = Store.open(settings.get("store_url") or default_store_url())
        follow_rotations(credentials, store)
    else:
        raise AuthError("ad-accounts needs --access-token, or --refresh-token with --client-id and --client-secret")
    try:
        accounts = [_account_row(item) for item in _client(api_url, credentials).ad_accounts()]
    finally:
        if store is not None:
            store.close()
    if args.json:
        return json.dumps(accounts, indent=2) + "\n"
    if not accounts:
        _stderr("The token reaches no ad account.")
    return accounts_table(accounts)


def run(
    argv: Sequence[str] | None = None,
    *,
    open_url: Callable[[str], object] = webbrowser.open,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run a command; return the exit code. Errors are one line on stderr."""
    out = stdout or sys.stdout
    args = _parser().parse_args(argv)
    try:
        config = load_config_file(args.config)
        flags = {name: getattr(args, name, None) for name in CREDENTIAL_SETTINGS}
        settings = resolve_settings(flags, config, os.environ if environ is None else environ)
        text = _login(args, settings, open_url) if args.command == "login" else _ad_accounts(args, settings)
    except (AuthError, AuthenticationError, PinterestError, StoreError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as exc:  # one line instead of a traceback
        if logger.isEnabledFor(logging.DEBUG):
            logger.exception("Unexpected error")
        return _fail(f"unexpected {type(exc).__name__}: {exc}")
    out.write(text)
    out.flush()
    return 0


def _fail(line: str) -> int:
    flat = " ".join(line.split())
    if len(flat) > MAX_LINE:
        flat = flat[: MAX_LINE - 1] + "…"
    _stderr(f"{PROG}: error: {flat}")
    return 1


def main() -> None:
    """Entry point of ``target-pinterest-audiences-auth``."""
    raise SystemExit(run())


if __name__ == "__main__":
    main()
