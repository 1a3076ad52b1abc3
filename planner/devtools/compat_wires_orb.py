"""``bench_ingest --via orb``: ``{"events": [...]}`` carrying every token kind as numeric
properties, UTC timestamps without an offset (as Orb documents), as ``api.compat.orb`` reads it;
valid events are stored and invalid ones listed (``partial``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.compat.ingest import EventOutcome, VendorEvent, compat_ingest
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire_stripe_metronome_orb import orb_events
from planner.actuals.parse import MAX_BATCH
from planner.devtools.compat_benchmark import KINDS, Usage, Wire, wire_register
from planner.devtools.usage_benchmark import body_decode


def _body(calls: Sequence[Usage]) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "event_name": "llm_usage",
                    "idempotency_key": call["key"],
                    "external_customer_id": call["customer"],
                    "timestamp": call["timestamp"].replace(tzinfo=None).isoformat(),
                    "properties": {"model": call["model"], "tier": "Pro"}
                    | {kind: call[kind] for kind in KINDS},
                }
                for call in calls
            ]
        }
    ).encode()


def _parse(body: bytes) -> list[VendorEvent]:
    parsed, _ = orb_events(body_decode(body)["events"], now=timezone.now())
    return [event for _, event in parsed]


def _ingest(
    organization: Organization, vendor: str, events: list[VendorEvent], now: datetime
) -> list[EventOutcome]:
    """Valid events stored, the others listed (``partial``); a conflict would roll the request back
    in the view (``api.compat.orb``), which generated usage never has."""
    return compat_ingest(organization=organization, vendor=vendor, events=events, partial=True, now=now)


wire_register(Wire(Vendor.ORB, "calls", _body, _parse, MAX_BATCH, _ingest))
