"""The payloads Segment documents publicly, through the real executable, into the emulator.

Each case is a set of Segment messages as Segment's docs and destination tests show them (the
source is named with each case), under its own audience key, and the lists the contract says
they leave in Pinterest, written by hand as plain identifiers and hashed here with the
contract's rule (trim, lowercase, SHA-256 hex). All cases go through one run, so that a
record read as the wrong audience lands in a list no case expects.

Where Segment's own destinations read a payload differently, the contract decides (e.g. a
device's ``advertisingId`` before the identifier-sync fields); the cases follow the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import held, run_target, sha_for, singer_lines
from pinterest_emulator import PinterestEmulator

SEGMENT_DOCS = "https://github.com/segmentio/segment-docs/blob/develop/src"
ACTION_DESTINATIONS = "https://github.com/segmentio/action-destinations/blob/main/packages"
USING_ENGAGE_DATA = f"{SEGMENT_DOCS}/engage/using-engage-data.md"  # segment.com/docs/engage/using-engage-data/
EVENT_MAPPING = f"{SEGMENT_DOCS}/engage/event-mapping-configuration.md"
JOURNEYS_SEND_DATA = f"{SEGMENT_DOCS}/engage/journeys/send-data.md"
ID_SYNC = f"{SEGMENT_DOCS}/engage/trait-activation/id-sync.md"
SPEC_COMMON = f"{SEGMENT_DOCS}/connections/spec/common.md"
RESOLVER = f"{ACTION_DESTINATIONS}/core/src/audience-membership.ts"
SNAP_TESTS = (
    f"{ACTION_DESTINATIONS}/destination-actions/src/destinations/snap-audiences/syncAudience/__tests__/index.test.ts"
)
REDDIT_TESTS = (
    f"{ACTION_DESTINATIONS}/destination-actions/src/destinations/reddit-audiences/syncAudience/__tests__/index.test.ts"
)

STREAM = "engage_export"
#: The all-zeros id an iOS or Android device reports when its user limits ad tracking.
ZEROS = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Case:
    """Segment messages of one audience key, and the lists they must leave (plain identifiers)."""

    source: str
    messages: tuple[dict[str, Any], ...]
    lists: dict[str, frozenset[str]]


def personas(key: str, computation_class: str = "audience") -> dict[str, Any]:
    """``context.personas`` as Engage fills it (the resolver reads class and key)."""
    return {
        "computation_class": computation_class,
        "computation_key": key,
        "computation_id": f"aud_{key}",
        "namespace": "spa_docs",
        "space_id": "spa_docs",
    }


def engage_identify(key: str, email: str, *, member: object, **extra: Any) -> dict[str, Any]:
    """An Engage audience identify call: the audience key as a trait (using-engage-data.md)."""
    context = {"personas": personas(key), **extra.pop("context", {})}
    return {
        "type": "identify",
        "userId": email.split("@", 1)[0],
        "traits": {"email": email, key: member},
        "context": context,
        **extra,
    }


def engage_track(key: str, email: str, *, member: object, **context: Any) -> dict[str, Any]:
    """An Engage audience track call: Audience Entered/Exited with audience_key (using-engage-data.md)."""
    return {
        "type": "track",
        "userId": email.split("@", 1)[0],
        "event": "Audience Entered" if member is True else "Audience Exited",
        "properties": {"audience_key": key, key: member},
        "context": {"traits": {"email": email}, "personas": personas(key), **context},
    }


def _snap(event: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A payload of the Snap Audiences tests: keyed by computation_key only, an Android device."""
    return {
        "type": "track",
        "event": event,
        "properties": properties,
        "context": {
            "__segment_internal": {"creator": "sync-worker"},
            "device": {"advertisingId": "advertising_id_1", "type": "android"},
            "personas": {
                "audience_settings": {"customAudienceName": "audience name 1", "retention_in_days": 90},
                "computation_class": "audience",
                "external_audience_id": "123456789",
                "computation_id": "aud_2m9wBh1vN9iiRRmaP2vifxuqGRo",
                "computation_key": "snap_test_audience",
                "namespace": "spa_fNXUFfyD86AhrDTtH2z2Vs",
                "space_id": "spa_fNXUFfyD86AhrDTtH2z2Vs",
            },
        },
    }


def _reddit(traits: dict[str, Any]) -> dict[str, Any]:
    """A payload of the Reddit Audiences tests: Engage's identifier sync puts ids in traits."""
    return {
        "userId": "+254729159373",
        "type": "identify",
        "context": {
            "personas": {
                "external_audience_id": "ca.2066268373552240021",
                "computation_class": "audience",
                "computation_id": "aud_2mKnduJD6sudXVkAqo0q3qshFTW",
                "computation_key": "test_audience_name",
            }
        },
        "traits": traits,
    }


IPHONE_IDFA = "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB"  # the spec's example device (spec/common.md)
ANDROID_AAID = "cfb68af8-491a-4813-8351-8a26152ab887"
IPAD_IDFA = "1E2DFA89-496A-47FD-9941-DF1FC4E6484A"
MAC_ID = "0F6A3C52-7E29-4C4B-8F55-6B0E1C2D3A4B"

CASES: dict[str, Case] = {
    "identify-enter-and-exit": Case(
        f"{USING_ENGAGE_DATA} 'Audience generated events' (identify); {RESOLVER}",
        (
            engage_identify("first_time_shopper", "ana@example.com", member=True),
            engage_identify("first_time_shopper", "ben@example.com", member=True),
            engage_identify("first_time_shopper", "ben@example.com", member=False),  # joins and leaves
        ),
        {"first_time_shopper (EMAIL)": frozenset({"ana@example.com"})},
    ),
    "track-entered-and-exited": Case(
        f"{USING_ENGAGE_DATA} 'Audience generated events' (track); {EVENT_MAPPING} (email in context.traits)",
        (
            engage_track("order_completed_last_30days", "cai@example.com", member=True),
            engage_track("order_completed_last_30days", "dee@example.com", member=True),
            engage_track("order_completed_last_30days", "dee@example.com", member=False),  # joins and leaves
            engage_track("order_completed_last_30days", "eli@example.com", member=False),  # leaves and joins again
            engage_track("order_completed_last_30days", "eli@example.com", member=True),
        ),
        {"order_completed_last_30days (EMAIL)": frozenset({"cai@example.com", "eli@example.com"})},
    ),
    "track-as-documented": Case(
        f"{EVENT_MAPPING} 'Track events' (the payload as printed: audience_key, no context.personas)",
        (
            {
                "anonymousId": "anon-test-1",
                "context": {"traits": {"email": "user-testing-1@gmail.com"}},
                "event": "Audience Entered",
                "properties": {"audience_key": "your_audience_key", "your_audience_key": True},
                "type": "track",
                "userId": "user-testing-1",
            },
        ),
        {"your_audience_key (EMAIL)": frozenset({"user-testing-1@gmail.com"})},
    ),
    "journey-steps": Case(
        f"{JOURNEYS_SEND_DATA} 'Track calls', 'Identify calls' (string 'true'); {RESOLVER} (journey_step)",
        (
            {
                "type": "track",
                "event": "Audience Entered",
                "properties": {"j_o_first_purchase__opened_email_dje83h": "true"},
                "context": {
                    "traits": {"email": "fay@example.com"},
                    "personas": personas("j_o_first_purchase__opened_email_dje83h", "journey_step"),
                },
            },
            {
                "type": "identify",
                "traits": {"j_o_first_purchase__opened_email_dje83h": "true", "email": "gus@example.com"},
                "context": {"personas": personas("j_o_first_purchase__opened_email_dje83h", "journey_step")},
            },
        ),
        {"j_o_first_purchase__opened_email_dje83h (EMAIL)": frozenset({"fay@example.com", "gus@example.com"})},
    ),
    "computed-traits-are-ignored": Case(
        f"{USING_ENGAGE_DATA} 'Computed Trait generated events' (an email added: none must land)",
        (
            {
                "type": "identify",
                "userId": "u123",
                "traits": {"total_revenue_180_days": 450.00, "email": "hal@example.com"},
            },
            {
                "type": "identify",
                "userId": "u123",
                "traits": {"total_revenue_180_days": 450.00, "email": "hal@example.com"},
                "context": {"personas": personas("total_revenue_180_days", "trait")},
            },
            {
                "type": "track",
                "event": "Trait Computed",
                "userId": "u123",
                "properties": {"trait_key": "total_revenue_180_days", "total_revenue_180_days": 450.00},
                "context": {"traits": {"email": "hal@example.com"}},
            },
        ),
        {},
    ),
    "keyed-by-computation-key-device-first": Case(
        f"{SNAP_TESTS} (addPayload1-3, removePayload1-3); {RESOLVER} (computation_key)",
        (
            _snap(
                "Audience Entered",
                {
                    "android_idfa": "android_idfa_1111111111",
                    "snap_test_audience": True,
                    "phone": "+1111111111",
                    "email": "test11111111@gmail.com",
                },
            ),
            _snap("Audience Entered", {"snap_test_audience": True, "phone": "+2222222222"}),
            _snap(
                "Audience Entered",
                {
                    "android_idfa": "android_idfa_3333333333",
                    "snap_test_audience": True,
                    "email": "test33333333@gmail.com",
                },
            ),
            _snap(
                "Audience Exited",
                {"snap_test_audience": False, "phone": "+4444444444", "email": "test44444444@gmail.com"},
            ),
            _snap("Audience Exited", {"android_idfa": "android_idfa_5555555555", "snap_test_audience": False}),
            _snap(
                "Audience Exited",
                {
                    "android_idfa": "android_idfa_6666666666",
                    "snap_test_audience": False,
                    "email": "test6666666666@gmail.com",
                },
            ),
        ),
        # Every payload carries the same device: its id joins, then leaves (the last signal wins).
        {"snap_test_audience (EMAIL)": frozenset({"test11111111@gmail.com", "test33333333@gmail.com"})},
    ),
    "identifier-sync-in-traits": Case(
        f"{REDDIT_TESTS} (segmentEventAdd, -Remove, -EmailOnly, -MaidOnly)",
        (
            _reddit({"email": "Al.ice+Apple@Example.Com", "android_idfa": "test_idfa", "test_audience_name": True}),
            _reddit({"email": "testemail234@gmail.com", "android_idfa": "test_idfa", "test_audience_name": False}),
            _reddit({"email": "Al.ice+Apple@Example.Com", "test_audience_name": True}),
            _reddit({"android_idfa": "test_idfa", "test_audience_name": True}),
        ),
        {
            "test_audience_name (EMAIL)": frozenset({"al.ice+apple@example.com"}),
            "test_audience_name (MAID)": frozenset({"test_idfa"}),
        },
    ),
    "identifier-sync-in-track-properties": Case(
        f"{ID_SYNC} FAQ 'Where are traits added onto Track calls?' (ids in properties, email in context.traits)",
        (
            {
                "type": "track",
                "event": "Audience Entered",
                "properties": {"audience_key": "ios_app_buyers", "ios_app_buyers": True, "ios_idfa": IPAD_IDFA},
                "context": {"traits": {"email": "ivy@example.com"}, "personas": personas("ios_app_buyers")},
            },
        ),
        {"ios_app_buyers (EMAIL)": frozenset({"ivy@example.com"}), "ios_app_buyers (IDFA)": frozenset({IPAD_IDFA})},
    ),
    "devices-with-and-without-type": Case(
        f"{SPEC_COMMON} (context.device: type, advertisingId; context.os: name)",
        (
            engage_identify(
                "app_openers",
                "jon@example.com",
                member=True,
                context={"device": {"advertisingId": IPHONE_IDFA, "adTrackingEnabled": True, "type": "ios"}},
            ),
            engage_track(
                "app_openers",
                "kim@example.com",
                member=True,
                device={"advertisingId": ANDROID_AAID, "adTrackingEnabled": True, "manufacturer": "Google"},
                os={"name": "Android", "version": "12"},
            ),
            engage_track(
                "app_openers",
                "lea@example.com",
                member=True,
                device={"advertisingId": IPAD_IDFA},
                os={"name": "iPadOS"},
            ),
            # No type and an OS with no advertising id list: the device id is not used.
            engage_track(
                "app_openers", "max@example.com", member=True, device={"advertisingId": MAC_ID}, os={"name": "Mac OS X"}
            ),
        ),
        {
            "app_openers (EMAIL)": frozenset(
                {"jon@example.com", "kim@example.com", "lea@example.com", "max@example.com"}
            ),
            "app_openers (IDFA)": frozenset({IPHONE_IDFA, IPAD_IDFA}),
            "app_openers (MAID)": frozenset({ANDROID_AAID}),
        },
    ),
    "limited-ad-tracking": Case(
        f"{SPEC_COMMON} (device.adTrackingEnabled); CONTRACT.md 'Each identifier stands on its own'",
        (
            engage_track(
                "lat_users", "ned@example.com", member=True, device={"type": "ios", "advertisingId": IPHONE_IDFA}
            ),
            # Later the same user limits ad tracking and leaves: the email still leaves.
            engage_track(
                "lat_users",
                "ned@example.com",
                member=False,
                device={"type": "ios", "advertisingId": ZEROS, "adTrackingEnabled": False},
            ),
            engage_track(
                "lat_users",
                "ola@example.com",
                member=True,
                device={"type": "ios", "advertisingId": ZEROS, "adTrackingEnabled": False},
            ),
            # No usable identifier at all: an unusable record, counted.
            {
                "type": "track",
                "event": "Audience Entered",
                "properties": {"audience_key": "lat_users", "lat_users": True},
                "context": {"device": {"type": "ios", "advertisingId": ZEROS, "adTrackingEnabled": False}},
            },
        ),
        {"lat_users (EMAIL)": frozenset({"ola@example.com"}), "lat_users (IDFA)": frozenset({IPHONE_IDFA})},
    ),
    "null-membership-property": Case(
        "CONTRACT.md (track: a null membership property falls back to the event name)",
        (
            engage_track("null_property", "pia@example.com", member=True),
            engage_track("null_property", "pia@example.com", member=None),  # Audience Exited, property null
            {
                "type": "track",
                "event": "Audience Entered",
                "properties": {"audience_key": "null_property", "null_property": None},
                "context": {"traits": {"email": "quin@example.com"}},
            },
        ),
        {"null_property (EMAIL)": frozenset({"quin@example.com"})},
    ),
    "page-screen-group-alias-are-ignored": Case(
        "segment.com/docs/connections/spec (page, screen, group, alias); CONTRACT.md (never the stream as audience)",
        tuple(
            {"type": kind, "userId": "rex", "properties": {"email": "rex@example.com", "audience_key": "engage_export"}}
            for kind in ("page", "screen", "group", "alias")
        ),
        {},
    ),
    "identify-without-context": Case(
        f"{EVENT_MAPPING} 'Identify events' (no context: needs the audiences setting, see the test below)",
        (
            {
                "anonymousId": "anon-test-1",
                "traits": {"email": "user-testing-2@gmail.com", "bare_trait_audience": True},
                "type": "identify",
                "userId": "user-testing-1",
            },
        ),
        {},
    ),
}


def hashed(lists: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Plain identifiers to what Pinterest holds: the contract's trim, case (IDFA upper, others lower), SHA-256 hex."""
    return {name: frozenset(sha_for(name, value) for value in values) for name, values in lists.items()}


def test_segment_payloads_leave_the_lists_segment_means(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path, sending: dict[str, Any]
) -> None:
    messages = [message for case in CASES.values() for message in case.messages]
    expected: dict[str, frozenset[str]] = {}
    for case in CASES.values():
        expected |= hashed(case.lists)
    result = run_target(target_config | sending, singer_lines(STREAM, messages, {"position": len(messages)}), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # Exactly these lists: no stray list, empty or not, for a stream, a trait or a non-audience event.
    assert held(emulator) == expected
    assert not any(name.startswith(STREAM) for name in held(emulator))
    assert result.report is not None
    assert result.report["ignored_records"] == {
        "not an audience event": 4,  # three computed-trait messages, one identify without context
        "page, screen, group or alias message (no membership)": 4,
    }
    assert result.report["invalid_records"] == {"IDFA is the all-zeros id of a device that limits ad tracking": 1}
    # The all-zeros IDFAs of the two records with an email are dropped and counted on the list
    # they were meant for (the email still carried the signal); the record without any other
    # identifier is counted once, as an invalid record, not as a dropped identifier too.
    lat = "IDFA is the all-zeros id of a device that limits ad tracking"
    assert result.report["dropped_identifiers"] == {lat: 2}
    counted = [(r["name"], r["invalid"], r["dropped_identifiers"]) for r in result.report["lists"]]
    assert [row for row in counted if row[1] or row[2]] == [("lat_users (IDFA)", 1, 2)]
    assert result.states == [{"position": len(messages)}]


def test_identify_without_context_with_the_audiences_setting(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    # CONTRACT.md: with the audiences setting, each listed trait holding a boolean is a signal.
    case = CASES["identify-without-context"]
    leaves = {
        "type": "identify",
        "traits": {"email": "sal@example.com", "bare_trait_audience": True, "other_trait": True},
    }
    result = run_target(
        target_config | {"audiences": ["bare_trait_audience"]},
        singer_lines(
            STREAM, [*case.messages, leaves, {**leaves, "traits": {**leaves["traits"], "bare_trait_audience": False}}]
        ),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert held(emulator) == hashed({"bare_trait_audience (EMAIL)": frozenset({"user-testing-2@gmail.com"})})
