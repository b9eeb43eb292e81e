"""Record shapes to membership signals: which audiences a record speaks of, and who.

The contract knows three shapes, tried in order (first match wins):

1. Segment messages (``type`` is one of Segment's spec types). Only identify and track calls
   carry membership, read the way Segment's own resolver reads Engage payloads
   (``packages/core/src/audience-membership.ts`` in segmentio/action-destinations); page,
   screen, group and alias calls are counted and ignored;
2. flat rows with an ``audience`` field and an optional ``in_audience``;
3. anything else: the stream's name is the audience and every record is a member.

Each identifier stands on its own: one that cannot be used is dropped (and reported by list
type and reason) while the record's other identifiers still carry its signal, so an iOS user
who limits ad tracking still leaves an audience by email.

Everything here is pure: no I/O, no logging, and errors never carry a record's values. A
value of an unexpected type anywhere is an :class:`InvalidRecordError`, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from target_pinterest_audiences.identifiers import (
    IDFA,
    LIST_TYPES,
    MAID,
    InvalidIdentifierError,
    hash_identifier,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Segment's spec types (segment.com/docs/connections/spec): a record of one of these is a
#: Segment message, whatever else it holds.
SEGMENT_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
#: ``context.personas.computation_class`` values that are audiences: Segment's resolver
#: treats a Journeys step like an audience.
AUDIENCE_CLASSES = frozenset({"audience", "journey_step"})
AUDIENCE_ENTERED = "Audience Entered"
AUDIENCE_EXITED = "Audience Exited"
#: Audience keys and names go into list names; Pinterest caps nothing documented, we cap
#: at a length no real audience key reaches so that a garbage field is caught early.
MAX_AUDIENCE_KEY_LENGTH = 200

#: Why records are ignored: fixed phrases, the run report counts records by them.
NOT_AN_AUDIENCE_EVENT = "not an audience event"
NO_MEMBERSHIP_CALL = "page, screen, group or alias message (no membership)"
NOT_SELECTED = "audience not in the audiences setting"
#: Why a record without a single identifier is unusable, when it had none at all.
NO_IDENTIFIER = "no identifier (email, IDFA or Android advertising id)"

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_EVENT_MEMBERSHIP = {AUDIENCE_ENTERED: True, AUDIENCE_EXITED: False}

#: ``context.device.type`` values (Segment's spec: ``ios``, ``android``), lowercased.
_DEVICE_TYPES = {"ios": IDFA, "android": MAID}
#: ``context.os.name`` values that say the platform when a device has no type, lowercased.
_OS_NAMES = {"ios": IDFA, "ipados": IDFA, "android": MAID}


class InvalidRecordError(ValueError):
    """A record that cannot be used. The message is a reason, never a value."""

    def __init__(
        self,
        reason: str,
        *,
        list_type: str | None = None,
        audiences: tuple[str, ...] = (),
        dropped: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """``list_type`` and ``audiences`` say which lists the record was meant for, when known.

        ``dropped`` holds (list type, reason) for each identifier the record had but that
        could not be used, so that a run report can count them per list.
        """
        super().__init__(reason)
        self.list_type = list_type
        self.audiences = audiences
        self.dropped = dropped


class Membership(NamedTuple):
    """What one record says: audience signals for each of its hashed identifiers.

    A named tuple: one is made per record, and a frozen dataclass costs four times as much.
    """

    signals: tuple[tuple[str, bool], ...]
    """(audience key, is a member) pairs; several when an identify carries several traits."""
    identifiers: tuple[tuple[str, str], ...]
    """(list type, lowercase hex hash) pairs, one per list type at most, never empty."""
    dropped: tuple[tuple[str, str], ...] = ()
    """(list type, reason) for each identifier present but unusable; its signal still counts
    for the other identifiers."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A record that is valid but says nothing for us to sync, and why."""

    reason: str


def parse_membership(value: object) -> bool:
    """Read a membership value: JSON booleans, ``true``/``false`` in any case, 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return value == 1
    elif isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    msg = "membership value is not a boolean (true/false, 1/0)"
    raise InvalidRecordError(msg)


def _present(value: object) -> bool:
    return value is not None and value != ""


def _object(parent: Mapping[str, Any] | None, key: str, path: str) -> dict[str, Any] | None:
    """A nested object, or None when absent or null; any other value makes the record unusable."""
    if parent is None:
        return None
    value = parent.get(key)
    if value is None or isinstance(value, dict):
        return value
    msg = f"{path} is not an object"
    raise InvalidRecordError(msg)


def _string(parent: Mapping[str, Any] | None, key: str, path: str) -> str | None:
    """A string field, or None when absent or null; any other value makes the record unusable."""
    if parent is None:
        return None
    value = parent.get(key)
    if value is None or isinstance(value, str):
        return value
    msg = f"{path} is not a string"
    raise InvalidRecordError(msg)


#: Audience keys already checked: a run sees a handful of keys millions of times.
_KEYS: dict[str, str] = {}


def _audience_key(value: object) -> str:
    if isinstance(value, str):
        known = _KEYS.get(value)
        if known is not None:
            return known
    if not isinstance(value, str) or not value.strip():
        msg = "audience key is not a non-empty string"
        raise InvalidRecordError(msg)
    key = value.strip()
    if len(key) > MAX_AUDIENCE_KEY_LENGTH:
        msg = f"audience key longer than {MAX_AUDIENCE_KEY_LENGTH} characters"
        raise InvalidRecordError(msg)
    if not key.isprintable():
        # A list name is sent as JSON: a control character or a lone surrogate (which a JSON
        # escape can carry) names no audience anyone created.
        msg = "audience key has characters that cannot be printed"
        raise InvalidRecordError(msg)
    if len(_KEYS) < 10_000:  # noqa: PLR2004 - a bound, in case every record names its own audience
        _KEYS[value] = key
    return key


class _Segment(NamedTuple):
    """The parts of a Segment identify or track call the classifier reads, type-checked."""

    kind: str
    context: dict[str, Any] | None
    traits: dict[str, Any] | None
    properties: dict[str, Any] | None


def _persona_key(context: dict[str, Any] | None) -> object:
    """``context.personas.computation_key`` of an audience or a Journeys step, else None."""
    personas = _object(context, "personas", "context.personas")
    computation_class = _string(personas, "computation_class", "context.personas.computation_class")
    if personas is None or computation_class not in AUDIENCE_CLASSES:
        return None
    return personas.get("computation_key")


def _identify_signals(
    traits: dict[str, Any] | None, selected: frozenset[str] | None, persona_key: object
) -> tuple[tuple[str, bool], ...] | None:
    """Signals of a Segment identify call, or None when it names no audience."""
    if _present(persona_key):
        key = _audience_key(persona_key)
        if traits is None or key not in traits:
            msg = "identify names an audience but its traits carry no membership for it"
            raise InvalidRecordError(msg)
        return ((key, parse_membership(traits[key])),)
    if not selected or traits is None:
        return None
    # Segment's docs also show audience identifies with bare traits: the audiences setting
    # says which traits are audience keys, and only a boolean is taken for a signal.
    found = tuple((key, traits[key]) for key in sorted(selected) if isinstance(traits.get(key), bool))
    return found or None


def _track_signals(
    properties: dict[str, Any] | None, event: str | None, persona_key: object
) -> tuple[tuple[str, bool], ...] | None:
    """Signals of a Segment track call, or None when it names no audience."""
    raw_key = properties.get("audience_key") if properties is not None else None
    if not _present(raw_key):
        raw_key = persona_key
        if not _present(raw_key):
            return None
    key = _audience_key(raw_key)
    value = properties.get(key) if properties is not None else None
    if value is not None:
        return ((key, parse_membership(value)),)
    # No membership property (or a null one): the event name says it, as Engage names them.
    member = _EVENT_MEMBERSHIP.get(event) if event is not None else None
    if member is None:
        msg = "track names an audience but carries no membership (property or event name)"
        raise InvalidRecordError(msg)
    return ((key, member),)


def _device_list_type(context: dict[str, Any] | None) -> tuple[str | None, object]:
    """Which list ``context.device.advertisingId`` belongs to (by device type, else OS name)."""
    device = _object(context, "device", "context.device")
    if device is None:
        return None, None
    device_type = _string(device, "type", "context.device.type")
    if device_type is not None and device_type.strip():
        list_type = _DEVICE_TYPES.get(device_type.strip().lower())
    else:
        os_name = _string(_object(context, "os", "context.os"), "name", "context.os.name")
        list_type = _OS_NAMES.get(os_name.strip().lower()) if os_name is not None else None
    return list_type, device.get("advertisingId") if list_type is not None else None


def _candidates(record: Mapping[str, Any], segment: _Segment | None) -> tuple[tuple[object, ...], ...]:
    """Every raw value that may be each list type's identifier (EMAIL, IDFA, MAID), in the contract's order."""
    get = record.get
    idfa: tuple[object, ...] = (get("idfa"), get("ios_idfa"))
    maid: tuple[object, ...] = (get("maid"), get("android_id"), get("android_idfa"), get("gaid"))
    if segment is None:
        return (get("email"),), idfa, maid
    context_traits = _object(segment.context, "traits", "context.traits")
    context_email = context_traits.get("email") if context_traits is not None else None
    if segment.kind == "identify":
        synced = segment.traits  # Engage's identifier sync: traits on identify calls ...
        email: tuple[object, ...] = (synced.get("email") if synced is not None else None, context_email)
    else:
        synced = segment.properties  # ... and properties on track calls
        # Segment puts a track call's email in context.traits (ID Sync docs, FAQ).
        email = (context_email, synced.get("email") if synced is not None else None)
    if synced is not None:
        idfa = (synced.get("ios_idfa"), *idfa)
        maid = (synced.get("android_idfa"), *maid)
    device_type, advertising_id = _device_list_type(segment.context)
    if device_type == IDFA:
        idfa = (advertising_id, *idfa)
    elif device_type == MAID:
        maid = (advertising_id, *maid)
    return email, idfa, maid


def extract_identifiers(
    record: Mapping[str, Any], segment: _Segment | None = None
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Each list type's identifier, hashed, and (list type, reason) for those dropped.

    For each type the first usable value in the contract's order is taken; when a type's
    values are all unusable, the first one's reason is its drop reason.
    """
    hashed: list[tuple[str, str]] = []
    dropped: list[tuple[str, str]] = []
    for list_type, values in zip(LIST_TYPES, _candidates(record, segment), strict=True):
        reason = None
        for value in values:
            if value is not None:
                try:
                    hashed.append((list_type, hash_identifier(list_type, value)))
                except InvalidIdentifierError as exc:
                    reason = reason or str(exc)
                else:
                    break
        else:
            if reason is not None:
                dropped.append((list_type, reason))
    return tuple(hashed), tuple(dropped)


def _segment_signals(
    record: Mapping[str, Any], kind: str, selected: frozenset[str] | None
) -> tuple[_Segment, tuple[tuple[str, bool], ...] | None]:
    """The type-checked parts of an identify or track call, and its signals (None: no audience)."""
    context = _object(record, "context", "context")
    persona_key = _persona_key(context)
    if kind == "identify":
        segment = _Segment(kind, context, _object(record, "traits", "traits"), None)
        return segment, _identify_signals(segment.traits, selected, persona_key)
    segment = _Segment(kind, context, None, _object(record, "properties", "properties"))
    event = _string(record, "event", "event")
    return segment, _track_signals(segment.properties, event, persona_key)


def classify(record: Mapping[str, Any], stream: str, selected: frozenset[str] | None = None) -> Membership | Ignored:
    """Turn one record into membership signals, or say why it is ignored.

    ``selected`` is the ``audiences`` setting: only these audiences are synced.
    Raises :class:`InvalidRecordError` for a record that cannot be used: an unusable
    membership signal, a value of an unexpected type, or no usable identifier.
    """
    signals: tuple[tuple[str, bool], ...] | None
    segment: _Segment | None = None
    kind = record.get("type")
    if kind is not None and not isinstance(kind, str):
        msg = "type is not a string"
        raise InvalidRecordError(msg)
    if kind in SEGMENT_TYPES:
        if kind not in ("identify", "track"):
            return Ignored(NO_MEMBERSHIP_CALL)
        segment, signals = _segment_signals(record, kind, selected)
        if signals is None:
            return Ignored(NOT_AN_AUDIENCE_EVENT)
    elif "audience" in record:
        # Only a missing in_audience means true: a null one is no membership value at all.
        member = parse_membership(record["in_audience"]) if "in_audience" in record else True
        signals = ((_audience_key(record["audience"]), member),)
    else:
        signals = ((_audience_key(stream), True),)

    if selected is not None:
        signals = tuple(signal for signal in signals if signal[0] in selected)
        if not signals:
            return Ignored(NOT_SELECTED)
    try:
        identifiers, dropped = extract_identifiers(record, segment)
    except InvalidRecordError as exc:
        exc.audiences = tuple(audience for audience, _ in signals)
        raise
    if not identifiers:
        reason = "; ".join(why for _, why in dropped) or NO_IDENTIFIER
        list_type = dropped[0][0] if dropped else None
        audiences = tuple(audience for audience, _ in signals)
        raise InvalidRecordError(reason, list_type=list_type, audiences=audiences, dropped=dropped)
    return Membership(signals, identifiers, dropped)
