"""``bench_ingest --via metronome``: a bare JSON array of usage events carrying every token kind
as string properties (as Metronome recommends), as ``api.compat.metronome`` reads it. Metronome
takes 100 events per request, the endpoint up to 10,000: ``--batch`` chooses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from planner.accounts.models import Organization
from planner.actuals.compat.ingest import EventOutcome, VendorEvent, compat_ingest
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire_stripe_metronome_orb import metronome_events
from planner.actuals.parse import MAX_BATCH
from planner.devtools.compat_benchmark import KINDS, Usage, Wire, wire_register
from planner.devtools.usage_benchmark import body_decode


def _body(calls: Sequence[Usage]) -> bytes:
    return json.dumps(
        [
            {
                "transaction_id": call["key"],
                "customer_id": call["customer"],
                "event_type": "llm_usage",
                "timestamp": call["timestamp"].isoformat().replace("+00:00", "Z"),
                "properties": {"model": call["model"], "tier": "Pro"}
                | {kind: str(call[kind]) for kind in KINDS},
            }
            for call in calls
        ]
    ).encode()


def _parse(body: bytes) -> list[VendorEvent]:
    return metronome_events(body_decode(body))[0]


def _ingest(
    organization: Organization, vendor: str, events: list[VendorEvent], now: datetime
) -> list[EventOutcome]:
    """All or nothing; a conflict is a quiet success, nothing rolled back (Metronome's rule)."""
    return compat_ingest(organization=organization, vendor=vendor, events=events, partial=False, now=now)


wire_register(Wire(Vendor.METRONOME, "calls", _body, _parse, MAX_BATCH, _ingest))
