"""Unit tests of identifier normalisation and hashing."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from target_pinterest_audiences.identifiers import (
    EMAIL,
    IDFA,
    LIST_TYPES,
    MAID,
    MAX_EMAIL_LENGTH,
    MAX_MOBILE_ID_LENGTH,
    InvalidIdentifierError,
    hash_identifier,
    is_hashed,
)

HEX = "0123456789abcdef"
IDFA_RAW = "6D92078A-8246-4BA4-AE5B-76104861E7DC"


def sha(value: str, list_type: str = EMAIL) -> str:
    """The contract's rule, written out here: trim; an IDFA uppercase, others lowercase; SHA-256."""
    trimmed = value.strip()
    normalised = trimmed.upper() if list_type == IDFA else trimmed.lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


# -- hashing ------------------------------------------------------------------------------


def test_email_is_sha256_of_trimmed_lowercase() -> None:
    assert hash_identifier(EMAIL, "  Jane.Doe@Example.COM \n") == hashlib.sha256(b"jane.doe@example.com").hexdigest()


def test_email_hash_known_value() -> None:
    # Independent of the helper: the SHA-256 of "a@b.c".
    assert hash_identifier(EMAIL, "a@b.c") == hashlib.sha256(b"a@b.c").hexdigest()
    assert hash_identifier(EMAIL, "A@B.C") == hash_identifier(EMAIL, "a@b.c")


def test_maid_is_sha256_of_trimmed_lowercase() -> None:
    expected = hashlib.sha256(IDFA_RAW.lower().encode()).hexdigest()
    assert hash_identifier(MAID, f"\t{IDFA_RAW}  ") == expected
    assert hash_identifier(MAID, IDFA_RAW.lower()) == expected


def test_idfa_is_sha256_of_trimmed_uppercase() -> None:
    # Pinterest's help centre ("Audience targeting"): "IDFAs (iOS) must be uppercase" before
    # hashing. The SHA-256 of "6D92078A-8246-4BA4-AE5B-76104861E7DC", computed once with
    # hashlib and written down, so the test does not depend on the code it checks.
    expected = "2afcf919a0c1953d177fcb412ea65138b44b4a42dda7d322225811767c0c530c"
    assert hash_identifier(IDFA, f"\t{IDFA_RAW}  ") == expected
    assert hash_identifier(IDFA, IDFA_RAW.lower()) == expected
    # What versions before schema 7 sent (the lowercase form's hash), matched by nobody:
    assert hash_identifier(IDFA, IDFA_RAW) != "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"


def test_list_types_are_the_three_pinterest_types() -> None:
    assert LIST_TYPES == ("EMAIL", "IDFA", "MAID")


# -- already hashed -----------------------------------------------------------------------


@pytest.mark.parametrize("length", [32, 40, 64])
@pytest.mark.parametrize("list_type", [EMAIL, IDFA, MAID])
def test_hex_of_hash_lengths_passes_through(list_type: str, length: int) -> None:
    value = ("0123456789abcdef" * 4)[:length]
    assert hash_identifier(list_type, value) == value


@pytest.mark.parametrize("length", [32, 40, 64])
def test_uppercase_hex_is_lowercased_not_rehashed(length: int) -> None:
    value = hashlib.sha256(b"x").hexdigest()[:length]
    assert hash_identifier(EMAIL, " " + value.upper() + " ") == value


def test_md5_and_sha1_pass_through() -> None:
    md5 = hashlib.md5(b"a@b.c").hexdigest()  # noqa: S324 - what a tap may have sent
    sha1 = hashlib.sha1(b"a@b.c").hexdigest()  # noqa: S324
    assert hash_identifier(EMAIL, md5) == md5
    assert hash_identifier(EMAIL, sha1) == sha1


@pytest.mark.parametrize("length", [31, 33, 39, 41, 63, 65])
def test_hex_of_other_lengths_is_hashed(length: int) -> None:
    value = ("abcdef0123456789" * 5)[:length]
    assert hash_identifier(IDFA, value) == sha(value, IDFA)
    assert hash_identifier(MAID, value) == sha(value)


def test_64_chars_with_non_hex_is_hashed() -> None:
    value = "g" + "a" * 63
    assert hash_identifier(MAID, value) == sha(value)


def test_is_hashed() -> None:
    assert is_hashed("a" * 32)
    assert is_hashed("0" * 40)
    assert is_hashed("f" * 64)
    assert not is_hashed("A" * 64)  # is_hashed sees normalised values only
    assert not is_hashed("a" * 63)
    assert not is_hashed("z" * 64)
    assert not is_hashed("")


# -- emails -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "no-at-sign.example.com",
        "@example.com",
        "jane@",
        "@",
        "jane@@example.com",
        "jane@ex@ample.com",
        "jane doe@example.com",
        "jane@exam ple.com",
        "jane@example.com\tx",
    ],
)
def test_invalid_emails_are_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(EMAIL, value)
    assert str(caught.value) == "email is not an address (one @ with text on both sides, no spaces)"


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_empty_email_is_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(EMAIL, value)
    assert str(caught.value) == "email is empty"


@pytest.mark.parametrize(("list_type", "prefix"), [(EMAIL, "email"), (IDFA, "IDFA"), (MAID, "MAID")])
def test_lone_surrogate_is_rejected(list_type: str, prefix: str) -> None:
    # json.loads('"\\ud800"') gives a lone surrogate: it has no UTF-8, so no hash to send.
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(list_type, "jane\ud800@example.com")
    assert str(caught.value) == f"{prefix} is not valid Unicode"


def test_email_of_254_characters_is_accepted() -> None:
    value = "a" * (MAX_EMAIL_LENGTH - len("@example.com")) + "@example.com"
    assert len(value) == 254
    assert hash_identifier(EMAIL, value) == sha(value)


def test_email_of_255_characters_is_rejected() -> None:
    value = "a" * (MAX_EMAIL_LENGTH + 1 - len("@example.com")) + "@example.com"
    assert len(value) == 255
    with pytest.raises(InvalidIdentifierError, match=r"^email longer than 254 characters$"):
        hash_identifier(EMAIL, value)


def test_email_length_is_measured_after_trimming() -> None:
    value = "a" * (MAX_EMAIL_LENGTH - len("@example.com")) + "@example.com"
    assert hash_identifier(EMAIL, "   " + value + "   ") == sha(value)


# -- mobile ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("list_type", [IDFA, MAID])
@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_empty_mobile_id_is_rejected(list_type: str, value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(list_type, value)
    assert str(caught.value) == f"{list_type} is empty"


@pytest.mark.parametrize("list_type", [IDFA, MAID])
def test_mobile_id_of_128_characters_is_accepted(list_type: str) -> None:
    value = "x" * MAX_MOBILE_ID_LENGTH
    assert hash_identifier(list_type, value) == sha(value, list_type)


@pytest.mark.parametrize("list_type", [IDFA, MAID])
def test_mobile_id_of_129_characters_is_rejected(list_type: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(list_type, "x" * (MAX_MOBILE_ID_LENGTH + 1))
    assert str(caught.value) == f"{list_type} longer than 128 characters"


def test_mobile_id_needs_no_at_sign() -> None:
    assert hash_identifier(MAID, "abc") == sha("abc")


# -- non-strings --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 123, 12.5, True, ["a@b.c"], {"email": "a@b.c"}, b"a@b.c"])
@pytest.mark.parametrize("list_type", [EMAIL, IDFA, MAID])
def test_non_strings_are_rejected(list_type: str, value: object) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(list_type, value)
    assert str(caught.value) == f"{list_type.lower()} is not a string"


def test_invalid_identifier_error_is_a_value_error() -> None:
    assert issubclass(InvalidIdentifierError, ValueError)


# -- errors never carry the value ---------------------------------------------------------


SECRET_LOCAL = "very-secret-person"


@pytest.mark.parametrize(
    ("list_type", "value"),
    [
        (EMAIL, f"{SECRET_LOCAL} @example.com"),
        (EMAIL, f"{SECRET_LOCAL}"),
        (EMAIL, f"{SECRET_LOCAL}@@example.com"),
        (EMAIL, SECRET_LOCAL * 20 + "@example.com"),
        (IDFA, SECRET_LOCAL * 10),
        (MAID, SECRET_LOCAL * 10),
    ],
)
def test_error_messages_never_contain_the_value(list_type: str, value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        hash_identifier(list_type, value)
    message = str(caught.value)
    assert SECRET_LOCAL not in message
    assert SECRET_LOCAL not in repr(caught.value)
    assert "example.com" not in message


# -- properties ---------------------------------------------------------------------------

_local = st.text(alphabet=string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=40)
_domain = st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1, max_size=40)
emails = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
#: Mobile ids containing a character that is not hex, so they can never pass as a hash.
mobile_ids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.text(alphabet=string.ascii_letters + string.digits + "-_:", min_size=1, max_size=100).filter(
        # Not a hex digest, and not an all-zeros id ("0-" included: the contract drops those).
        lambda s: any(c not in HEX for c in s.lower()) and not ("0" in s and not s.strip("0-"))
    ),
)
#: Hex digests; all zeros is left out: for a mobile id it is the limited-ad-tracking id.
hex_hashes = (
    st.sampled_from([32, 40, 64])
    .flatmap(lambda n: st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n))
    .filter(lambda s: s.strip("0") != "")
)
spaces = st.text(alphabet=" \t\n\r", max_size=4)


def _is_hex_digest(value: str) -> bool:
    return len(value) in (32, 40, 64) and all(c in HEX for c in value)


@given(emails)
def test_property_email_hash_is_idempotent(value: str) -> None:
    once = hash_identifier(EMAIL, value)
    assert hash_identifier(EMAIL, once) == once


@given(st.sampled_from([IDFA, MAID]), mobile_ids)
def test_property_mobile_hash_is_idempotent(list_type: str, value: str) -> None:
    once = hash_identifier(list_type, value)
    assert hash_identifier(list_type, once) == once


@given(emails, spaces, spaces)
def test_property_email_case_and_surrounding_space_insensitive(value: str, before: str, after: str) -> None:
    expected = hash_identifier(EMAIL, value)
    assert hash_identifier(EMAIL, before + value.upper() + after) == expected
    assert hash_identifier(EMAIL, before + value.lower() + after) == expected
    assert hash_identifier(EMAIL, value.swapcase()) == expected


@given(st.sampled_from([IDFA, MAID]), mobile_ids, spaces, spaces)
def test_property_mobile_case_and_surrounding_space_insensitive(
    list_type: str, value: str, before: str, after: str
) -> None:
    expected = hash_identifier(list_type, value)
    assert hash_identifier(list_type, before + value.swapcase() + after) == expected


@given(mobile_ids, spaces)
def test_property_idfa_is_hash_of_uppercase(value: str, around: str) -> None:
    upper = value.strip().upper()
    expected = hashlib.sha256(upper.encode()).hexdigest()
    assert hash_identifier(IDFA, around + value.lower() + around) == expected
    assert hash_identifier(IDFA, value.upper()) == expected


@given(mobile_ids, spaces)
def test_property_maid_is_hash_of_lowercase(value: str, around: str) -> None:
    expected = hashlib.sha256(value.strip().lower().encode()).hexdigest()
    assert hash_identifier(MAID, around + value.upper() + around) == expected


@given(emails, spaces)
def test_property_email_is_hash_of_lowercase(value: str, around: str) -> None:
    expected = hashlib.sha256(value.strip().lower().encode()).hexdigest()
    assert hash_identifier(EMAIL, around + value.upper() + around) == expected


@given(st.sampled_from([EMAIL, IDFA, MAID]), hex_hashes, spaces, spaces)
def test_property_hashes_pass_through_lowercased(list_type: str, value: str, before: str, after: str) -> None:
    assert hash_identifier(list_type, before + value + after) == value.lower()


@given(
    st.one_of(
        st.tuples(st.just(EMAIL), emails),
        st.tuples(st.sampled_from([IDFA, MAID]), mobile_ids),
        st.tuples(st.sampled_from([EMAIL, IDFA, MAID]), hex_hashes),
    )
)
def test_property_output_is_lowercase_hex_digest(case: tuple[str, str]) -> None:
    list_type, value = case
    assert _is_hex_digest(hash_identifier(list_type, value))


@given(
    st.one_of(
        st.tuples(st.just(EMAIL), emails),
        st.tuples(st.sampled_from([IDFA, MAID]), mobile_ids),
    )
)
def test_property_output_never_equals_or_contains_the_raw_value(case: tuple[str, str]) -> None:
    list_type, value = case
    out = hash_identifier(list_type, value)
    assert out == sha(value, list_type)
    assert out != value
    assert value not in out
    assert value.strip().lower() not in out


@given(st.text(max_size=300))
def test_property_any_text_is_hashed_or_rejected(value: str) -> None:
    for list_type in (EMAIL, IDFA, MAID):
        try:
            out = hash_identifier(list_type, value)
        except InvalidIdentifierError:
            continue
        assert _is_hex_digest(out)


@pytest.mark.parametrize("list_type", [IDFA, MAID])
@pytest.mark.parametrize(
    "value",
    [
        "00000000-0000-0000-0000-000000000000",
        " 0000000000000000000000000000000000 ",
        "0" * 32,  # would otherwise pass for an MD5
        "0" * 64,
    ],
)
def test_all_zeros_mobile_id_is_refused(list_type: str, value: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="all-zeros id"):
        hash_identifier(list_type, value)
