"""Tokens and OAuth: who may call the API, and the two OAuth endpoints that mint tokens.

Why: the target renews access tokens itself and must keep a rotated refresh token; the
connect helper runs the authorisation-code flow. Both need a Pinterest that hands out,
rotates and refuses tokens the way it documents. Tokens are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pinterest_emulator.errors import ApiError, invalid
from pinterest_emulator.paging import one

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pinterest_emulator.openapi_check import SpecValidator

# [docs] (PINTEREST.md, "OAuth"): access tokens last 30 days, continuous refresh tokens 60.
# Assumption: tokens never expire by time here, only by ``Faults.access_token_max_uses`` or
# revocation (tests cannot wait 30 days; a run never lasts that long).
ACCESS_TOKEN_TTL = 30 * 24 * 3600
REFRESH_TOKEN_TTL = 60 * 24 * 3600
SCOPE = "ads:read,ads:write"


class TokenUsedUpError(ApiError):
    """The 401 of an access token used ``Faults.access_token_max_uses`` times."""


def _redirect(redirect_uri: str, params: dict[str, str], query: dict[str, list[str]]) -> str:
    """The authorize redirect: ``redirect_uri`` with ``params`` and the request's ``state``."""
    state = one(query, "state")
    if state is not None:
        params = {**params, "state": state}
    parts = urlsplit(redirect_uri)
    joined = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=joined))


def consent_html(query: dict[str, list[str]]) -> bytes:
    """The page that asks the user to let the app reach their ad accounts: Allow or Deny."""
    carried = "".join(
        f'<input type="hidden" name="{html.escape(key, quote=True)}" value="{html.escape(values[0], quote=True)}">'
        for key, values in query.items()
        if values
    )
    scope = html.escape(one(query, "scope") or "")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pinterest emulator: give access</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 4em auto">
<h1>Give access to your Pinterest account?</h1>
<p>An app (client id {html.escape(one(query, "client_id") or "")}) asks for: <strong>{scope}</strong>.</p>
<p>This is the local Pinterest emulator: nothing leaves this machine.</p>
<form action="/oauth/allow" method="get" style="display: inline">
{carried}<button type="submit" id="allow">Allow</button></form>
<form action="/oauth/deny" method="get" style="display: inline">
{carried}<button type="submit" id="deny">Deny</button></form>
</body></html>"""
    return page.encode()


def _unauthorized() -> ApiError:
    return ApiError(401, 2, "Authentication failed.")


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from an HTTP Basic header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


class Tokens:
    """The app's credentials and the access tokens, refresh tokens and codes that work."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        access_tokens: Iterable[str],
        refresh_tokens: Iterable[str],
        rotate_refresh_tokens: bool,
    ) -> None:
        """Hold the given tokens; more are minted by the OAuth endpoints."""
        self.client_id = client_id
        self._client_secret = client_secret
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self._lock = threading.Lock()
        self._access: set[str] = set(access_tokens)
        self._refresh: set[str] = set(refresh_tokens)
        self._codes: dict[str, str] = {}
        self._uses: dict[str, int] = {}

    @property
    def refresh_tokens(self) -> frozenset[str]:
        """The refresh tokens that currently work."""
        with self._lock:
            return frozenset(self._refresh)

    def add_access_token(self, token: str) -> None:
        """Make a minted access token work."""
        with self._lock:
            self._access.add(token)

    def revoke_access_token(self, token: str) -> None:
        """Make an access token fail with 401."""
        with self._lock:
            self._access.discard(token)

    def revoke_refresh_token(self, token: str) -> None:
        """Make a refresh token fail."""
        with self._lock:
            self._refresh.discard(token)

    def reset_uses(self) -> None:
        """Start counting access-token uses again (a new ``Faults`` was assigned)."""
        with self._lock:
            self._uses.clear()

    def authenticate(self, header: str | None, max_uses: int | None) -> None:
        """Count a use of the ``Authorization: Bearer`` token, or refuse with 401 code 2."""
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        with self._lock:
            if scheme.lower() != "bearer" or token not in self._access:
                raise _unauthorized()
            if max_uses is not None and self._uses.get(token, 0) >= max_uses:
                raise TokenUsedUpError(401, 2, "Authentication failed.")
            self._uses[token] = self._uses.get(token, 0) + 1

    def authorize(self, query: dict[str, list[str]]) -> str:
        """Approve an authorisation request at once, as a consenting user would: the redirect."""
        if one(query, "client_id") != self.client_id:
            raise invalid("Invalid client_id")
        redirect_uri = one(query, "redirect_uri")
        if not redirect_uri or one(query, "response_type") != "code":
            raise invalid("redirect_uri and response_type=code are required")
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = redirect_uri
        return _redirect(redirect_uri, {"code": code}, query)

    def deny(self, query: dict[str, list[str]]) -> str:
        """The redirect of a user who pressed Deny: ``error=access_denied`` (RFC 6749 4.1.2.1)."""
        redirect_uri = one(query, "redirect_uri")
        if not redirect_uri:
            raise invalid("redirect_uri is required")
        return _redirect(redirect_uri, {"error": "access_denied"}, query)

    def exchange(
        self,
        headers: dict[str, str],
        body: object,
        spec: SpecValidator | None,
        issue_access_token: Callable[[], str],
    ) -> dict[str, Any]:
        """Answer ``POST /oauth/token`` (refresh or authorisation code) with a new access token."""
        credentials = basic_credentials(headers.get("Authorization"))
        if credentials is None or not (
            hmac.compare_digest(credentials[0], self.client_id)
            and hmac.compare_digest(credentials[1], self._client_secret)
        ):
            raise _unauthorized()
        if spec is not None:
            spec.validate("OauthAccessTokenRequest", body)
        if not isinstance(body, dict):
            msg = "A form-encoded body with grant_type is required"
            raise invalid(msg)
        answer: dict[str, Any] = {"token_type": "bearer", "expires_in": ACCESS_TOKEN_TTL, "scope": SCOPE}
        with self._lock:
            new_refresh = self._grant(body, answer)
            if new_refresh:
                refresh = f"pinr_{secrets.token_urlsafe(24)}"
                self._refresh.add(refresh)
                answer["refresh_token"] = refresh
                answer["refresh_token_expires_in"] = REFRESH_TOKEN_TTL
                answer["refresh_token_expires_at"] = int(time.time()) + REFRESH_TOKEN_TTL
        answer["access_token"] = issue_access_token()
        return answer

    def _grant(self, body: dict[str, Any], answer: dict[str, Any]) -> bool:
        """Check the grant (lock held), note its ``response_type``; True if a refresh token is due."""
        grant_type = body.get("grant_type")
        # Assumption: a bad grant (unknown, revoked or rotated-out refresh token, a used code)
        # is 400 code 1, as OAuth's invalid_grant, not 401 (undocumented: the spec gives only a
        # default Error); with rotation the old refresh token stops at once (PINTEREST.md: "the
        # old one may stop working").
        if grant_type == "refresh_token":
            old = body.get("refresh_token")
            if old not in self._refresh:
                msg = "Invalid refresh token."
                raise invalid(msg)
            answer["response_type"] = "refresh_token"
            if self.rotate_refresh_tokens:
                self._refresh.discard(old)
                return True
            return False
        if grant_type == "authorization_code":
            expected = self._codes.pop(str(body.get("code")), None)
            if expected is None or expected != body.get("redirect_uri"):
                msg = "Invalid authorization code or redirect_uri."
                raise invalid(msg)
            answer["response_type"] = "authorization_code"
            return True
        msg = "Unsupported grant_type"
        raise invalid(msg)
