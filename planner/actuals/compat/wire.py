"""Vendors' request bodies read into ``VendorEvent`` values: pure functions, no HTTP and no
database, shared by the compatibility views (``api.compat``) and ``manage.py bench_ingest --via``
(which runs the same parsing in process). Each raises its vendor's ``...EventsInvalid`` naming the
fields it cannot read; what the events mean is checked later, by ``compat_ingest``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from planner.actuals.compat.ingest import VendorEvent
from planner.actuals.parse import MAX_BATCH

#: Lago's batch endpoint takes at most this many events.
LAGO_MAX_BATCH = 100

# --- OpenMeter: CloudEvents, structured mode ------------------------------------------------------


class OpenMeterEventsInvalid(Exception):
    """The request's events cannot be read: (index, field, message) per problem."""

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} invalid event field(s)")


def _openmeter_time(value: object, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("Must be an RFC 3339 date-time string.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Not an RFC 3339 date-time, e.g. 2025-06-10T14:03:00Z.") from None
    if moment.tzinfo is None:
        raise ValueError("Needs a UTC offset or Z (RFC 3339).")
    return moment


def _openmeter_data(value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # data sent as a JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("Must be a JSON object.") from None
    if not isinstance(value, Mapping):
        raise ValueError("Must be a JSON object.")
    return value


def _openmeter_event(
    index: int, item: object, now: datetime, errors: list[tuple[int, str, str]]
) -> VendorEvent | None:
    if not isinstance(item, Mapping):
        errors.append((index, "", "A CloudEvent must be a JSON object."))
        return None
    get = item.get
    key, source, name, subject, time, data = (
        get("id"),
        get("source"),
        get("type"),
        get("subject"),
        get("time"),
        get("data"),
    )
    # The usual event, checked in one expression (this runs for every event of a batch).
    if (
        type(key) is str
        and key
        and type(source) is str
        and source
        and type(name) is str
        and name
        and type(subject) is str
        and subject
        and type(time) is str
        and len(time) <= 64
        and type(data) is dict
        and get("specversion", "1.0") == "1.0"
    ):
        try:
            parsed: datetime | None = datetime.fromisoformat(time)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return VendorEvent(key, source, name, subject, parsed, data, data.get("tokens"))
    failures: list[tuple[int, str, str]] = []
    for field, value in (("id", key), ("source", source), ("type", name), ("subject", subject)):
        if not isinstance(value, str) or not value:
            failures.append((index, field, "Required: a non-empty string."))
    if get("specversion", "1.0") != "1.0":
        failures.append((index, "specversion", "Only CloudEvents 1.0 is supported."))
    try:
        moment = _openmeter_time(time, now)
    except ValueError as error:
        failures.append((index, "time", str(error)))
    try:
        properties = _openmeter_data(data)
    except ValueError as error:
        failures.append((index, "data", str(error)))
    if failures:
        errors.extend(failures)
        return None
    return VendorEvent(
        key=str(key),
        source=str(source),
        name=str(name),
        customer=str(subject),
        timestamp=moment,
        properties=properties,
        value=properties.get("tokens"),
    )


def openmeter_events(body: object, *, now: datetime | None = None) -> tuple[list[VendorEvent], bool]:
    """The CloudEvents of a request body (one object or an array), and whether it was a single
    event; raises ``OpenMeterEventsInvalid`` naming each unreadable field."""
    now = now or timezone.now()
    single = isinstance(body, Mapping)
    items: list[object]
    if isinstance(body, Mapping):
        items = [body]
    elif isinstance(body, list):
        items = list(body)
    else:
        raise OpenMeterEventsInvalid([(0, "", "Send a CloudEvent object or an array of them.")])
    if not items:
        raise OpenMeterEventsInvalid([(0, "", "Send at least one event.")])
    if len(items) > MAX_BATCH:
        raise OpenMeterEventsInvalid(
            [(0, "", f"At most {MAX_BATCH:,} events per request (got {len(items):,}).")]
        )
    errors: list[tuple[int, str, str]] = []
    events = [_openmeter_event(index, item, now, errors) for index, item in enumerate(items)]
    if errors:
        raise OpenMeterEventsInvalid(errors)
    return [event for event in events if event is not None], single


# --- Lago: {"event": {...}} and {"events": [...]} ---------------------------------------------


class LagoEventsInvalid(Exception):
    def __init__(self, details: dict[str, Any]) -> None:
        self.details = details
        super().__init__(str(details))


def _lago_timestamp(value: object, now: datetime) -> datetime:
    if value is None or value == "":
        return now
    if isinstance(value, bool):
        raise ValueError("invalid_format")
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("invalid_format: send Unix seconds (or an RFC 3339 date-time)") from None
        if moment.tzinfo is None:
            raise ValueError("invalid_format: an RFC 3339 date-time needs a UTC offset")
        return moment
    if not isinstance(value, int | float | str):
        raise ValueError("invalid_format")
    try:
        seconds = Decimal(str(value).strip())
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (InvalidOperation, ValueError, OverflowError, OSError):
        raise ValueError("invalid_format: send Unix seconds") from None


def _lago_event(item: object, now: datetime) -> tuple[VendorEvent | None, dict[str, list[str]]]:
    if not isinstance(item, Mapping):
        return None, {"event": ["must_be_an_object"]}
    errors: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for name in ("transaction_id", "external_subscription_id", "code"):
        value = item.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            errors[name] = ["value_is_mandatory"]
        else:
            texts[name] = value
    properties = item.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        errors["properties"] = ["must_be_an_object"]
        properties = {}
    try:
        moment = _lago_timestamp(item.get("timestamp"), now)
    except ValueError as error:
        errors["timestamp"] = [str(error)]
    if errors:
        return None, errors
    event = VendorEvent(
        key=texts["transaction_id"],
        source="",
        name=texts["code"],
        customer=texts["external_subscription_id"],
        timestamp=moment,
        properties=properties,
        value=properties.get("value"),
    )
    return event, {}


def lago_events(
    body: object, *, batch: bool, now: datetime | None = None
) -> tuple[list[VendorEvent], list[Mapping[str, Any]]]:
    """The events of a Lago request body (``{"event": {...}}``, or ``{"events": [...]}`` for a
    batch) and the raw items (echoed back); raises ``LagoEventsInvalid`` with Lago's error details."""
    now = now or timezone.now()
    root = "events" if batch else "event"
    if not isinstance(body, Mapping) or root not in body:
        raise LagoEventsInvalid({root: ["value_is_mandatory"]})
    items = body[root] if batch else [body[root]]
    if not isinstance(items, list) or not items:
        raise LagoEventsInvalid({root: ["value_is_mandatory"]})
    if len(items) > LAGO_MAX_BATCH:
        raise LagoEventsInvalid(
            {root: [f"too_many_events: at most {LAGO_MAX_BATCH} per batch (got {len(items)})"]}
        )
    events: list[VendorEvent] = []
    details: dict[str, Any] = {}
    for index, item in enumerate(items):
        event, errors = _lago_event(item, now)
        if errors:
            if batch:
                details[str(index)] = errors
            else:
                details.update(errors)
        elif event is not None:
            events.append(event)
    if details:
        raise LagoEventsInvalid(details)
    return events, items
