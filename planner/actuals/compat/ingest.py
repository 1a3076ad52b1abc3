"""Ingesting vendor events: translate them to usage records and store them through the native
path (``planner.actuals.ingest.usage_records_ingest``), one outcome per event.

``compat_ingest`` is all or nothing (``partial=False``: OpenMeter, Lago, Stripe v1, Metronome):
any invalid event raises ``CompatBatchInvalid`` with the invalid events' outcomes and nothing is
written. With ``partial=True`` (Orb, Stripe v2's stream) the valid events are written and the
invalid ones reported. Duplicates (same key, same record) and conflicts (same key, another
record: the first version stands) come from the native result. Refusals name the vendor's
field (``properties.model``, ``data.tokens``...), never a native one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.compat.events import Tiers, Translation, event_as_data, translate_events
from planner.actuals.compat.mappings import (
    VENDOR_FIELDS,
    VendorMapping,
    organization_live_tiers,
    organization_mapping,
)
from planner.actuals.compat.models import IngestionError
from planner.actuals.customers import customer_ids, customers_create
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.parse import (
    EARLIEST_TIMESTAMP,
    FUTURE_TOLERANCE,
    MAX_BATCH,
    MAX_TEXT,
    UsageRecordsInvalid,
)

#: Stored payloads of rejected events are cut to about this many characters of JSON.
MAX_ERROR_PAYLOAD = 4_000

Status = Literal["created", "duplicate", "conflict", "invalid"]


@dataclass(frozen=True)
class VendorEvent:
    """One event as a vendor's SDK sent it (parsed by the vendor's view)."""

    key: str  # the vendor's dedup key as sent (OpenMeter: id; namespaced by the core)
    source: str  # OpenMeter CloudEvent source; "" for the others
    name: str  # event type / code / meter event_name
    customer: str  # the customer id as the vendor names it
    timestamp: datetime  # aware
    properties: Mapping[str, Any] = field(default_factory=dict)  # values may be strings ("1200")
    value: Any = None  # the single-kind quantity where the vendor has one; None for multi-kind


@dataclass(frozen=True)
class EventOutcome:
    index: int
    status: Status
    field: str = ""  # for invalid: which field of the vendor event (e.g. "properties.model")
    reason: str = ""


class CompatBatchInvalid(Exception):
    """An all-or-nothing batch had invalid events: nothing was written. ``outcomes`` are the
    invalid events' outcomes, in event order."""

    def __init__(self, outcomes: Sequence[EventOutcome]) -> None:
        self.outcomes = list(outcomes)
        first = self.outcomes[0] if self.outcomes else None
        summary = f"event {first.index}, {first.field}: {first.reason}" if first else "no details"
        super().__init__(f"{len(self.outcomes)} invalid event(s); first: {summary}")


def _tiers(organization: Organization, mapping: VendorMapping, events: Sequence[VendorEvent]) -> Tiers | None:
    """The organisation's live tiers, read only when some event or the mapping names one."""
    needed = mapping.default_tier_id is not None or (
        mapping.tier_property
        and any(event.properties.get(mapping.tier_property) is not None for event in events)
    )
    if not needed:
        return None
    rows = organization_live_tiers(organization=organization)
    by_name: dict[str, int | None] = {}
    for pk, name in rows:
        by_name[name] = pk if name not in by_name else None
    return Tiers(ids={pk for pk, _ in rows}, by_name=by_name)


def _customers_prepare(
    organization: Organization, translations: Sequence[Translation], now: datetime
) -> dict[str, int]:
    """Create the batch's new customers that some event gives a live tier, and take the tier
    out of every record; the ids of the batch's customers that exist now (the native ingest
    need not look them up again).

    A customer's tier is its first event's concern, not part of each usage record: a new
    customer gets the tier of its earliest event in the batch that names one (or the mapping's
    default), so its other events need none, and a resend of any event hashes the same whether
    or not the customer existed then (the tier is not in the record's payload hash). Like the
    native path, the tier starts on the first day of that event's month (organisation time
    zone). Runs in the caller's transaction: a refused batch creates no customer.
    """
    records = [t.record for t in translations if t.record is not None]
    if not records:
        return {}
    names = {record["customer"] for record in records}
    ids = customer_ids(organization=organization, names=names)
    existing = ids.keys()
    latest = now + FUTURE_TOLERANCE
    firsts: dict[str, tuple[datetime, int]] = {}
    for translation in translations:
        record, moment = translation.record, translation.moment
        if record is None:
            continue
        tier = record.pop("tier", None)
        customer = record["customer"]
        if (
            tier is None
            or customer in existing
            or moment is None
            or not EARLIEST_TIMESTAMP <= moment <= latest
        ):
            continue
        if len(customer) > MAX_TEXT or not customer.strip():
            continue  # the native validation refuses it
        known = firsts.get(customer)
        if known is None or moment < known[0]:
            firsts[customer] = (moment, tier)
    if not firsts:
        return ids
    zone = ZoneInfo(organization.time_zone)
    first_periods: dict[str, tuple[int, date]] = {}
    for name, (moment, tier) in firsts.items():
        local = moment.astimezone(zone)
        first_periods[name] = (tier, date(local.year, local.month, 1))
    return ids | customers_create(organization=organization, first_periods=first_periods)


def _new_customer_reason(mapping: VendorMapping, customer: str) -> str:
    return (
        f"Customer {customer!r} is new and no live tier was given: send a "
        f"{mapping.tier_property or 'tier'!r} "
        f"property naming a live tier (name or id), or set a default tier in the {mapping.vendor} mapping."
    )


def _refusal(
    translation: Translation, native_field: str, reason: str, mapping: VendorMapping
) -> tuple[str, str]:
    """A native error of a translated record, as the vendor event's field and reason."""
    record = translation.record or {}
    if native_field == "tier" and "is new" in reason:
        return translation.fields.get("customer", ""), _new_customer_reason(
            mapping, str(record.get("customer"))
        )
    if native_field == "requests":
        reason = "The event carries no tokens."
    where = translation.fields.get(native_field)
    if where is None:
        where = translation.fields.get("non_field_errors", "")
    return where, reason


def _statuses(
    records: list[dict[str, Any]], conflicts: set[int], created_ids: frozenset[str]
) -> list[Status]:
    """created / duplicate / conflict of each ingested record (indexes into ``records``): a
    record is "created" when this call stored its event id first, "duplicate" when an earlier
    request or an earlier record of the batch did (same payload)."""
    statuses: list[Status] = []
    firsts: dict[str, int] = {}
    for index, record in enumerate(records):
        first = firsts.setdefault(record["event_id"], index)
        if index in conflicts:
            statuses.append("conflict")
        elif first == index and record["event_id"] in created_ids:
            statuses.append("created")
        else:
            statuses.append("duplicate")
    return statuses


def compat_ingest(
    *,
    organization: Organization,
    vendor: str,
    events: Sequence[VendorEvent],
    partial: bool,
    now: datetime | None = None,
) -> list[EventOutcome]:
    """Store ``events`` as usage records of ``organization``; one outcome per event, in order
    (see the module docstring)."""
    if vendor not in VENDOR_FIELDS:
        raise ValueError(f"Unknown vendor {vendor!r}.")
    now = now or timezone.now()
    if len(events) > MAX_BATCH:
        raise CompatBatchInvalid(
            [
                EventOutcome(
                    0, "invalid", "", f"At most {MAX_BATCH:,} events per request (got {len(events):,})."
                )
            ]
        )
    mapping = organization_mapping(organization=organization, vendor=vendor)
    translations = translate_events(
        events, mapping=mapping, tiers=_tiers(organization, mapping, events), now=now
    )
    outcomes: list[EventOutcome | None] = [None] * len(events)
    for index, translation in enumerate(translations):
        if translation.error is not None:
            outcomes[index] = EventOutcome(index, "invalid", *translation.error)
        elif translation.record is None:
            outcomes[index] = EventOutcome(index, "created")  # a zero part: nothing to store
    _raise_unless_partial(outcomes, partial)

    pending = [i for i, outcome in enumerate(outcomes) if outcome is None]
    with transaction.atomic():
        known = _customers_prepare(organization, [translations[i] for i in pending], now)
        _ingest_pending(organization, mapping, translations, outcomes, pending, partial, now, known)
    return [outcome for outcome in outcomes if outcome is not None]


def _ingest_pending(
    organization: Organization,
    mapping: VendorMapping,
    translations: list[Translation],
    outcomes: list[EventOutcome | None],
    pending: list[int],
    partial: bool,
    now: datetime,
    known: Mapping[str, int],
) -> None:
    """The native ingest of the translated records (``pending`` events), retried without the
    ones it refuses when ``partial``; fills in the events' outcomes. ``known``: customer ids
    read or created in this transaction."""
    while pending:
        records = [translations[i].record for i in pending]
        try:
            result = usage_records_ingest(
                organization=organization, records=records, now=now, known_customers=known
            )
        except UsageRecordsInvalid as exc:
            for error in exc.errors:
                index = pending[error.index]
                if outcomes[index] is None:
                    where, reason = _refusal(translations[index], error.field, error.reason, mapping)
                    outcomes[index] = EventOutcome(index, "invalid", where, reason)
            _raise_unless_partial(outcomes, partial)
            pending = [i for i in pending if outcomes[i] is None]
            continue
        typed = [record for record in records if record is not None]
        conflicts = {conflict.index for conflict in result.conflicts}
        for index, status in zip(pending, _statuses(typed, conflicts, result.created_ids), strict=True):
            outcomes[index] = EventOutcome(index, status)
        break


def _raise_unless_partial(outcomes: list[EventOutcome | None], partial: bool) -> None:
    if partial:
        return
    invalid = [outcome for outcome in outcomes if outcome is not None and outcome.status == "invalid"]
    if invalid:
        raise CompatBatchInvalid(invalid)


def _trimmed(payload: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(payload, default=str)
    if len(text) <= MAX_ERROR_PAYLOAD:
        return payload
    return {"truncated": True, "json": text[:MAX_ERROR_PAYLOAD]}


def record_ingestion_errors(
    organization: Organization,
    vendor: str,
    events: Sequence[VendorEvent],
    outcomes: Sequence[EventOutcome],
    *,
    now: datetime | None = None,
) -> int:
    """Store the invalid ``outcomes`` (of ``events``) as ``IngestionError`` rows; returns how many."""
    now = now or timezone.now()
    rows = [
        IngestionError(
            organization=organization,
            vendor=vendor,
            received_at=now,
            event_key=str(events[outcome.index].key)[:255],
            customer=str(events[outcome.index].customer)[:255],
            field=outcome.field[:100],
            reason=outcome.reason,
            payload=_trimmed(event_as_data(events[outcome.index])),
        )
        for outcome in outcomes
        if outcome.status == "invalid"
    ]
    IngestionError.objects.bulk_create(rows)
    return len(rows)


def compat_ingest_unless_conflict(
    *, organization: Organization, vendor: str, events: Sequence[VendorEvent], now: datetime | None = None
) -> list[EventOutcome]:
    """``compat_ingest(partial=False)``, and a batch with any conflict is rolled back as well:
    for vendors whose conflict answer is an error (OpenMeter 409, Lago 422), an error means that
    nothing of the request was stored. The outcomes tell every event's fate."""
    with transaction.atomic():
        outcomes = compat_ingest(
            organization=organization,
            vendor=vendor,
            events=events,
            partial=False,
            now=now,
        )
        if any(outcome.status == "conflict" for outcome in outcomes):
            transaction.set_rollback(True)
    return outcomes
