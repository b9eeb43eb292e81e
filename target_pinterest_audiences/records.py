"""Record shapes to membership signals: which audiences a record speaks of, and who.

The contract knows three shapes, tried in order (first match wins):

1. Segment audience events (``type`` is ``identify`` or ``track``), as Segment Engage sends
   them to its own Pinterest Audiences destination;
2. flat rows with an ``audience`` field and an optional ``in_audience``;
3. anything else: the stream's name is the audience and every record is a member.

Everything here is pure: no I/O, no logging, and errors never carry a record's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from target_pinterest_audiences.identifiers import (
    EMAIL,
    IDFA,
    MAID,
    InvalidIdentifierError,
    hash_identifier,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

SEGMENT_TYPES = frozenset({"identify", "track"})
AUDIENCE_ENTERED = "Audience Entered"
AUDIENCE_EXITED = "Audience Exited"
#: Audience keys and names go into list names; Pinterest caps nothing documented, we cap
#: at a length no real audience key reaches so that a garbage field is caught early.
MAX_AUDIENCE_KEY_LENGTH = 200

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})

# Where each identifier type is looked up, in the contract's order; the first present wins.
_IDFA_KEYS = ("idfa", "ios_idfa")
_MAID_KEYS = ("maid", "android_id", "gaid")
_DEVICE_TYPES = {"ios": IDFA, "android": MAID}


class InvalidRecordError(ValueError):
    """A record that cannot be used. The message is a reason, never a value."""

    def __init__(self, reason: str, *, list_type: str | None = None, audiences: tuple[str, ...] = ()) -> None:
        """``list_type`` and ``audiences`` say which lists the record was meant for, when known."""
        super().__init__(reason)
        self.list_type = list_type
        self.audiences = audiences


class Membership(NamedTuple):
    """What one record says: audience signals for each of its hashed identifiers.

    A named tuple: one is made per record, and a frozen dataclass costs four times as much.
    """

    signals: tuple[tuple[str, bool], ...]
    """(audience key, is a member) pairs; several when an identify carries several traits."""
    identifiers: tuple[tuple[str, str], ...]
    """(list type, lowercase hex hash) pairs, one per list type at most."""


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
    if len(_KEYS) < 10_000:  # noqa: PLR2004 - a bound, in case every record names its own audience
        _KEYS[value] = key
    return key


def _email(record: Mapping[str, Any], context: dict[str, Any] | None) -> object:
    """traits.email, properties.email, context.traits.email, email: the first present."""
    traits = record.get("traits")
    email = traits.get("email") if isinstance(traits, dict) else None
    if email is None or email == "":
        properties = record.get("properties")
        email = properties.get("email") if isinstance(properties, dict) else None
        if email is None or email == "":
            context_traits = context.get("traits") if context is not None else None
            email = context_traits.get("email") if isinstance(context_traits, dict) else None
            if email is None or email == "":
                email = record.get("email")
    return email


def _device_identifier(context: dict[str, Any], raw: dict[str, object]) -> None:
    """context.device.advertisingId, as an IDFA or a MAID by context.device.type."""
    device = context.get("device")
    if isinstance(device, dict):
        device_type = device.get("type")
        list_type = _DEVICE_TYPES.get(device_type.lower()) if isinstance(device_type, str) else None
        if list_type:
            advertising_id = device.get("advertisingId")
            if advertising_id is not None and advertising_id != "":
                raw[list_type] = advertising_id


def _raw_identifiers(record: Mapping[str, Any], context: object = None) -> dict[str, object]:
    """The raw identifier of each type, found where the contract looks, first present wins."""
    if context is None:
        context = record.get("context")
    if not isinstance(context, dict):
        context = None
    raw: dict[str, object] = {}
    email = _email(record, context)
    if email is not None and email != "":
        raw[EMAIL] = email
    if context is not None:
        _device_identifier(context, raw)
    for list_type, keys in ((IDFA, _IDFA_KEYS), (MAID, _MAID_KEYS)):
        if list_type not in raw:
            for key in keys:
                value = record.get(key)
                if value is not None and value != "":
                    raw[list_type] = value
                    break
    return raw


def extract_identifiers(record: Mapping[str, Any], context: object = None) -> tuple[tuple[str, str], ...]:
    """Find, normalise and hash every identifier of a record, one per list type."""
    raw = _raw_identifiers(record, context)
    if not raw:
        msg = "no identifier (email, IDFA or Android advertising id)"
        raise InvalidRecordError(msg)
    hashed = []
    for kind, value in raw.items():
        try:
            hashed.append((kind, hash_identifier(kind, value)))
        except InvalidIdentifierError as exc:  # noqa: PERF203 - raising ends the loop
            raise InvalidRecordError(str(exc), list_type=kind) from None
    return tuple(hashed)


def _persona_key(context: object) -> object:
    """The audience key a Segment Engage audience event carries in ``context.personas``."""
    personas = context.get("personas") if isinstance(context, dict) else None
    if isinstance(personas, dict) and personas.get("computation_class") == "audience":
        return personas.get("computation_key")
    return None


def _identify_signals(
    record: Mapping[str, Any], selected: frozenset[str] | None, persona_key: object
) -> tuple[tuple[str, bool], ...] | None:
    """Signals of a Segment identify call, or None when it names no audience."""
    traits = record.get("traits")
    traits = traits if isinstance(traits, dict) else {}
    if persona_key is not None and persona_key != "":
        key = _audience_key(persona_key)
        if key not in traits:
            msg = "identify names an audience but its traits carry no membership for it"
            raise InvalidRecordError(msg)
        return ((key, parse_membership(traits[key])),)
    if not selected:
        return None
    # Segment's docs also show audience identifies with bare traits: the audiences setting
    # says which traits are audience keys.
    found = tuple((key, traits[key]) for key in sorted(selected) if isinstance(traits.get(key), bool))
    return found or None


def _track_signals(record: Mapping[str, Any], persona_key: object) -> tuple[tuple[str, bool], ...] | None:
    """Signals of a Segment track call, or None when it names no audience."""
    properties = record.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    raw_key = properties.get("audience_key")
    if not _present(raw_key):
        raw_key = persona_key
        if not _present(raw_key):
            return None
    key = _audience_key(raw_key)
    if key in properties:
        return ((key, parse_membership(properties[key])),)
    member = {AUDIENCE_ENTERED: True, AUDIENCE_EXITED: False}.get(record.get("event"))  # type: ignore[arg-type]
    if member is None:
        msg = "track names an audience but carries no membership (property or event name)"
        raise InvalidRecordError(msg)
    return ((key, member),)


def classify(record: Mapping[str, Any], stream: str, selected: frozenset[str] | None = None) -> Membership | Ignored:
    """Turn one record into membership signals, or say why it is ignored.

    ``selected`` is the ``audiences`` setting: only these audiences are synced.
    Raises :class:`InvalidRecordError` for a record that cannot be used.
    """
    signals: tuple[tuple[str, bool], ...]
    kind = record.get("type")
    context = record.get("context")
    if kind in SEGMENT_TYPES:
        persona_key = _persona_key(context)
        found = (
            _identify_signals(record, selected, persona_key)
            if kind == "identify"
            else _track_signals(record, persona_key)
        )
        if found is None:
            return Ignored("not an audience event")
        signals = found
    elif "audience" in record:
        # Only a missing in_audience means true: a null one is no membership value at all.
        member = parse_membership(record["in_audience"]) if "in_audience" in record else True
        signals = ((_audience_key(record["audience"]), member),)
    else:
        signals = ((_audience_key(stream), True),)

    if selected is not None:
        signals = tuple(signal for signal in signals if signal[0] in selected)
        if not signals:
            return Ignored("audience not in the audiences setting")
    try:
        return Membership(signals, extract_identifiers(record, context))
    except InvalidRecordError as exc:
        exc.audiences = tuple(audience for audience, _ in signals)
        raise
