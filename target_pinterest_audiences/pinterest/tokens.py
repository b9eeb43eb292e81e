"""Rotated refresh tokens, kept in the store encrypted so the store never holds a usable token.

Pinterest's continuous refresh tokens rotate: a refresh may answer with a new refresh token,
and the old one may stop working. The target keeps the newest one in its store, keyed by the
configured token (so a re-authorised config starts a new chain), and encrypts it with a key
derived from the client secret, which only the settings hold.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from target_pinterest_audiences.pinterest.client import Credentials
    from target_pinterest_audiences.store import Store

_INFO = b"target-pinterest-audiences refresh token"


def token_key(client_id: str, refresh_token: str) -> str:
    """Store key of the chain of refresh tokens that started from the configured one."""
    return hashlib.sha256(f"{client_id}:{refresh_token}".encode()).hexdigest()


def _cipher(client_secret: str, key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=key.encode(), info=_INFO).derive(client_secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def save_refresh_token(store: Store, key: str, token: str, client_secret: str) -> None:
    """Keep a refresh token, encrypted, under ``key``."""
    store.save_refresh_token(key, _cipher(client_secret, key).encrypt(token.encode()).decode())


def load_refresh_token(store: Store, key: str, client_secret: str) -> str | None:
    """The newest refresh token kept under ``key``; None when there is none it can decrypt."""
    sealed = store.refresh_token(key)
    if sealed is None:
        return None
    try:
        return _cipher(client_secret, key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        # Another client secret sealed it (the app's secret was reset): start from the config.
        return None


def follow_rotations(credentials: Credentials, store: Store) -> None:
    """Start from the newest rotation of the configured refresh token and keep every new one."""
    if not credentials.can_refresh:
        return
    client_id, secret = str(credentials.client_id), str(credentials.client_secret)
    key = token_key(client_id, str(credentials.refresh_token))
    credentials.refresh_token = load_refresh_token(store, key, secret) or credentials.refresh_token
    credentials.on_rotate = lambda token: save_refresh_token(store, key, token, secret)
