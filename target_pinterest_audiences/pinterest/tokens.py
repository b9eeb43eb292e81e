"""Rotated refresh tokens, kept in the store encrypted so the store never holds a usable token.

Pinterest's continuous refresh tokens rotate: a refresh may answer with a new refresh token,
and the old one may stop working. The target keeps the newest one in its store, keyed by the
configured token (so a re-authorised config starts a new chain), and encrypts it with a key
derived from the client secret, which only the settings hold. When Pinterest says when the
token ends (``refresh_token_expires_at``), that is sealed with it: a run warns in time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from target_pinterest_audiences.pinterest.client import Credentials
    from target_pinterest_audiences.store import Store

_INFO = b"target-pinterest-audiences refresh token"
#: A refresh token that ends within this many days is worth a warning at every run.
WARN_DAYS = 14
RELOGIN = "run target-pinterest-audiences-auth login again and update refresh_token"


class RefreshTokenEndedError(Exception):
    """The refresh token the store holds has ended: only a new login helps."""


def token_key(client_id: str, refresh_token: str) -> str:
    """Store key of the chain of refresh tokens that started from the configured one."""
    return hashlib.sha256(f"{client_id}:{refresh_token}".encode()).hexdigest()


def _cipher(client_secret: str, key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=key.encode(), info=_INFO).derive(client_secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def save_refresh_token(store: Store, key: str, token: str, client_secret: str, expires_at: int | None = None) -> None:
    """Keep a refresh token, encrypted, under ``key``, with when it ends when that is known."""
    plain = json.dumps({"token": token, "expires_at": expires_at}) if expires_at else token
    store.save_refresh_token(key, _cipher(client_secret, key).encrypt(plain.encode()).decode())


def load_refresh(store: Store, key: str, client_secret: str) -> tuple[str, int | None] | None:
    """The newest refresh token kept under ``key`` and when it ends; None when there is none it can decrypt."""
    sealed = store.refresh_token(key)
    if sealed is None:
        return None
    try:
        plain = _cipher(client_secret, key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        # Another client secret sealed it (the app's secret was reset): start from the config.
        return None
    if not plain.startswith("{"):
        return plain, None  # sealed by a version that kept the token alone
    document = json.loads(plain)
    expires_at = document.get("expires_at")
    return str(document["token"]), int(expires_at) if isinstance(expires_at, (int, float)) else None


def load_refresh_token(store: Store, key: str, client_secret: str) -> str | None:
    """The newest refresh token kept under ``key``; None when there is none it can decrypt."""
    found = load_refresh(store, key, client_secret)
    return found[0] if found else None


def days_left(credentials: Credentials, now: float | None = None) -> float | None:
    """Days until the refresh token ends (negative: it has ended), or None when nobody said."""
    if credentials.refresh_token_expires_at is None or not credentials.can_refresh:
        return None
    return (credentials.refresh_token_expires_at - (time.time() if now is None else now)) / 86_400


def ends_on(credentials: Credentials) -> str:
    """The day the refresh token ends, as an ISO date (UTC)."""
    return datetime.fromtimestamp(credentials.refresh_token_expires_at or 0, tz=timezone.utc).date().isoformat()


def check_not_ended(credentials: Credentials) -> None:
    """Before any request: a refresh token known to have ended stops the run with what to do."""
    left = days_left(credentials)
    if left is not None and left <= 0:
        raise RefreshTokenEndedError(f"the Pinterest refresh token ended on {ends_on(credentials)}; {RELOGIN}")


def ending_soon(credentials: Credentials) -> str | None:
    """A warning when the refresh token ends within WARN_DAYS, else None."""
    left = days_left(credentials)
    if left is None or left > WARN_DAYS or left <= 0:
        return None
    return (
        f"The Pinterest refresh token ends on {ends_on(credentials)} (in {left:.0f} days) unless Pinterest renews "
        f"it (continuous refresh renews it at each renewal of the access token); if it is not renewed, {RELOGIN}."
    )


def follow_rotations(credentials: Credentials, store: Store) -> None:
    """Start from the newest rotation of the configured refresh token and keep every new one."""
    if not credentials.can_refresh:
        return
    client_id, secret = str(credentials.client_id), str(credentials.client_secret)
    key = token_key(client_id, str(credentials.refresh_token))
    found = load_refresh(store, key, secret)
    if found is not None:
        credentials.refresh_token, credentials.refresh_token_expires_at = found
    # The client sets refresh_token_expires_at from the same reply before it calls this.
    credentials.on_rotate = lambda token: save_refresh_token(
        store, key, token, secret, credentials.refresh_token_expires_at
    )
