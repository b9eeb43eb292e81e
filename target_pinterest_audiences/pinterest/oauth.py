"""Pinterest's OAuth 2.0 exchange: the consent URL and the two grants at ``{api_url}/oauth/token``.

A small library that ``target-pinterest-audiences-auth`` (the authorisation-code grant) and the
client (the refresh grant) share, so both send the token request Pinterest documents: HTTP
Basic ``client_id:client_secret`` and a form-encoded body (PINTEREST.md, OAuth). It holds no
state, reads no settings and imports nothing of the client at run time (the client can import
it); errors are one line without a token, a code or the secret.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from target_pinterest_audiences.pinterest.client import PinterestClient

#: Where Pinterest asks the user for consent (PINTEREST.md, OAuth).
DEFAULT_AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
#: What the target needs: reading lists and writing them.
SCOPES = ("ads:read", "ads:write")
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
CODE_OPERATION = "exchanging the authorisation code for tokens"
REFRESH_OPERATION = "refreshing the access token"


class OAuthError(Exception):
    """A grant Pinterest refused or answered oddly; ``str()`` says what to check, never a secret."""


@dataclass(frozen=True)
class TokenReply:
    """What a token request gave; tokens are kept out of ``repr``."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    scope: str
    refresh_token_expires_in: int | None
    refresh_token_expires_at: int | None = None

    @property
    def granted(self) -> frozenset[str]:
        """The scopes Pinterest granted (its ``scope`` separates them by commas or spaces)."""
        return frozenset(item for item in self.scope.replace(" ", ",").split(",") if item)

    @property
    def lacks_scopes(self) -> bool:
        """True when Pinterest named the scopes it granted and the target's are not all among them."""
        return bool(self.scope) and not set(SCOPES) <= self.granted


def authorization_url(authorize_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Pinterest's consent URL for the ads scopes, keeping any query ``authorize_url`` already has."""
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


def code_grant(code: str, redirect_uri: str) -> dict[str, str]:
    """The form of the authorisation-code grant; ``redirect_uri`` must be the one the consent used."""
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}


def refresh_grant(refresh_token: str) -> dict[str, str]:
    """The form of the refresh grant."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def rotated_refresh_token(reply: object, current: str | None) -> str | None:
    """The new refresh token a refresh reply carries (continuous refresh), or None when it did not rotate."""
    token = reply.get("refresh_token") if isinstance(reply, Mapping) else None
    return token if isinstance(token, str) and token and token != current else None


def refresh_token_expires_at(reply: object, now: float | None = None) -> int | None:
    """When the refresh token of a reply ends (Unix seconds), or None when the reply does not say.

    Pinterest sends ``refresh_token_expires_at``, and ``refresh_token_expires_in`` (seconds
    from now) with it; either will do (PINTEREST.md, OAuth).
    """
    if not isinstance(reply, Mapping):
        return None
    at = reply.get("refresh_token_expires_at")
    if isinstance(at, (int, float)) and not isinstance(at, bool) and at > 0:
        return int(at)
    within = reply.get("refresh_token_expires_in")
    if isinstance(within, (int, float)) and not isinstance(within, bool) and within > 0:
        return int((time.time() if now is None else now) + within)
    return None


def token_reply(reply: object, operation: str) -> TokenReply:
    """Read a token reply; a reply without an access token means ``api_url`` is not Pinterest's v5 API."""
    access = reply.get("access_token") if isinstance(reply, Mapping) else None
    if not isinstance(reply, Mapping) or not isinstance(access, str) or not access:
        raise OAuthError(
            f"Pinterest's reply to {operation} carries no access_token; check that api_url points at Pinterest's "
            "v5 API (it ends in /v5)"
        )
    refresh = reply.get("refresh_token")
    expires = reply.get("refresh_token_expires_in")
    return TokenReply(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=str(reply.get("scope") or ""),
        refresh_token_expires_in=int(expires) if isinstance(expires, (int, float)) else None,
        refresh_token_expires_at=refresh_token_expires_at(reply),
    )


def exchange_code(
    client: PinterestClient, client_id: str, client_secret: str, code: str, redirect_uri: str
) -> TokenReply:
    """Trade an authorisation code for tokens through ``client`` (its retries and errors).

    A refusal is the client's ``PinterestError``; what to tell a person about it is the
    caller's (``auth_cli``). A reply without both tokens is an ``OAuthError``.
    """
    reply: Any = client.request(
        "POST", TOKEN_PATH, CODE_OPERATION, data=code_grant(code, redirect_uri), auth=(client_id, client_secret)
    )
    tokens = token_reply(reply, CODE_OPERATION)
    if tokens.refresh_token is None:
        raise OAuthError(
            f"Pinterest's reply to {CODE_OPERATION} carries no refresh_token; check that api_url points at "
            "Pinterest's v5 API (it ends in /v5)"
        )
    return tokens
