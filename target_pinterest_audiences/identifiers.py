"""Identifier normalisation and hashing: the only place a raw identifier is read.

Pinterest matches customer-list members by email, IDFA or Android advertising id (MAID).
Emails may be sent plain or hashed; mobile ids must be hashed (Pinterest v5 spec,
``CustomerListRequest.records``). We always send lowercase SHA-256 hex, so no raw value
ever leaves the process, and pass through values the input already hashed.

Pinterest hashes what it matches against as its help centre says ("Audience targeting"):
"IDFAs (iOS) must be uppercase and AAIDs (Android) lowercase", emails lowercase. An IDFA
hashed from its lowercase form matches nobody (issue 24: versions before schema 7 did that).
"""

from __future__ import annotations

import hashlib
import re

EMAIL = "EMAIL"
IDFA = "IDFA"
MAID = "MAID"
LIST_TYPES = (EMAIL, IDFA, MAID)

#: MD5, SHA-1 and SHA-256 hex digests: the hashes Pinterest accepts (spec, ``records``).
HASHED_LENGTHS = frozenset({32, 40, 64})
#: RFC 5321 caps a forward path at 256 octets, so an address at 254 characters.
MAX_EMAIL_LENGTH = 254
#: IDFAs and Android advertising ids are 36-character UUIDs; leave room for odd vendors.
MAX_MOBILE_ID_LENGTH = 128

_HEX = re.compile(r"[0-9a-f]+")
#: One @ with text on both sides and no whitespace anywhere: what the contract asks of an email.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_sha256 = hashlib.sha256


class InvalidIdentifierError(ValueError):
    """An identifier that cannot be used.

    Its message is a short fixed phrase (the report counts identifiers dropped by it), never
    the value.
    """


def is_hashed(value: str) -> bool:
    """Tell whether a normalised value already is an MD5, SHA-1 or SHA-256 hex digest."""
    return len(value) in HASHED_LENGTHS and _HEX.fullmatch(value) is not None


def _check_email(value: str) -> None:
    if len(value) > MAX_EMAIL_LENGTH:
        msg = f"email longer than {MAX_EMAIL_LENGTH} characters"
        raise InvalidIdentifierError(msg)
    if _EMAIL.fullmatch(value) is None:
        msg = "email is not an address (one @ with text on both sides, no spaces)"
        raise InvalidIdentifierError(msg)


def hash_identifier(list_type: str, value: object) -> str:
    """Return the lowercase SHA-256 hex of a normalised identifier, or the given hash.

    Normalisation (trim; an IDFA uppercase, an email or MAID lowercase) comes first, so
    `` A@B.com `` and ``a@b.com`` are one member, as are an IDFA in either case. A value that
    already is a hash is lowercased and passed through. Raises :class:`InvalidIdentifierError`
    for a value that is not usable.
    """
    if not isinstance(value, str):
        msg = f"{list_type.lower()} is not a string"
        raise InvalidIdentifierError(msg)
    normalised = value.strip().lower()
    if not normalised:
        msg = f"{'email' if list_type == EMAIL else list_type} is empty"
        raise InvalidIdentifierError(msg)
    if list_type != EMAIL and "0" in normalised and not normalised.strip("0-"):
        # iOS and Android report the all-zeros id when the user limits ad tracking: it is
        # shared by millions of devices and matches no one. Checked before the hash test,
        # as 32 zeros would otherwise pass for an MD5.
        msg = f"{list_type} is the all-zeros id of a device that limits ad tracking"
        raise InvalidIdentifierError(msg)
    if is_hashed(normalised):
        return normalised
    if list_type == EMAIL:
        _check_email(normalised)
    elif len(normalised) > MAX_MOBILE_ID_LENGTH:
        msg = f"{list_type} longer than {MAX_MOBILE_ID_LENGTH} characters"
        raise InvalidIdentifierError(msg)
    if list_type == IDFA:
        normalised = normalised.upper()
    try:
        encoded = normalised.encode()
    except UnicodeEncodeError:
        # A lone surrogate, which a JSON escape (\ud800) can carry: no UTF-8, so no hash
        # Pinterest could match.
        msg = f"{'email' if list_type == EMAIL else list_type} is not valid Unicode"
        raise InvalidIdentifierError(msg) from None
    return _sha256(encoded).hexdigest()
