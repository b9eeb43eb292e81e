"""Unit tests of record shapes to membership signals and identifier lookup."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_pinterest_audiences.records import (
    Ignored,
    InvalidRecordError,
    Membership,
    classify,
    parse_membership,
)

EMAIL_RAW = "Jane.Doe@Example.com"
IDFA_RAW = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
MAID_RAW = "38400000-8cf0-11bd-b23e-10b96e40000d"


def sha(value: str, list_type: str = "EMAIL") -> str:
    """The contract's rule: trimmed, an IDFA uppercase and the others lowercase, SHA-256 hex."""
    trimmed = value.strip()
    return hashlib.sha256((trimmed.upper() if list_type == "IDFA" else trimmed.lower()).encode()).hexdigest()


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


@pytest.mark.parametrize("value", ["yes", 2, 1.5])
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


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_other_segment_types_are_counted_and_ignored(kind: str) -> None:
    # CONTRACT: only identify and track carry membership; never a list named after the stream.
    record = {"type": kind, "properties": {"email": EMAIL_RAW, "audience_key": "vip", "vip": True}}
    assert classify(record, "pages") == Ignored("page, screen, group or alias message (no membership)")
    assert classify(record, "pages", frozenset({"pages"})) == Ignored(
        "page, screen, group or alias message (no membership)"
    )


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


# -- Segment: journeys, null membership, unexpected types -----------------------------------


def test_identify_journey_step_is_an_audience() -> None:
    personas = {"computation_class": "journey_step", "computation_key": "j_o_first_purchase__opened_email"}
    record = identify({"email": EMAIL_RAW, "j_o_first_purchase__opened_email": "true"}, personas)
    assert classify(record, "s") == Membership((("j_o_first_purchase__opened_email", True),), email_only())


def test_track_journey_step_keyed_by_personas() -> None:
    personas = {"computation_class": "journey_step", "computation_key": "j_step"}
    record = track(
        {"j_step": "true"}, "Audience Entered", context={"personas": personas, "traits": {"email": EMAIL_RAW}}
    )
    assert classify(record, "s") == Membership((("j_step", True),), email_only())


@pytest.mark.parametrize(("event", "expected"), [("Audience Entered", True), ("Audience Exited", False)])
def test_track_null_membership_property_falls_back_to_event_name(event: str, expected: bool) -> None:  # noqa: FBT001
    record = track({"audience_key": "vip", "vip": None, "email": EMAIL_RAW}, event)
    assert classify(record, "s") == Membership((("vip", expected),), email_only())


def test_track_null_membership_property_and_other_event_is_invalid() -> None:
    record = track({"audience_key": "vip", "vip": None, "email": EMAIL_RAW}, "Order Completed")
    with pytest.raises(InvalidRecordError, match=r"^track names an audience but carries no membership"):
        classify(record, "s")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"type": ["track"], "email": EMAIL_RAW}, "type is not a string"),
        ({"type": {"t": 1}, "email": EMAIL_RAW}, "type is not a string"),
        (track({"audience_key": "vip", "email": EMAIL_RAW}, {"name": "Audience Entered"}), "event is not a string"),  # type: ignore[arg-type]
        (track({"audience_key": "vip", "email": EMAIL_RAW}, ["Audience Entered"]), "event is not a string"),  # type: ignore[arg-type]
        ({"type": "track", "event": "Audience Entered", "properties": ["vip"]}, "properties is not an object"),
        (
            {"type": "identify", "traits": "vip", "context": {"personas": audience_personas("vip")}},
            "traits is not an object",
        ),
        ({"type": "identify", "traits": {"vip": True}, "context": "personas"}, "context is not an object"),
        (
            {"type": "identify", "traits": {"vip": True}, "context": {"personas": [1]}},
            "context.personas is not an object",
        ),
        (
            identify({"vip": True}, {"computation_class": ["audience"], "computation_key": "vip"}),
            "context.personas.computation_class is not a string",
        ),
        (
            identify({"vip": True}, {"computation_class": "audience", "computation_key": {"k": 1}}),
            "audience key is not a non-empty string",
        ),
        (
            identify(
                {"vip": True, "email": EMAIL_RAW},
                context={"personas": audience_personas("vip"), "traits": "x"},
            ),
            "context.traits is not an object",
        ),
        (
            identify(
                {"vip": True, "email": EMAIL_RAW}, context={"personas": audience_personas("vip"), "device": "iPhone"}
            ),
            "context.device is not an object",
        ),
        (
            identify(
                {"vip": True, "email": EMAIL_RAW}, context={"personas": audience_personas("vip"), "device": {"type": 5}}
            ),
            "context.device.type is not a string",
        ),
        (
            identify(
                {"vip": True, "email": EMAIL_RAW},
                context={"personas": audience_personas("vip"), "device": {}, "os": "iOS"},
            ),
            "context.os is not an object",
        ),
        (
            identify(
                {"vip": True, "email": EMAIL_RAW},
                context={"personas": audience_personas("vip"), "device": {}, "os": {"name": 1}},
            ),
            "context.os.name is not a string",
        ),
    ],
)
def test_values_of_unexpected_types_make_the_record_unusable(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "s")
    assert str(caught.value) == reason


def test_audience_key_with_a_lone_surrogate_is_unusable() -> None:
    with pytest.raises(InvalidRecordError, match="cannot be printed"):
        classify({"audience": "vip\ud800", "email": EMAIL_RAW}, "s")


# -- identifiers: where each is looked up --------------------------------------------------


def identifiers_of(record: dict[str, Any]) -> dict[str, str]:
    """The identifiers classify finds in a record that is a member of audience 'vip'."""
    result = classify(record, "vip")
    assert isinstance(result, Membership)
    return dict(result.identifiers)


def seg_identify(traits: dict[str, Any], /, **context: Any) -> dict[str, Any]:
    return identify({"vip": True, **traits}, context={"personas": audience_personas("vip"), **context})


def seg_track(properties: dict[str, Any], /, **context: Any) -> dict[str, Any]:
    return track({"audience_key": "vip", **properties}, context=context)


def test_identify_email_traits_before_context_traits() -> None:
    record = seg_identify({"email": "a@traits.example"}, traits={"email": "c@context.example"})
    assert identifiers_of(record) == {"EMAIL": sha("a@traits.example")}
    assert identifiers_of(seg_identify({}, traits={"email": "c@context.example"})) == {
        "EMAIL": sha("c@context.example")
    }


def test_identify_does_not_read_properties_or_top_level_email() -> None:
    record = seg_identify({}, traits={})
    record["properties"] = {"email": "b@properties.example"}
    record["email"] = "d@top.example"
    with pytest.raises(InvalidRecordError, match=r"^no identifier"):
        classify(record, "s")


def test_track_email_context_traits_before_properties() -> None:
    # Segment puts a track's email in context.traits (segment-docs, engage/trait-activation/id-sync.md FAQ).
    record = seg_track({"email": "b@properties.example"}, traits={"email": "c@context.example"})
    assert identifiers_of(record) == {"EMAIL": sha("c@context.example")}
    assert identifiers_of(seg_track({"email": "b@properties.example"})) == {"EMAIL": sha("b@properties.example")}


def test_track_does_not_read_traits_email() -> None:
    record = seg_track({})
    record["traits"] = {"email": "a@traits.example"}
    with pytest.raises(InvalidRecordError, match=r"^no identifier"):
        classify(record, "s")


def test_other_shapes_read_only_the_top_level_email() -> None:
    record = {
        "email": "d@top.example",
        "traits": {"email": "a@traits.example"},
        "context": {"traits": {"email": "c@x.example"}},
    }
    assert identifiers_of(record) == {"EMAIL": sha("d@top.example")}
    assert identifiers_of({"traits": "not looked at", "context": 3, "email": "d@top.example"}) == {
        "EMAIL": sha("d@top.example")
    }


@pytest.mark.parametrize(("device_type", "list_type"), [("ios", "IDFA"), ("android", "MAID"), ("IOS", "IDFA")])
def test_device_advertising_id_by_device_type(device_type: str, list_type: str) -> None:
    record = seg_identify({}, device={"type": device_type, "advertisingId": IDFA_RAW})
    assert identifiers_of(record) == {list_type: sha(IDFA_RAW, list_type)}


@pytest.mark.parametrize(
    ("os_name", "list_type"), [("iOS", "IDFA"), ("iPadOS", "IDFA"), ("Android", "MAID"), ("android", "MAID")]
)
def test_device_without_type_by_os_name(os_name: str, list_type: str) -> None:
    record = seg_track({}, device={"advertisingId": MAID_RAW}, os={"name": os_name, "version": "17.1"})
    assert identifiers_of(record) == {list_type: sha(MAID_RAW, list_type)}
    record = seg_track({}, device={"type": None, "advertisingId": MAID_RAW}, os={"name": os_name})
    assert identifiers_of(record) == {list_type: sha(MAID_RAW, list_type)}


@pytest.mark.parametrize(
    "context",
    [
        {"device": {"type": "web", "advertisingId": IDFA_RAW}, "os": {"name": "iOS"}},  # a type wins over the OS
        {"device": {"advertisingId": IDFA_RAW}, "os": {"name": "Mac OS X"}},
        {"device": {"advertisingId": IDFA_RAW}},
    ],
)
def test_device_advertising_id_of_no_known_platform_is_not_used(context: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        classify(seg_identify({}, **context), "s")
    assert str(caught.value) == "no identifier (email, IDFA or Android advertising id)"
    assert caught.value.dropped == ()


def test_identifier_sync_fields_identify_traits() -> None:
    # Engage's identifier sync: ios.idfa -> traits.ios_idfa, android.idfa -> traits.android_idfa
    # (action-destinations, reddit-audiences syncAudience tests).
    record = seg_identify({"ios_idfa": IDFA_RAW, "android_idfa": MAID_RAW})
    assert identifiers_of(record) == {"IDFA": sha(IDFA_RAW, "IDFA"), "MAID": sha(MAID_RAW)}
    record = seg_identify({"ios_idfa": IDFA_RAW})
    record["properties"] = {"android_idfa": MAID_RAW}  # an identify's properties are not read
    assert identifiers_of(record) == {"IDFA": sha(IDFA_RAW, "IDFA")}


def test_identifier_sync_fields_track_properties() -> None:
    record = seg_track({"ios_idfa": IDFA_RAW, "android_idfa": MAID_RAW})
    assert identifiers_of(record) == {"IDFA": sha(IDFA_RAW, "IDFA"), "MAID": sha(MAID_RAW)}
    record = seg_track({})
    record["traits"] = {"android_idfa": MAID_RAW}  # a track's traits are not read
    with pytest.raises(InvalidRecordError, match=r"^no identifier"):
        classify(record, "s")


def test_device_advertising_id_comes_before_identifier_sync_and_top_level_keys() -> None:
    record = seg_track({"android_idfa": "synced-maid"}, device={"type": "android", "advertisingId": MAID_RAW})
    record["maid"] = "top-level-maid"
    assert identifiers_of(record) == {"MAID": sha(MAID_RAW)}
    record = seg_track({"android_idfa": "synced-maid"})
    record["maid"] = "top-level-maid"
    assert identifiers_of(record) == {"MAID": sha("synced-maid")}


def test_idfa_key_order() -> None:
    assert identifiers_of({"idfa": "first-idfa", "ios_idfa": "second-idfa"}) == {"IDFA": sha("first-idfa", "IDFA")}
    assert identifiers_of({"ios_idfa": "second-idfa"}) == {"IDFA": sha("second-idfa", "IDFA")}
    assert identifiers_of({"idfa": None, "ios_idfa": "second-idfa"}) == {"IDFA": sha("second-idfa", "IDFA")}


def test_maid_key_order() -> None:
    keys = ("maid", "android_id", "android_idfa", "gaid")
    for first in range(len(keys)):
        record = {key: f"{key}-value" for key in keys[first:]}
        assert identifiers_of(record) == {"MAID": sha(f"{keys[first]}-value")}


def test_several_identifiers_per_record() -> None:
    record = {"email": EMAIL_RAW, "idfa": IDFA_RAW, "gaid": MAID_RAW}
    assert identifiers_of(record) == {"EMAIL": sha(EMAIL_RAW), "IDFA": sha(IDFA_RAW, "IDFA"), "MAID": sha(MAID_RAW)}


def test_hashed_identifiers_pass_through() -> None:
    hashed = sha(EMAIL_RAW)
    assert identifiers_of({"email": hashed.upper()}) == {"EMAIL": hashed}


# -- identifiers: each stands on its own ---------------------------------------------------

ZEROS = "00000000-0000-0000-0000-000000000000"


def test_limited_ad_tracking_device_keeps_the_email() -> None:
    # The case: an iOS user who limits ad tracking leaves by email, and is counted.
    record = seg_track({}, traits={"email": EMAIL_RAW}, device={"type": "ios", "advertisingId": ZEROS})
    record["event"] = "Audience Exited"
    result = classify(record, "s")
    assert result == Membership(
        (("vip", False),),
        (("EMAIL", sha(EMAIL_RAW)),),
        (("IDFA", "IDFA is the all-zeros id of a device that limits ad tracking"),),
    )


@pytest.mark.parametrize(
    ("record", "dropped"),
    [
        (
            {"email": "not-an-email", "gaid": MAID_RAW},
            ("EMAIL", "email is not an address (one @ with text on both sides, no spaces)"),
        ),
        ({"email": "a" * 300 + "@example.com", "gaid": MAID_RAW}, ("EMAIL", "email longer than 254 characters")),
        ({"email": "   ", "gaid": MAID_RAW}, ("EMAIL", "email is empty")),
        ({"email": {"address": "x"}, "gaid": MAID_RAW}, ("EMAIL", "email is not a string")),
        ({"email": EMAIL_RAW, "gaid": ""}, ("MAID", "MAID is empty")),
        ({"email": EMAIL_RAW, "idfa": "x" * 129}, ("IDFA", "IDFA longer than 128 characters")),
        (
            {"email": EMAIL_RAW, "idfa": "0" * 32},
            ("IDFA", "IDFA is the all-zeros id of a device that limits ad tracking"),
        ),
    ],
)
def test_an_unusable_identifier_is_dropped_and_counted(record: dict[str, Any], dropped: tuple[str, str]) -> None:
    result = classify(record, "vip")
    assert isinstance(result, Membership)
    assert result.signals == (("vip", True),)
    assert len(result.identifiers) == 1
    assert result.dropped == (dropped,)


def test_an_unusable_value_gives_way_to_the_next_usable_one_of_its_type() -> None:
    record = seg_identify(
        {"email": "not-an-email", "ios_idfa": IDFA_RAW},
        traits={"email": EMAIL_RAW},
        device={"type": "ios", "advertisingId": ZEROS},
    )
    result = classify(record, "s")
    assert result == Membership((("vip", True),), (("EMAIL", sha(EMAIL_RAW)), ("IDFA", sha(IDFA_RAW, "IDFA"))))


def test_no_usable_identifier_is_an_unusable_record_with_what_was_dropped() -> None:
    record = seg_identify({"email": "not-an-email"}, device={"type": "ios", "advertisingId": ZEROS})
    with pytest.raises(InvalidRecordError) as caught:
        classify(record, "s")
    error = caught.value
    assert str(error) == (
        "email is not an address (one @ with text on both sides, no spaces); "
        "IDFA is the all-zeros id of a device that limits ad tracking"
    )
    assert error.list_type == "EMAIL"
    assert error.audiences == ("vip",)
    assert error.dropped == (
        ("EMAIL", "email is not an address (one @ with text on both sides, no spaces)"),
        ("IDFA", "IDFA is the all-zeros id of a device that limits ad tracking"),
    )


@pytest.mark.parametrize(
    "record",
    [{}, {"email": None}, {"email": None, "idfa": None, "maid": None}, {"name": "Jane", "user_id": 7}],
)
def test_missing_identifiers_are_invalid(record: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        classify({"audience": "vip", **record}, "rows")
    assert str(caught.value) == "no identifier (email, IDFA or Android advertising id)"
    assert caught.value.list_type is None
    assert caught.value.audiences == ("vip",)
    assert caught.value.dropped == ()


def test_ignored_records_need_no_identifier() -> None:
    assert classify({"type": "identify", "traits": {}}, "s") == Ignored("not an audience event")


# -- never anything but a result or a counted reason ---------------------------------------

#: Arbitrary JSON, lone surrogates included (a JSON escape can carry one).
_json_text = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "@", " ", "0", "-"]), max_size=12
)
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _json_text
json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_json_text, inner, max_size=3),
    max_leaves=8,
)
#: The words the classifier looks for, so that the arbitrary values land where it reads.
_words = st.sampled_from(
    [
        "type",
        "identify",
        "track",
        "page",
        "event",
        "Audience Entered",
        "Audience Exited",
        "traits",
        "properties",
        "context",
        "personas",
        "computation_class",
        "computation_key",
        "audience",
        "journey_step",
        "audience_key",
        "vip",
        "email",
        "device",
        "advertisingId",
        "os",
        "name",
        "iOS",
        "Android",
        "ios",
        "android",
        "ios_idfa",
        "android_idfa",
        "idfa",
        "maid",
        "android_id",
        "gaid",
        "in_audience",
        "a@b.c",
        ZEROS,
    ]
)
_keys = _words | _json_text
shaped_values = st.recursive(
    _words | json_values,
    lambda inner: st.dictionaries(_keys, inner, max_size=5) | st.lists(inner, max_size=2),
    max_leaves=20,
)
records = st.dictionaries(_keys, shaped_values, max_size=6)


def outcome(record: dict[str, Any], stream: str, selected: frozenset[str] | None) -> object:
    """What classify gives, its InvalidRecordError included; any other exception propagates."""
    try:
        return classify(record, stream, selected)
    except InvalidRecordError as exc:
        return exc


def assert_result_or_counted_reason(result: object) -> None:
    """A Membership that can be sent, an Ignored, or an InvalidRecordError with a reason."""
    if isinstance(result, InvalidRecordError):
        assert str(result)
        assert result.__cause__ is None
        assert all(kind in ("EMAIL", "IDFA", "MAID") and why for kind, why in result.dropped)
    elif isinstance(result, Membership):
        assert result.signals
        assert result.identifiers
        assert all(isinstance(member, bool) for _, member in result.signals)
        assert all(len(hashed) in (32, 40, 64) for _, hashed in result.identifiers)
        assert all(kind in ("EMAIL", "IDFA", "MAID") and why for kind, why in result.dropped)
    else:
        assert isinstance(result, Ignored)
        assert result.reason


@settings(max_examples=300, deadline=None)
@given(records, st.none() | st.frozensets(_words, max_size=3))
def test_property_classify_returns_a_result_or_a_counted_reason(
    record: dict[str, Any], selected: frozenset[str] | None
) -> None:
    assert_result_or_counted_reason(outcome(record, "stream", selected))


#: Valid records that make the classifier read every field it knows (no membership property,
#: so the event name is read; a device without type, so the OS name is read).
BASE_RECORDS: tuple[dict[str, Any], ...] = (
    {
        "type": "track",
        "event": "Audience Entered",
        "properties": {"audience_key": "vip", "email": EMAIL_RAW, "ios_idfa": IDFA_RAW, "android_idfa": MAID_RAW},
        "context": {
            "traits": {"email": EMAIL_RAW},
            "personas": {"computation_class": "audience", "computation_key": "vip"},
            "device": {"advertisingId": IDFA_RAW},
            "os": {"name": "iOS"},
        },
        **dict.fromkeys(("idfa", "ios_idfa", "maid", "android_id", "android_idfa", "gaid"), MAID_RAW),
    },
    {
        "type": "identify",
        "traits": {"vip": True, "email": EMAIL_RAW, "ios_idfa": IDFA_RAW, "android_idfa": MAID_RAW},
        "context": {
            "traits": {"email": EMAIL_RAW},
            "personas": {"computation_class": "journey_step", "computation_key": "vip"},
            "device": {"type": "android", "advertisingId": MAID_RAW},
        },
    },
    {"type": "identify", "traits": {"vip": True, "email": EMAIL_RAW}},
    {"audience": "vip", "in_audience": "true", "email": EMAIL_RAW, "idfa": IDFA_RAW, "gaid": MAID_RAW},
)


def _paths(value: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path into a record, at every depth."""
    if not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        found.append((*prefix, key))
        found += _paths(inner, (*prefix, key))
    return found


PATHS = [(index, path) for index, base in enumerate(BASE_RECORDS) for path in _paths(base)]


def test_base_records_are_members() -> None:
    for base in BASE_RECORDS:
        assert isinstance(classify(base, "s", frozenset({"vip"})), Membership)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), json_values)
def test_property_any_value_at_any_depth_is_a_result_or_a_counted_reason(
    where: tuple[int, tuple[str, ...]], value: object
) -> None:
    index, path = where
    record = copy.deepcopy(BASE_RECORDS[index])
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert_result_or_counted_reason(outcome(record, "s", frozenset({"vip"})))
