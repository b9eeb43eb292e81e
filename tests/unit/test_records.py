"""Unit tests of record shapes to membership signals and identifier lookup."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from target_pinterest_audiences.records import (
    Ignored,
    InvalidRecordError,
    Membership,
    classify,
    extract_identifiers,
    parse_membership,
)

EMAIL_RAW = "Jane.Doe@Example.com"
IDFA_RAW = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
MAID_RAW = "38400000-8cf0-11bd-b23e-10b96e40000d"


def sha(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def email_only(value: str = EMAIL_RAW) -> tuple[tuple[str, str], ...]:
    return (("EMAIL", sha(value)),)


# -- parse_membership ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        (" true ", True),
        ("false", False),
        ("FALSE", False),
        ("False", False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
    ],
)
def test_parse_membership_accepts(value: object, expected: bool) -> None:  # noqa: FBT001
    assert parse_membership(value) is expected


@pytest.mark.parametrize("value", ["yes", "no", "", "t", "2", 2, -1, None, 1.5, 1.0, 0.0, [], {}, [True]])
def test_parse_membership_rejects(value: object) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        parse_membership(value)
    assert str(caught.value) == "membership value is not a boolean (true/false, 1/0)"


# -- Segment identify ---------------------------------------------------------------------


def identify(traits: dict[str, Any], personas: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"type": "identify", "userId": "u1", "traits": traits, **extra}
    if personas is not None:
        record["context"] = {"personas": personas}
    return record


def audience_personas(key: str) -> dict[str, Any]:
    return {"computation_class": "audience", "computation_key": key, "computation_id": "aud_1", "space_id": "spa_1"}


@pytest.mark.parametrize(("member", "expected"), [(True, True), (False, False), ("false", False), (1, True)])
def test_identify_with_personas(member: object, expected: bool) -> None:  # noqa: FBT001
    record = identify({"email": EMAIL_RAW, "vip_users": member, "other": True}, audience_personas("vip_users"))
    assert classify(record, "identifies") == Membership((("vip_users", expected),), email_only())


def test_identify_personas_key_is_trimmed() -> None:
    record = identify({"email": EMAIL_RAW, "vip": True}, audience_personas(" vip "))
    assert classify(record, "s") == Membership((("vip", True),), email_only())


def test_identify_personas_trait_missing_is_invalid() -> None:
    record = identify({"email": EMAIL_RAW}, audience_personas("vip_users"))
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "identifies")
    assert str(caught.value) == "identify names an audience but its traits carry no membership for it"


@pytest.mark.parametrize("value", ["yes", 2, None, 1.5])
def test_identify_personas_invalid_membership(value: object) -> None:
    record = identify({"email": EMAIL_RAW, "vip_users": value}, audience_personas("vip_users"))
    with pytest.raises(InvalidRecordError, match="membership value is not a boolean"):
        classify(record, "identifies")


def test_identify_computed_trait_is_ignored() -> None:
    personas = {"computation_class": "trait", "computation_key": "ltv", "computation_id": "tr_1"}
    record = identify({"email": EMAIL_RAW, "ltv": True}, personas)
    assert classify(record, "identifies") == Ignored("not an audience event")


def test_plain_identify_is_ignored() -> None:
    record = identify({"email": EMAIL_RAW, "name": "Jane", "vip": True})
    assert classify(record, "identifies") == Ignored("not an audience event")


def test_identify_with_personas_and_empty_key_is_ignored() -> None:
    record = identify({"email": EMAIL_RAW, "": True}, audience_personas(""))
    assert classify(record, "identifies") == Ignored("not an audience event")


def test_plain_identify_is_ignored_even_with_audience_field() -> None:
    # First match wins: a Segment message is never read as a flat row.
    record = identify({"email": EMAIL_RAW}, audience="vip", in_audience=True)
    assert classify(record, "identifies") == Ignored("not an audience event")


def test_identify_without_personas_uses_selected_bool_traits() -> None:
    record = identify({"email": EMAIL_RAW, "vip": True, "churned": False, "other": True, "name": "Jane"})
    result = classify(record, "identifies", frozenset({"vip", "churned", "absent"}))
    assert result == Membership((("churned", False), ("vip", True)), email_only())


@pytest.mark.parametrize("value", ["true", 1, "1", None])
def test_identify_without_personas_ignores_non_bool_traits(value: object) -> None:
    record = identify({"email": EMAIL_RAW, "vip": value})
    assert classify(record, "identifies", frozenset({"vip"})) == Ignored("not an audience event")


def test_identify_without_personas_and_no_selected_trait_is_ignored() -> None:
    record = identify({"email": EMAIL_RAW, "other": True})
    assert classify(record, "identifies", frozenset({"vip"})) == Ignored("not an audience event")


def test_identify_personas_not_selected_is_ignored() -> None:
    record = identify({"email": EMAIL_RAW, "vip_users": True}, audience_personas("vip_users"))
    assert classify(record, "identifies", frozenset({"other"})) == Ignored("audience not in the audiences setting")


def test_identify_personas_selected_is_kept() -> None:
    record = identify({"email": EMAIL_RAW, "vip_users": False}, audience_personas("vip_users"))
    assert classify(record, "identifies", frozenset({"vip_users"})) == Membership((("vip_users", False),), email_only())


# -- Segment track ------------------------------------------------------------------------


def track(properties: dict[str, Any], event: str = "Audience Entered", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "userId": "u1", "properties": properties, **extra}


@pytest.mark.parametrize(
    ("member", "event", "expected"),
    [
        (True, "Audience Exited", True),  # the property wins over the event name
        (False, "Audience Entered", False),
        ("TRUE", "Something", True),
        (0, "Something", False),
    ],
)
def test_track_with_audience_key_and_property(member: object, event: str, expected: bool) -> None:  # noqa: FBT001
    record = track({"audience_key": "vip", "vip": member, "email": EMAIL_RAW}, event)
    assert classify(record, "tracks") == Membership((("vip", expected),), email_only())


@pytest.mark.parametrize(("event", "expected"), [("Audience Entered", True), ("Audience Exited", False)])
def test_track_membership_from_event_name(event: str, expected: bool) -> None:  # noqa: FBT001
    record = track({"audience_key": "vip", "email": EMAIL_RAW}, event)
    assert classify(record, "tracks") == Membership((("vip", expected),), email_only())


def test_track_with_audience_key_and_no_membership_is_invalid() -> None:
    record = track({"audience_key": "vip", "email": EMAIL_RAW}, "Order Completed")
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "tracks")
    assert str(caught.value) == "track names an audience but carries no membership (property or event name)"


@pytest.mark.parametrize("value", ["yes", 2, None, 1.5])
def test_track_invalid_membership_property(value: object) -> None:
    record = track({"audience_key": "vip", "vip": value, "email": EMAIL_RAW})
    with pytest.raises(InvalidRecordError, match="membership value is not a boolean"):
        classify(record, "tracks")


def test_track_falls_back_to_personas_key() -> None:
    record = track(
        {"email": EMAIL_RAW},
        "Audience Exited",
        context={"personas": audience_personas("vip_users")},
    )
    assert classify(record, "tracks") == Membership((("vip_users", False),), email_only())


def test_track_personas_key_with_property() -> None:
    record = track(
        {"email": EMAIL_RAW, "vip_users": "true"},
        "Whatever",
        context={"personas": audience_personas("vip_users")},
    )
    assert classify(record, "tracks") == Membership((("vip_users", True),), email_only())


def test_track_audience_key_wins_over_personas() -> None:
    record = track(
        {"audience_key": "from_props", "email": EMAIL_RAW},
        context={"personas": audience_personas("from_personas")},
    )
    assert classify(record, "tracks") == Membership((("from_props", True),), email_only())


def test_track_naming_no_audience_is_ignored() -> None:
    record = track({"email": EMAIL_RAW, "revenue": 3}, "Order Completed")
    assert classify(record, "tracks") == Ignored("not an audience event")


def test_track_entered_without_audience_is_ignored() -> None:
    record = track({"email": EMAIL_RAW}, "Audience Entered")
    assert classify(record, "tracks") == Ignored("not an audience event")


def test_track_with_computed_trait_personas_is_ignored() -> None:
    record = track(
        {"email": EMAIL_RAW},
        context={"personas": {"computation_class": "trait", "computation_key": "ltv"}},
    )
    assert classify(record, "tracks") == Ignored("not an audience event")


def test_track_with_empty_audience_key_is_ignored() -> None:
    record = track({"audience_key": "", "email": EMAIL_RAW})
    assert classify(record, "tracks") == Ignored("not an audience event")


@pytest.mark.parametrize("key", ["   ", 5, ["vip"]])
def test_track_with_bad_audience_key_is_invalid(key: object) -> None:
    record = track({"audience_key": key, "email": EMAIL_RAW})
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "tracks")
    assert str(caught.value) == "audience key is not a non-empty string"


def test_track_with_too_long_audience_key_is_invalid() -> None:
    record = track({"audience_key": "k" * 201, "email": EMAIL_RAW})
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "tracks")
    assert str(caught.value) == "audience key longer than 200 characters"
    assert "kkkk" not in str(caught.value)


def test_track_not_selected_is_ignored() -> None:
    record = track({"audience_key": "vip", "email": EMAIL_RAW})
    assert classify(record, "tracks", frozenset({"other"})) == Ignored("audience not in the audiences setting")


def test_other_segment_types_are_not_segment_events() -> None:
    # A page call is not a Segment audience event: with no audience field, the stream is the audience.
    record = {"type": "page", "properties": {"email": EMAIL_RAW}}
    assert classify(record, "pages") == Membership((("pages", True),), email_only())


# -- flat rows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_audience", "expected"),
    [(True, True), (False, False), ("TRUE", True), ("false", False), ("False", False), (1, True), (0, False)],
)
def test_flat_row(in_audience: object, expected: bool) -> None:  # noqa: FBT001
    record = {"audience": "vip", "in_audience": in_audience, "email": EMAIL_RAW}
    assert classify(record, "rows") == Membership((("vip", expected),), email_only())


def test_flat_row_missing_in_audience_means_member() -> None:
    assert classify({"audience": "vip", "email": EMAIL_RAW}, "rows") == Membership((("vip", True),), email_only())


def test_flat_row_audience_is_trimmed() -> None:
    assert classify({"audience": "  vip ", "email": EMAIL_RAW}, "rows") == Membership((("vip", True),), email_only())


@pytest.mark.parametrize("value", ["yes", 2, 1.5, "", "maybe"])
def test_flat_row_invalid_membership(value: object) -> None:
    record = {"audience": "vip", "in_audience": value, "email": EMAIL_RAW}
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "rows")
    assert str(caught.value) == "membership value is not a boolean (true/false, 1/0)"


def test_flat_row_null_in_audience_is_invalid() -> None:
    # Only a missing in_audience means true; a present null is no membership value.
    record = {"audience": "vip", "in_audience": None, "email": EMAIL_RAW}
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "rows")
    assert str(caught.value) == "membership value is not a boolean (true/false, 1/0)"


@pytest.mark.parametrize("audience", [None, "", "  ", 7])
def test_flat_row_bad_audience_is_invalid(audience: object) -> None:
    with pytest.raises(InvalidRecordError, match=r"^audience key is not a non-empty string$"):
        classify({"audience": audience, "email": EMAIL_RAW}, "rows")


def test_flat_row_not_selected_is_ignored() -> None:
    record = {"audience": "vip", "email": EMAIL_RAW}
    assert classify(record, "rows", frozenset({"other"})) == Ignored("audience not in the audiences setting")
    assert classify(record, "rows", frozenset()) == Ignored("audience not in the audiences setting")


def test_flat_row_selected_is_kept() -> None:
    record = {"audience": "vip", "in_audience": "false", "email": EMAIL_RAW}
    assert classify(record, "rows", frozenset({"vip"})) == Membership((("vip", False),), email_only())


# -- stream as audience -------------------------------------------------------------------


def test_stream_is_the_audience() -> None:
    assert classify({"email": EMAIL_RAW, "in_audience": False}, "vip_customers") == Membership(
        (("vip_customers", True),), email_only()
    )


def test_stream_not_selected_is_ignored() -> None:
    assert classify({"email": EMAIL_RAW}, "vip_customers", frozenset({"vip"})) == Ignored(
        "audience not in the audiences setting"
    )


def test_stream_selected_is_kept() -> None:
    assert classify({"email": EMAIL_RAW}, "vip", frozenset({"vip"})) == Membership((("vip", True),), email_only())


# -- identifiers --------------------------------------------------------------------------


def test_email_lookup_order_traits_first() -> None:
    record = {
        "traits": {"email": "a@traits.example"},
        "properties": {"email": "b@properties.example"},
        "context": {"traits": {"email": "c@context.example"}},
        "email": "d@top.example",
    }
    assert extract_identifiers(record) == (("EMAIL", sha("a@traits.example")),)


def test_email_lookup_order_properties_second() -> None:
    record = {
        "properties": {"email": "b@properties.example"},
        "context": {"traits": {"email": "c@context.example"}},
        "email": "d@top.example",
    }
    assert extract_identifiers(record) == (("EMAIL", sha("b@properties.example")),)


def test_email_lookup_order_context_traits_third() -> None:
    record = {"context": {"traits": {"email": "c@context.example"}}, "email": "d@top.example"}
    assert extract_identifiers(record) == (("EMAIL", sha("c@context.example")),)


def test_email_lookup_top_level_last() -> None:
    assert extract_identifiers({"email": "d@top.example"}) == (("EMAIL", sha("d@top.example")),)


def test_empty_email_is_absent() -> None:
    record = {
        "traits": {"email": ""},
        "properties": {"email": None},
        "context": {"traits": {"email": ""}},
        "email": "d@top.example",
    }
    assert extract_identifiers(record) == (("EMAIL", sha("d@top.example")),)


def test_non_mapping_containers_are_skipped() -> None:
    record = {"traits": "a@b.c", "properties": ["x"], "context": 3, "email": "d@top.example"}
    assert extract_identifiers(record) == (("EMAIL", sha("d@top.example")),)


@pytest.mark.parametrize(("device_type", "list_type"), [("ios", "IDFA"), ("android", "MAID"), ("IOS", "IDFA")])
def test_device_advertising_id_by_device_type(device_type: str, list_type: str) -> None:
    record = {"context": {"device": {"type": device_type, "advertisingId": IDFA_RAW}}}
    assert extract_identifiers(record) == ((list_type, sha(IDFA_RAW)),)


def test_device_advertising_id_of_other_device_is_not_used() -> None:
    record = {"context": {"device": {"type": "web", "advertisingId": IDFA_RAW}}}
    with pytest.raises(InvalidRecordError) as caught:
        extract_identifiers(record)
    assert str(caught.value) == "no identifier (email, IDFA or Android advertising id)"


def test_device_advertising_id_wins_over_idfa_keys() -> None:
    record = {"context": {"device": {"type": "ios", "advertisingId": IDFA_RAW}}, "idfa": "other-idfa"}
    assert extract_identifiers(record) == (("IDFA", sha(IDFA_RAW)),)


def test_device_advertising_id_wins_over_maid_keys() -> None:
    record = {"context": {"device": {"type": "android", "advertisingId": MAID_RAW}}, "maid": "other-maid"}
    assert extract_identifiers(record) == (("MAID", sha(MAID_RAW)),)


def test_empty_device_advertising_id_falls_back_to_keys() -> None:
    record = {"context": {"device": {"type": "ios", "advertisingId": ""}}, "idfa": IDFA_RAW}
    assert extract_identifiers(record) == (("IDFA", sha(IDFA_RAW)),)


def test_idfa_key_order() -> None:
    assert extract_identifiers({"idfa": "first-idfa", "ios_idfa": "second-idfa"}) == (("IDFA", sha("first-idfa")),)
    assert extract_identifiers({"ios_idfa": "second-idfa"}) == (("IDFA", sha("second-idfa")),)
    assert extract_identifiers({"idfa": "", "ios_idfa": "second-idfa"}) == (("IDFA", sha("second-idfa")),)


def test_maid_key_order() -> None:
    record = {"maid": "m-1", "android_id": "a-2", "gaid": "g-3"}
    assert extract_identifiers(record) == (("MAID", sha("m-1")),)
    assert extract_identifiers({"android_id": "a-2", "gaid": "g-3"}) == (("MAID", sha("a-2")),)
    assert extract_identifiers({"gaid": "g-3"}) == (("MAID", sha("g-3")),)
    assert extract_identifiers({"maid": "", "android_id": None, "gaid": "g-3"}) == (("MAID", sha("g-3")),)


def test_several_identifiers_per_record() -> None:
    record = {"email": EMAIL_RAW, "idfa": IDFA_RAW, "gaid": MAID_RAW}
    assert dict(extract_identifiers(record)) == {
        "EMAIL": sha(EMAIL_RAW),
        "IDFA": sha(IDFA_RAW),
        "MAID": sha(MAID_RAW),
    }


def test_several_identifiers_from_segment_context() -> None:
    record = {
        "type": "track",
        "event": "Audience Entered",
        "properties": {"audience_key": "vip"},
        "context": {"traits": {"email": EMAIL_RAW}, "device": {"type": "android", "advertisingId": MAID_RAW}},
        "idfa": IDFA_RAW,
    }
    result = classify(record, "tracks")
    assert isinstance(result, Membership)
    assert result.signals == (("vip", True),)
    assert dict(result.identifiers) == {"EMAIL": sha(EMAIL_RAW), "MAID": sha(MAID_RAW), "IDFA": sha(IDFA_RAW)}


def test_hashed_identifiers_pass_through() -> None:
    hashed = sha(EMAIL_RAW)
    assert extract_identifiers({"email": hashed.upper()}) == (("EMAIL", hashed),)


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"email": ""},
        {"email": None, "idfa": "", "maid": None},
        {"name": "Jane", "user_id": 7},
        {"context": {"device": {"type": "ios"}}},
    ],
)
def test_missing_identifiers_are_invalid(record: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        extract_identifiers(record)
    assert str(caught.value) == "no identifier (email, IDFA or Android advertising id)"


def test_record_without_identifier_is_invalid_in_classify() -> None:
    with pytest.raises(InvalidRecordError, match=r"^no identifier"):
        classify({"audience": "vip", "user_id": "u1"}, "rows")


def test_ignored_records_need_no_identifier() -> None:
    assert classify({"type": "identify", "traits": {}}, "s") == Ignored("not an audience event")


SECRET = "private-person"


@pytest.mark.parametrize(
    ("record", "selected"),
    [
        ({"audience": "vip", "email": f"{SECRET} @example.com"}, None),
        ({"audience": "vip", "email": f"{SECRET}"}, None),
        ({"audience": "vip", "email": 12345678}, None),
        ({"audience": "vip", "idfa": SECRET * 20}, None),
        ({"audience": "vip", "in_audience": SECRET, "email": "a@b.c"}, None),
        ({"audience": SECRET * 20, "email": "a@b.c"}, None),
        (identify({"email": "a@b.c", SECRET: SECRET}, audience_personas(SECRET)), None),
        (track({"audience_key": SECRET, SECRET: SECRET, "email": "a@b.c"}), None),
        (track({"audience_key": SECRET, "email": "a@b.c"}, "Other"), None),
        ({"audience": "vip", "user": SECRET}, None),
    ],
)
def test_errors_never_contain_record_values(record: dict[str, Any], selected: frozenset[str] | None) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "stream", selected)
    message = str(caught.value)
    assert SECRET not in message
    assert "example.com" not in message
    assert "12345678" not in message
    assert caught.value.__cause__ is None


def test_invalid_record_error_is_a_value_error() -> None:
    assert issubclass(InvalidRecordError, ValueError)
