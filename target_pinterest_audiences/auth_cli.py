"""``target-pinterest-audiences-auth``: connect a Pinterest account once, without reading API docs.

``login`` runs Pinterest's OAuth authorisation-code flow against a one-shot HTTP server on
loopback: it prints (and opens) the authorisation URL, catches the redirect at
``http://localhost:<port>/callback``, checks ``state``, exchanges the code (``pinterest.oauth``,
the exchange the client shares), keeps the refresh token in the target's store under the key
the target looks it up by, lists the ad accounts the token reaches, and prints the settings
to use. ``ad-accounts`` lists the ad accounts a token reaches, for choosing ``ad_account_id``.

Settings are read as the target reads them (``settings.resolve``: the ``--config`` file, then
``TARGET_PINTEREST_AUDIENCES_<NAME>`` variables on top), with this command's flags above both.

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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qs, urlsplit

from target_pinterest_audiences import settings as target_settings
from target_pinterest_audiences.pinterest.client import (
    DEFAULT_API_URL,
    AuthenticationError,
    Credentials,
    PinterestClient,
    PinterestError,
)
from target_pinterest_audiences.pinterest.oauth import (
    DEFAULT_AUTHORIZE_URL,
    SCOPES,
    OAuthError,
    TokenReply,
    authorization_url,
    exchange_code,
)
from target_pinterest_audiences.pinterest.tokens import follow_rotations, save_refresh_token, token_key
from target_pinterest_audiences.store import Store, StoreError, default_store_url, redact_url

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

PROG = "target-pinterest-audiences-auth"
PLUGIN = "target-pinterest-audiences"
ENV_PREFIX = target_settings.ENV_PREFIX
SECRET_VARIABLE = ENV_PREFIX + "CLIENT_SECRET"
DEFAULT_REDIRECT_PORT = 8085
DEFAULT_TIMEOUT_SECONDS = 300.0
CALLBACK_PATH = "/callback"
CHOOSE_PLACEHOLDER = "<one of the ad account ids listed above>"
#: How long one call to Pinterest may keep being retried here: a person is waiting.
MAX_RETRY_SECONDS = 20.0
MAX_LINE = 500
#: Wrong settings, flags or --config file, as the target says it (cli.USAGE_ERROR).
USAGE_ERROR = 2
#: Settings that may come from flags, ``TARGET_PINTEREST_AUDIENCES_<NAME>`` or ``--config``.
CREDENTIAL_SETTINGS = ("client_id", "client_secret", "access_token", "refresh_token", "api_url", "store_url")

logger = logging.getLogger(__name__)


class AuthError(Exception):
    """A failure a user can act on; ``str()`` is one line without tokens or secrets."""


class UsageError(AuthError):
    """A flag or setting is missing or wrong: nothing was sent (exit 2, as the target's)."""


# -- settings from flags, environment and a config file --------------------------------------


def resolve_settings(
    flags: Mapping[str, object], config_file: str | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """Each credential setting as the target would read it, a flag given here winning over both."""
    resolved = target_settings.resolve([config_file] if config_file else [], environ)
    for name in CREDENTIAL_SETTINGS:
        value = flags.get(name)
        if value not in (None, ""):
            resolved[name] = value
    return {name: str(resolved[name]) for name in CREDENTIAL_SETTINGS if resolved.get(name) not in (None, "")}


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
    secret_in_environment: bool = False

    def __repr__(self) -> str:
        """Never show a token."""
        return f"LoginResult(client_id={self.client_id!r}, ad_accounts={len(self.ad_accounts)}, ...)"

    @property
    def ad_account_id(self) -> str | None:
        """The ad account to use when the token reaches exactly one."""
        return self.ad_accounts[0]["id"] if len(self.ad_accounts) == 1 else None

    def settings(self) -> dict[str, str]:
        """The target's settings to use, without the client secret (never printed; see ``secret_lines``)."""
        values = {
            "client_id": self.client_id,
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
    """What the one redirect carried (set by the callback handler, or from a pasted address)."""

    code: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, query: Mapping[str, list[str]], expected_state: str | None) -> tuple[str, str] | None:
        """Keep the redirect's code or error, once; the page's title and text, or None when already done.

        ``expected_state`` None: a bare code was pasted, with no state to check.
        """

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        with self.lock:
            if self.done.is_set():
                return None
            error = one("error")
            if error is not None:
                description = one("error_description")
                detail = _clean(error) + (f" ({_clean(description)})" if description else "")
                self.error = f"Pinterest did not authorise the app: {detail}; run login again and choose Allow"
                page = "Authorisation failed", f"Pinterest answered: {detail}. Return to the terminal."
            elif expected_state is not None and not secrets.compare_digest(
                (one("state") or "").encode(), expected_state.encode()
            ):
                self.error = (
                    "the redirect's state does not match this login (a stale or forged redirect); run login again"
                )
                page = "Authorisation failed", "The redirect does not belong to this login. Return to the terminal."
            elif not one("code"):
                self.error = "Pinterest's redirect carries no authorisation code; run login again"
                page = "Authorisation failed", "The redirect carries no code. Return to the terminal."
            else:
                self.code = one("code")
                page = "Pinterest is connected", "You can close this window: the terminal shows the settings to use."
            self.done.set()
            return page

    def take_pasted(self, line: str, expected_state: str) -> None:
        """A pasted line: the address the browser was sent to (state checked), or the bare code."""
        text = line.strip()
        if not text:
            return
        if "?" in text or "://" in text:
            self.take(parse_qs(urlsplit(text).query, keep_blank_values=True), expected_state)
        else:
            self.take({"code": [text]}, None)


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
        page = redirect.take(parse_qs(parts.query, keep_blank_values=True), self.server.expected_state)
        if page is None:
            self._answer(200, "Already done", "This login has already finished. You can close this window.")
            return
        self._answer(200 if redirect.error is None else 400, *page)

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


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _client(api_url: str, credentials: Credentials) -> PinterestClient:
    return PinterestClient(api_url, credentials, max_retry_seconds=MAX_RETRY_SECONDS)


def _exchange(options: LoginOptions, code: str, redirect_uri: str) -> TokenReply:
    """The code for tokens; a refusal says what to check and to log in again, never a secret."""
    client = _client(options.api_url, Credentials(client_id=options.client_id))
    try:
        return exchange_code(client, options.client_id, options.client_secret, code, redirect_uri)
    except PinterestError as exc:
        plain = PinterestError.__str__(exc)
        if exc.status == 401:  # noqa: PLR2004 - Pinterest's answer to wrong client credentials
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


def _account_row(item: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(item.get(name) or "") for name in ("id", "name", "currency", "country")}


def _read_pasted(redirect: _Redirect, state: str, read_line: Callable[[], str]) -> None:
    """Take pasted lines until one settles the login or the input ends (then the callback may still come)."""
    while not redirect.done.is_set():
        try:
            line = read_line()
        except (OSError, ValueError):
            return
        if not line:
            return
        redirect.take_pasted(line, state)


def run_login(
    options: LoginOptions,
    *,
    open_url: Callable[[str], object] = webbrowser.open,
    notify: Callable[[str], None] = _stderr,
    read_line: Callable[[], str] | None = None,
) -> LoginResult:
    """Run the whole flow; ``open_url`` gets the authorisation URL (tests fetch it themselves).

    Without a browser (``open_browser`` false) the redirect may also be pasted: ``read_line``
    (stdin by default) gives the address the browser was sent to, or the code alone, while the
    local callback keeps listening for a browser that reaches it through an SSH tunnel.
    """
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
        else:
            notify(
                "No browser here? Open the URL on any machine, allow access, then paste here the address the "
                "browser was sent to (it may show an error page), or its code, and press Enter."
            )
            reader = threading.Thread(
                target=_read_pasted,
                args=(server.redirect, state, read_line or sys.stdin.readline),
                name="paste",
                daemon=True,
            )
            reader.start()
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
    tokens = _exchange(options, redirect.code, redirect_uri)
    refresh_token = str(tokens.refresh_token)
    if tokens.lacks_scopes:
        notify(f"Warning: Pinterest granted the scopes {tokens.scope!r}; the target needs {', '.join(SCOPES)}.")

    store_url = options.store_url or default_store_url()
    store = Store.open(store_url)
    try:
        key = token_key(options.client_id, refresh_token)
        save_refresh_token(store, key, refresh_token, options.client_secret, tokens.refresh_token_expires_at)
    finally:
        store.close()
    where = "" if options.store_url else " (relative to this directory: run login where the target runs)"
    notify(f"Refresh token kept in the store at {redact_url(store_url)}{where}, where the target finds its rotations.")

    client = _client(options.api_url, Credentials(access_token=tokens.access_token))
    accounts = [_account_row(item) for item in client.ad_accounts()]
    return LoginResult(
        client_id=options.client_id,
        refresh_token=refresh_token,
        access_token=tokens.access_token,
        scope=tokens.scope,
        refresh_token_expires_in=tokens.refresh_token_expires_in,
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


def meltano_lines(result: LoginResult) -> list[str]:
    """``meltano config set`` commands that run as printed (Meltano 4.4's form).

    The secret is never printed: its line takes it from the variable the user exported, the
    same one the target and this command read.
    """
    lines = [f"meltano config set {PLUGIN} {name} {shlex.quote(value)}" for name, value in result.settings().items()]
    return [*lines, f'meltano config set {PLUGIN} client_secret "${SECRET_VARIABLE}"']


def export_lines(result: LoginResult) -> list[str]:
    """The same settings as shell ``export`` lines (the secret stays in its own variable)."""
    return [f"export {ENV_PREFIX}{name.upper()}={shlex.quote(value)}" for name, value in result.settings().items()]


def _secret_note(result: LoginResult) -> str:
    if result.secret_in_environment:
        return f"client_secret is read from {SECRET_VARIABLE}, as the target reads it: keep it exported."
    return (
        f"client_secret was given as a flag: export {SECRET_VARIABLE}=<your app secret> first; the target reads "
        "it from there (or add it to the config file yourself)."
    )


def login_text(result: LoginResult) -> str:
    """The settings block for a person: config JSON, ``meltano config set`` lines, ``export`` lines."""
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
    out += ["", _secret_note(result), ""]
    out += ["Settings (a config JSON file for target-pinterest-audiences --config):"]
    out += [json.dumps(result.settings(), indent=2), ""]
    out += ["With Meltano, in your project:", *(f"  {line}" for line in meltano_lines(result)), ""]
    out += ["Or as environment variables:", *(f"  {line}" for line in export_lines(result))]
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
        "client_secret_variable": SECRET_VARIABLE,
        "meltano": meltano_lines(result),
        "env": {f"{ENV_PREFIX}{name.upper()}": value for name, value in settings.items()},
    }
    return json.dumps(document, indent=2) + "\n"


# -- the command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Connect target-pinterest-audiences to a Pinterest account (OAuth), and list ad accounts. "
        "login authorises your Pinterest app once, keeps the refresh token in the target's store and prints "
        "the settings to use; ad-accounts lists the ad accounts a token reaches, to choose ad_account_id.",
        epilog=f"Each command's own --help lists its options. Credentials also come from {ENV_PREFIX}<NAME> "
        "variables or a --config file, as the target reads them. Exit status: 0 done; 2 wrong flags or "
        f"settings; 1 failed. More: {target_settings.README}.",
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
    login.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser: print the URL, then paste the address Pinterest redirected to (or its code) "
        "on stdin; the local callback keeps listening too (an SSH tunnel: ssh -L PORT:localhost:PORT server)",
    )

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


def _login(
    args: argparse.Namespace, settings: Mapping[str, str], environ: Mapping[str, str], open_url: Callable[[str], object]
) -> str:
    missing = [name for name in ("client_id", "client_secret") if not settings.get(name)]
    if missing:
        flags = " and ".join("--" + name.replace("_", "-") for name in missing)
        raise UsageError(f"login needs {flags} (or {ENV_PREFIX}{missing[0].upper()}, or --config)")
    if not 0 <= args.redirect_port <= 65_535:  # noqa: PLR2004
        raise UsageError("--redirect-port must be from 0 to 65535")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
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
    result.secret_in_environment = not args.client_secret and bool(environ.get(SECRET_VARIABLE))
    _stderr(
        "Warning: the refresh_token printed below is a secret. Put it into your secret store "
        "(meltano config set, which keeps secrets in .env; or your vault); never commit it."
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
            raise UsageError("a refresh token needs " + " and ".join("--" + name.replace("_", "-") for name in missing))
        credentials = Credentials(
            refresh_token=settings["refresh_token"],
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
        )
        # As the target does: use the latest rotation of this token and keep any new one.
        store = Store.open(settings.get("store_url") or default_store_url())
        follow_rotations(credentials, store)
    else:
        raise UsageError("ad-accounts needs --access-token, or --refresh-token with --client-id and --client-secret")
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
    environ = os.environ if environ is None else environ
    try:
        flags = {name: getattr(args, name, None) for name in CREDENTIAL_SETTINGS}
        settings = resolve_settings(flags, args.config, environ)
        text = _login(args, settings, environ, open_url) if args.command == "login" else _ad_accounts(args, settings)
    except (target_settings.ConfigFileError, target_settings.SettingsError, UsageError) as exc:
        return _fail(str(exc), code=USAGE_ERROR)
    except (AuthError, OAuthError, AuthenticationError, PinterestError, StoreError, ValueError) as exc:
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


def _fail(line: str, code: int = 1) -> int:
    flat = " ".join(line.split())
    if len(flat) > MAX_LINE:
        flat = flat[: MAX_LINE - 1] + "…"
    _stderr(f"{PROG}: error: {flat}")
    return code


def main() -> None:
    """Entry point of ``target-pinterest-audiences-auth``."""
    raise SystemExit(run())


if __name__ == "__main__":
    main()
