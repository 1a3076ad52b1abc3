"""``bench_ingest --via stripe``: Stripe v2's meter-event stream (the high-throughput path; v1
takes one event per request), 100 events per request, one token kind per event named by
``payload[token_type]``, as ``api.compat.stripe`` reads it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.compat.ingest import EventOutcome, VendorEvent, compat_ingest
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire_stripe_metronome_orb import STRIPE_MAX_STREAM_EVENTS, stripe_stream_events
from planner.devtools.compat_benchmark import Usage, Wire, wire_register
from planner.devtools.usage_benchmark import body_decode

_TOKEN_TYPES = {
    "input_tokens": "input",
    "cached_tokens": "cached",
    "output_tokens": "output",
    "reasoning_tokens": "reasoning",
}


def _body(parts: Sequence[Usage]) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "event_name": "llm_tokens",
                    "identifier": part["key"],
                    "timestamp": part["timestamp"].isoformat().replace("+00:00", "Z"),
                    "payload": {
                        "stripe_customer_id": part["customer"],
                        "value": str(part["count"]),
                        "model": part["model"],
                        "token_type": _TOKEN_TYPES[part["kind"]],
                        "tier": "Pro",
                    },
                }
                for part in parts
            ]
        }
    ).encode()


def _parse(body: bytes) -> list[VendorEvent]:
    parsed, _ = stripe_stream_events(body_decode(body)["events"], now=timezone.now())
    return [event for _, event in parsed]


def _ingest(
    organization: Organization, vendor: str, events: list[VendorEvent], now: datetime
) -> list[EventOutcome]:
    """The stream stores the valid events and lists the others (``partial``)."""
    return compat_ingest(organization=organization, vendor=vendor, events=events, partial=True, now=now)


wire_register(Wire(Vendor.STRIPE, "parts", _body, _parse, STRIPE_MAX_STREAM_EVENTS, _ingest))
