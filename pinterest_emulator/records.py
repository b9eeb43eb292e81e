"""The ``records`` string of a customer-list write, checked as Pinterest documents it.

Why: the target must send what Pinterest accepts (one comma-separated string; lowercase
emails, plain or hashed; MAIDs and IDFAs hashed), and a wrong record must fail in tests as
it would in production. Messages name a record's position, never its value.
"""

from __future__ import annotations

import re

from pinterest_emulator.errors import invalid

_HEX = re.compile(r"[0-9a-f]+")
_HASH_LENGTHS = frozenset({32, 40, 64})  # MD5, SHA-1, SHA-256 in hex
_MAX_EMAIL = 254


def _is_hashed(value: str) -> bool:
    return len(value) in _HASH_LENGTHS and _HEX.fullmatch(value) is not None


def _is_plain_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and domain) and "@" not in domain and len(value) <= _MAX_EMAIL


def parse_records(records: object, list_type: str) -> list[str]:
    """Split and check ``records`` as Pinterest documents them, without echoing values."""
    if not isinstance(records, str) or not records:
        msg = "records must be a non-empty string of comma-separated identifiers"
        raise invalid(msg)
    # The rules below are Pinterest's ([spec] customer_lists/create: lowercase emails, plain
    # or SHA-1/SHA-256/MD5 hashed; MAIDs and IDFAs hashed). Assumption: an empty record (a
    # trailing comma), whitespace, or a value of no hash's length refuses the whole request
    # with 400 code 1, rather than Pinterest skipping that record (undocumented).
    values = records.split(",")
    total = len(values)
    for number, value in enumerate(values, start=1):
        if _is_hashed(value):
            continue  # lowercase hex of a hash's length: right for every list type
        problem = None
        if not value:
            problem = "is empty"
        elif any(char.isspace() for char in value):
            problem = "contains whitespace"
        elif any(char.isupper() for char in value):
            problem = "contains an uppercase character"
        elif list_type in {"IDFA", "MAID"}:
            problem = f"is not a hashed {list_type} (MD5, SHA-1 or SHA-256 hex)"
        elif list_type == "EMAIL" and not _is_plain_email(value):
            problem = "is neither a lowercase email nor a hashed one (MD5, SHA-1, SHA-256 hex)"
        if problem:
            raise invalid(f"record {number} of {total} {problem}")
    return values
