"""The Stripe, Metronome and Orb request bodies read into ``VendorEvent`` values: pure functions,
no HTTP and no database, shared by the compatibility views (``api.compat.stripe``,
``api.compat.metronome``, ``api.compat.orb``) and ``manage.py bench_ingest --via`` (which runs the
same parsing in process). OpenMeter's and Lago's are in ``planner.actuals.compat.wire``.

A parser returns the events it could read and ``WireProblem`` values for the others (which
event, which of the vendor's fields, why); the view answers the problems in the vendor's shape.
What the events mean (model, customer, tier, tokens) is checked later, by ``compat_ingest``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from planner.actuals.compat.ingest import VendorEvent
from planner.actuals.parse import MAX_BATCH

#: Longest text field accepted (event keys, names, customer ids): the native API's limit.
MAX_TEXT = 255
#: A property value longer than this is refused (the payload is not a document store).
MAX_PROPERTY_TEXT = 1_000
MAX_PROPERTIES = 100
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # and lone UTF-16 surrogates
# RFC 3339 (a subset of ISO 8601): a date, "T" or a space, a time, optional fraction and offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class WireProblem:
    """Why the ``index``-th event of a request is refused before ingestion, on the vendor's
    ``field`` (``payload[value]``, ``properties``...)."""

    index: int
    field: str
    reason: str


class Invalid(ValueError):
    """A field's value is refused; the message is for the caller."""


def text(value: Any, *, required: bool = True, max_length: int = MAX_TEXT, blank: bool = False) -> str:
    """A string without control characters, at most ``max_length`` characters, not blank unless
    ``blank``; ``""`` for an absent optional field (``None``)."""
    if (
        type(value) is str
        and len(value) <= max_length
        and value.isascii()
        and value.isprintable()
        and (blank or value.strip())
    ):
        return value  # the usual case, decided by the checks below the same way
    if value is None:
        if required:
            raise Invalid("Required.")
        return ""
    if not isinstance(value, str):
        raise Invalid(f"Must be a string, not {_kind(value)}.")
    if not blank and not value.strip():
        raise Invalid("May not be blank.")
    if len(value) > max_length:
        raise Invalid(f"At most {max_length} characters (this one has {len(value)}).")
    if _CONTROL.search(value):
        raise Invalid("Control characters and lone UTF-16 surrogates are not allowed.")
    return value


def rfc3339(value: Any, *, naive_is_utc: bool = False) -> datetime:
    """An aware datetime from an RFC 3339 string (``2025-06-10T14:03:00Z``). A string without an
    offset is refused, unless ``naive_is_utc`` (Orb's timestamps are UTC without an offset)."""
    if not isinstance(value, str):
        raise Invalid(f"Must be an RFC 3339 date-time string, not {_kind(value)}.")
    if len(value) > 64 or not _RFC3339.fullmatch(value):
        raise Invalid("Not an RFC 3339 date-time, e.g. 2025-06-10T14:03:00Z.")
    try:
        moment = datetime.fromisoformat(value.upper().replace(" ", "T"))
    except ValueError:
        raise Invalid("Not a valid date-time (check the day and hour ranges).") from None
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise Invalid("Needs a UTC offset or Z (e.g. 2025-06-10T14:03:00Z).")
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise Invalid("Out of range.") from None


def unix_seconds(value: Any) -> datetime:
    """A UTC datetime from whole Unix seconds (an int, or its decimal digits as a string)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid(f"Must be whole Unix seconds, not {_kind(value)}.")
    if isinstance(value, str) and not re.fullmatch(r"-?\d{1,12}", value):
        raise Invalid(f"Invalid integer: {value[:40]}")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Invalid("Out of range.") from None


def flat_properties(value: Any, *, required: bool = False) -> dict[str, Any]:
    """An object of at most ``MAX_PROPERTIES`` properties whose values are strings, numbers,
    booleans or null (nested objects and lists are refused: every vendor here documents flat
    properties)."""
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid(f"Must be an object, not {_kind(value)}.")
    if len(value) > MAX_PROPERTIES:
        raise Invalid(f"At most {MAX_PROPERTIES} properties (this one has {len(value)}).")
    if _plain_properties(value):
        return dict(value)
    for name, item in value.items():
        text(name)
        if isinstance(item, str):
            # The common case first, inline: a short text without control characters.
            if len(item) > MAX_PROPERTY_TEXT or _CONTROL.search(item):
                try:
                    text(item, max_length=MAX_PROPERTY_TEXT, blank=True)
                except Invalid as error:
                    raise Invalid(f"{name}: {error}") from None
        elif isinstance(item, dict | list) or not (item is None or isinstance(item, int | float)):
            raise Invalid(f"{name}: must be a string, a number, a boolean or null.")
    return dict(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain_properties(properties: Mapping[Any, Any]) -> bool:
    """Whether every name is a non-blank string of printable ASCII of at most ``MAX_TEXT``
    characters and every value a string of printable ASCII of at most ``MAX_PROPERTY_TEXT``
    characters, a number, a boolean or null: the usual properties, checked a few C calls at a
    time (``flat_properties`` checks anything else one by one, and refuses what it must)."""
    names = list(properties)
    if not names:
        return True
    if set(map(type, names)) != {str} or max(map(len, names)) > MAX_TEXT or not all(map(str.strip, names)):
        return False
    texts = [item for item in properties.values() if type(item) is str]
    if not set(map(type, properties.values())) <= _SCALARS:
        return False
    joined = "".join(names) + "".join(texts)
    return (
        joined.isascii() and joined.isprintable() and (not texts or max(map(len, texts)) <= MAX_PROPERTY_TEXT)
    )


def readable_event(
    item: Any, *, key: str, name: str, customer: Sequence[str], properties: str, now: datetime
) -> VendorEvent:
    """What can be read of a malformed event (``item``, as sent), for its ingestion error: the
    fields named ``key``, ``name``, the first of ``customer`` found (a name in ``properties``
    when it starts with ``properties.``), and the ``properties`` object's scalar values (nested
    ones as ``"..."``); received ``now``. Texts are cut to ``MAX_TEXT`` and NUL characters and
    lone surrogates replaced, so the row can be stored whatever was sent."""
    item = item if isinstance(item, Mapping) else {}
    raw = item.get(properties)
    bag: dict[str, Any] = {}
    if isinstance(raw, Mapping):
        for field, value in list(raw.items())[:MAX_PROPERTIES]:
            scalar = value is None or isinstance(value, bool | int | float | str)
            bag[_storable(str(field))] = _storable(value) if scalar else "..."

    def found(field: str) -> str:
        prefix = f"{properties}."
        value = bag.get(field.removeprefix(prefix)) if field.startswith(prefix) else item.get(field)
        return _storable(value) if isinstance(value, str) else ""

    return VendorEvent(
        key=found(key),
        source="",
        name=found(name),
        customer=next((value for value in map(found, customer) if value), ""),
        timestamp=now,
        properties=bag,
    )


def _storable(value: Any) -> Any:
    """``value`` as a database stores it: a text cut to ``MAX_TEXT`` with NUL characters and lone
    surrogates replaced (PostgreSQL refuses both), a float that is not finite as text."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value[:MAX_TEXT])
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# --- Stripe ------------------------------------------------------------------------------------

#: Stripe's limits: 100 characters for event names and identifiers, 100 events per stream call.
STRIPE_MAX_NAME = 100
STRIPE_MAX_STREAM_EVENTS = 100
STRIPE_CUSTOMER_KEY = "stripe_customer_id"
STRIPE_VALUE_KEY = "value"
_PAYLOAD_KEY = re.compile(r"payload\[([^\[\]]+)\]")
_IGNORED_PARAMS = re.compile(r"expand(\[\d*\])?")


def _stripe_payload(value: Any, *, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise Invalid(f"Missing required param: {field}.")
    payload: dict[str, str] = {}
    for key, item in value.items():
        name = text(key)
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise Invalid(f"{field}[{name}]: must be a string.")
        payload[name] = text(str(item), max_length=1_000)
    return payload


def _stripe_event(*, name: Any, identifier: Any, timestamp: datetime, payload: dict[str, str]) -> VendorEvent:
    return VendorEvent(
        key=text(identifier, max_length=STRIPE_MAX_NAME)
        if identifier is not None
        else f"mp_{uuid.uuid4().hex}",
        source="",
        name=text(name, max_length=STRIPE_MAX_NAME),
        customer=payload.get(STRIPE_CUSTOMER_KEY, ""),
        timestamp=timestamp,
        properties=payload,
        value=payload.get(STRIPE_VALUE_KEY),
    )


def stripe_v1_event(
    form: Iterable[tuple[str, list[str]]], *, now: datetime
) -> tuple[VendorEvent | None, WireProblem | None]:
    """The meter event of a v1 form, given as its ``(key, values)`` pairs
    (``payload[model]=gpt-4o&...``), or the problem, named by Stripe's parameter
    (``payload[value]``). A missing identifier is generated and a missing timestamp is ``now``,
    as Stripe does."""
    fields: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    for key, values in form:
        if _IGNORED_PARAMS.fullmatch(key):
            continue
        if len(values) != 1:
            return None, WireProblem(0, key, f"Send {key} once.")
        if key in ("event_name", "identifier", "timestamp"):
            fields[key] = values[0]
        elif match := _PAYLOAD_KEY.fullmatch(key):
            payload[match.group(1)] = values[0]
        else:
            return None, WireProblem(0, key, f"Received unknown parameter: {key[:100]}")
    if "event_name" not in fields:
        return None, WireProblem(0, "event_name", "Missing required param: event_name.")
    field = "payload"
    try:
        checked = _stripe_payload(payload, field=field)
        field = "timestamp"
        timestamp = unix_seconds(fields["timestamp"]) if "timestamp" in fields else now
        field = "identifier"
        identifier = fields.get("identifier")
        text(identifier, required=False, max_length=STRIPE_MAX_NAME)
        field = "event_name"
        return _stripe_event(
            name=fields["event_name"], identifier=identifier, timestamp=timestamp, payload=checked
        ), None
    except Invalid as error:
        return None, WireProblem(0, field, str(error))


def stripe_stream_events(
    events: Sequence[Any], *, now: datetime
) -> tuple[list[tuple[int, VendorEvent]], list[tuple[WireProblem, VendorEvent]]]:
    """The stream's events (index, event) and the malformed ones (problem, what could be read
    of the event, for the ingestion errors list). Timestamps are RFC 3339 strings in v2."""
    parsed: list[tuple[int, VendorEvent]] = []
    problems: list[tuple[WireProblem, VendorEvent]] = []
    for index, raw in enumerate(events):
        item: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        field = "event"
        try:
            if not isinstance(raw, Mapping):
                raise Invalid("Each event must be an object.")
            unknown = sorted(set(item) - {"event_name", "identifier", "timestamp", "payload"})
            if unknown:
                field = unknown[0]
                raise Invalid(f"Received unknown parameter: {unknown[0][:100]}")
            field = "payload"
            payload = _stripe_payload(item.get("payload"), field=field)
            field = "timestamp"
            timestamp = rfc3339(item["timestamp"]) if item.get("timestamp") is not None else now
            field = "identifier"
            text(item.get("identifier"), required=False, max_length=STRIPE_MAX_NAME)
            field = "event_name"
            parsed.append(
                (
                    index,
                    _stripe_event(
                        name=item.get("event_name"),
                        identifier=item.get("identifier"),
                        timestamp=timestamp,
                        payload=payload,
                    ),
                )
            )
        except Invalid as error:
            readable = readable_event(
                raw,
                key="identifier",
                name="event_name",
                customer=[f"payload.{STRIPE_CUSTOMER_KEY}"],
                properties="payload",
                now=now,
            )
            problems.append((WireProblem(index, field, str(error)), readable))
    return parsed, problems


# --- Metronome ---------------------------------------------------------------------------------

METRONOME_FIELDS = ("transaction_id", "customer_id", "event_type", "timestamp", "properties")
_METRONOME_FIELD_SET = frozenset(METRONOME_FIELDS)
#: Metronome's limit on ``transaction_id``.
METRONOME_MAX_TRANSACTION_ID = 128


def metronome_events(body: Any) -> tuple[list[VendorEvent], list[WireProblem]]:
    """The events of an ingest body, or the problems (index, Metronome's field, reason)."""
    if not isinstance(body, list) or not 1 <= len(body) <= MAX_BATCH:
        return [], [WireProblem(0, "", f"Send a JSON array of 1 to {MAX_BATCH:,} usage events.")]
    events: list[VendorEvent] = []
    problems: list[WireProblem] = []
    for index, item in enumerate(body):
        if not isinstance(item, Mapping):
            problems.append(WireProblem(index, "", "Each usage event must be an object."))
            continue
        unknown = [] if _METRONOME_FIELD_SET.issuperset(item) else sorted(set(item) - set(METRONOME_FIELDS))
        if unknown:
            problems.append(WireProblem(index, unknown[0][:100], "Unknown field."))
            continue
        field = "transaction_id"
        try:
            key = text(item.get("transaction_id"), max_length=METRONOME_MAX_TRANSACTION_ID)
            field = "customer_id"
            customer = text(item.get("customer_id"))
            field = "event_type"
            name = text(item.get("event_type"))
            field = "timestamp"
            timestamp = rfc3339(item.get("timestamp"))
            field = "properties"
            properties = flat_properties(item.get("properties"))
        except Invalid as error:
            problems.append(WireProblem(index, field, str(error)))
            continue
        events.append(
            VendorEvent(
                key=key, source="", name=name, customer=customer, timestamp=timestamp, properties=properties
            )
        )
    return events, problems


# --- Orb ---------------------------------------------------------------------------------------

ORB_CUSTOMERS = ("external_customer_id", "customer_id")
ORB_FIELDS = ("event_name", "idempotency_key", *ORB_CUSTOMERS, "timestamp", "properties")
_ORB_FIELD_SET = frozenset(ORB_FIELDS)


def orb_events(
    events: Sequence[Any], *, now: datetime
) -> tuple[list[tuple[int, VendorEvent]], list[tuple[WireProblem, VendorEvent]]]:
    """The valid events (index, event) and the malformed ones (problem, what could be read of
    the event, for ``validation_failed`` and the ingestion errors list)."""
    parsed: list[tuple[int, VendorEvent]] = []
    problems: list[tuple[WireProblem, VendorEvent]] = []
    for index, item in enumerate(events):
        field = ""
        try:
            if not isinstance(item, Mapping):
                raise Invalid("Each event must be an object.")
            unknown = [] if _ORB_FIELD_SET.issuperset(item) else sorted(set(item) - set(ORB_FIELDS))
            if unknown:
                field = unknown[0][:100]
                raise Invalid("Unknown field.")
            field = "idempotency_key"
            key = text(item.get("idempotency_key"))
            field = "event_name"
            name = text(item.get("event_name"))
            field = "external_customer_id"
            external = text(item.get("external_customer_id"), required=False)
            internal = text(item.get("customer_id"), required=False)
            if bool(external) == bool(internal):
                raise Invalid("Send exactly one of external_customer_id and customer_id.")
            field = "timestamp"
            timestamp = rfc3339(item.get("timestamp"), naive_is_utc=True)
            field = "properties"
            properties = flat_properties(item.get("properties"), required=True)
        except Invalid as error:
            readable = readable_event(
                item,
                key="idempotency_key",
                name="event_name",
                customer=ORB_CUSTOMERS,
                properties="properties",
                now=now,
            )
            problems.append((WireProblem(index, field, str(error)), readable))
            continue
        event = VendorEvent(
            key=key,
            source="",
            name=name,
            customer=external or internal,
            timestamp=timestamp,
            properties=properties,
        )
        parsed.append((index, event))
    return parsed, problems
