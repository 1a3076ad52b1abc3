"""``manage.py bench_ingest --via VENDOR``: the compatibility path against the native one.

The same generated usage goes, batch by batch and interleaved (both see the same table and index
sizes), through a vendor's wire format into ``compat_ingest`` (the request bodies are built
first; what is timed is what the view runs: JSON decoding, the vendor's parsing in
``planner.actuals.compat.wire``, translation and ingestion) into one organisation, and as the
equivalent native records through ``usage_records_ingest`` (JSON decoding included) into
another. Both sides store the same rows: one record per vendor event (a vendor sending one token
kind per event gets the part records natively too). A vendor whose requests hold at most
``max_batch`` events (Lago: 100) is compared at that batch size on both sides. The ratio of the
throughputs is the issue's measure (>= 0.8).

Vendors are pluggable: a ``Wire`` says how a batch of generated usage becomes one request body
and how the view reads it back. OpenMeter and Lago are here; another vendor's wire lives in
``planner/devtools/compat_wires_<vendor>.py``, which calls ``wire_register`` when imported.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import connection
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.compat.ingest import EventOutcome, VendorEvent, compat_ingest_unless_conflict
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire import LAGO_MAX_BATCH, lago_events, openmeter_events
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import UsageRecord
from planner.actuals.rollup import customer_months_fold
from planner.devtools.usage_benchmark import BENCH_MODELS, _catalog_ready, _organization, body_decode

#: One vendor event of generated usage: a call's token kind (``parts`` vendors) or a whole call.
Usage = dict[str, Any]
KINDS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class Wire:
    """How a vendor sends a batch of generated usage and how its view reads it back.

    ``shape``: ``parts`` (one token kind per event: each usage has ``kind`` and ``count``) or
    ``calls`` (every kind in one event: each usage has the token fields). ``body`` builds one
    request body from a batch of usage; ``parse`` is what the view runs on that body (JSON
    decoding and the vendor's parsing) and returns the events; ``ingest`` is what the view then
    calls with them: ``(organization, vendor, events, now) -> outcomes``.
    """

    vendor: str
    shape: Literal["parts", "calls"]
    body: Callable[[Sequence[Usage]], bytes]
    parse: Callable[[bytes], list[VendorEvent]]
    max_batch: int = 10_000
    #: What the view calls with the parsed events (the all-or-nothing default of OpenMeter and
    #: Lago: ``compat_ingest_unless_conflict``).
    ingest: Callable[[Organization, str, list[VendorEvent], datetime], list[EventOutcome]] = (
        lambda organization, vendor, events, now: compat_ingest_unless_conflict(
            organization=organization, vendor=vendor, events=events, now=now
        )
    )


WIRES: dict[str, Wire] = {}


def wire_register(wire: Wire) -> Wire:
    WIRES[wire.vendor] = wire
    return wire


def wire_for(vendor: str) -> Wire:
    """The vendor's wire, importing ``planner.devtools.compat_wires_<vendor>`` when needed."""
    if vendor not in WIRES:
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"planner.devtools.compat_wires_{vendor}")
    if vendor not in WIRES:
        known = ", ".join(sorted(WIRES)) or "none"
        raise RuntimeError(f"No benchmark wire for {vendor!r} (registered: {known}).")
    return WIRES[vendor]


# --- Generated usage ------------------------------------------------------------------------------


def _calls(rng: random.Random, start: int, count: int, *, customers: int, now: datetime) -> list[Usage]:
    """``count`` LLM calls; one in twenty repeats an earlier call (a client's retry)."""
    base = now - timedelta(days=60)
    calls = []
    for number in range(start, start + count):
        call = rng.randrange(max(number, 1)) if number and rng.random() < 0.05 else number
        local = random.Random(call)
        input_tokens, output_tokens = local.randrange(50, 20_000), local.randrange(10, 4_000)
        cached = local.randrange(0, input_tokens // 2 + 1) if local.random() < 0.5 else 0
        reasoning = local.randrange(0, output_tokens // 2 + 1) if local.random() < 0.3 else 0
        calls.append(
            {
                "key": f"call-{call:09d}",
                "customer": f"cus-{local.randrange(customers):06d}",
                "timestamp": base + timedelta(seconds=local.randrange(59 * 86_400)),
                "model": BENCH_MODELS[local.randrange(3)],
                "input_tokens": input_tokens,
                "cached_tokens": cached,
                "output_tokens": output_tokens,
                "reasoning_tokens": reasoning,
            }
        )
    return calls


def _parts(calls: Sequence[Usage]) -> list[Usage]:
    """Each call as one event per token kind, disjoint quantities as billing systems meter them
    (input without the cached part, output without reasoning); no event for a zero count."""
    parts = []
    for call in calls:
        counts = {
            "input_tokens": call["input_tokens"] - call["cached_tokens"],
            "cached_tokens": call["cached_tokens"],
            "output_tokens": call["output_tokens"] - call["reasoning_tokens"],
            "reasoning_tokens": call["reasoning_tokens"],
        }
        for kind in KINDS:
            if counts[kind] or kind == "input_tokens":
                parts.append({**call, "key": f"{call['key']}-{kind}", "kind": kind, "count": counts[kind]})
    return parts


def _native(usage: Usage, shape: str, tier: int) -> dict[str, Any]:
    """The native record the compatibility path stores for ``usage``."""
    record: dict[str, Any] = {
        "event_id": usage["key"],
        "customer": usage["customer"],
        "tier": tier,
        "timestamp": usage["timestamp"].isoformat(),
        "model": f"openai/{usage['model']}",
    }
    if shape == "calls":
        return record | {kind: usage[kind] for kind in KINDS}
    kind, count = usage["kind"], usage["count"]
    tokens = {"input_tokens": count}
    if kind == "cached_tokens":
        tokens = {"input_tokens": count, "cached_tokens": count}
    elif kind == "output_tokens":
        tokens = {"output_tokens": count}
    elif kind == "reasoning_tokens":
        tokens = {"output_tokens": count, "reasoning_tokens": count}
    return record | tokens | {"requests": 1 if kind == "input_tokens" else 0}


# --- OpenMeter and Lago -----------------------------------------------------------------------------

_OPENMETER_TYPES = {"input_tokens": "input", "cached_tokens": "cache_read", "output_tokens": "output"} | {
    "reasoning_tokens": "reasoning"
}
_LAGO_CODES = {
    "input_tokens": "llm_input_tokens",
    "cached_tokens": "llm_cached_input_tokens",
    "output_tokens": "llm_output_tokens",
    "reasoning_tokens": "llm_reasoning_tokens",
}


def _openmeter_body(parts: Sequence[Usage]) -> bytes:
    return json.dumps(
        [
            {
                "id": part["key"],
                "source": "bench",
                "specversion": "1.0",
                "type": "prompt",
                "subject": part["customer"],
                "time": part["timestamp"].isoformat(),
                "data": {
                    "tokens": str(part["count"]),
                    "model": part["model"],
                    "type": _OPENMETER_TYPES[part["kind"]],
                }
                | {"tier": "Pro"},
            }
            for part in parts
        ]
    ).encode()


def _lago_body(parts: Sequence[Usage]) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "transaction_id": part["key"],
                    "external_subscription_id": part["customer"],
                    "code": _LAGO_CODES[part["kind"]],
                    "timestamp": str(int(part["timestamp"].timestamp())),
                    "precise_total_amount_cents": None,
                    "properties": {"value": str(part["count"]), "model": part["model"], "provider": "openai"}
                    | {"tier": "Pro"},
                }
                for part in parts
            ]
        }
    ).encode()


wire_register(
    Wire(Vendor.OPENMETER, "parts", _openmeter_body, lambda body: openmeter_events(body_decode(body))[0])
)
wire_register(
    Wire(
        Vendor.LAGO,
        "parts",
        _lago_body,
        lambda body: lago_events(body_decode(body), batch=True)[0],
        max_batch=LAGO_MAX_BATCH,
    )
)


# --- The benchmark ---------------------------------------------------------------------------------


def compat_benchmark(
    *, via: str, records: int, batch: int, customers: int = 10_000, seed: int = 1
) -> dict[str, Any]:
    """Send ``records`` vendor events of generated usage through ``via``'s wire and the same
    usage natively, interleaved batch by batch; throughputs and the compat-to-native ratio."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench_ingest measures PostgreSQL; set DATABASE_URL to a scratch database.")
    wire = wire_for(via)
    size = min(batch, wire.max_batch)
    _catalog_ready()
    now = timezone.now()
    compat_org, _ = _organization(f"compat-{via}")
    native_org, native_tier = _organization(f"native-{via}")
    rng = random.Random(seed)
    compat_seconds = native_seconds = 0.0
    statuses: dict[str, int] = {}
    pending: list[Usage] = []
    sent = calls_made = 0
    while sent < records:
        while len(pending) < size:
            generated = _calls(rng, calls_made, size, customers=customers, now=now)
            calls_made += len(generated)
            pending.extend(_parts(generated) if wire.shape == "parts" else generated)
        usage, pending = pending[: min(size, records - sent)], pending[min(size, records - sent) :]
        sent += len(usage)
        body = wire.body(usage)
        native_body = json.dumps([_native(item, wire.shape, native_tier.pk) for item in usage]).encode()

        received = timezone.now()  # as each request's view stamps it
        started = time.perf_counter()
        events = wire.parse(body)
        outcomes = wire.ingest(compat_org, via, events, received)
        compat_seconds += time.perf_counter() - started
        for outcome in outcomes:
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1

        started = time.perf_counter()
        usage_records_ingest(organization=native_org, records=body_decode(native_body), now=received)
        native_seconds += time.perf_counter() - started
    for organization in (compat_org, native_org):  # leave no journal behind (not timed)
        customer_months_fold(organization_id=organization.pk)
    compat_stored = UsageRecord.objects.filter(organization=compat_org).count()
    native_stored = UsageRecord.objects.filter(organization=native_org).count()
    if compat_stored != native_stored:
        raise RuntimeError(
            f"compat stored {compat_stored} records, native {native_stored}: not the same usage"
        )
    return {
        "via": via,
        "events": records,
        "batch": size,
        "requests": len(range(0, records, size)),
        "statuses": statuses,
        "stored": compat_stored,
        "compat_seconds": round(compat_seconds, 3),
        "native_seconds": round(native_seconds, 3),
        "compat_events_per_s": round(records / compat_seconds),
        "native_records_per_s": round(records / native_seconds),
        "ratio_compat_to_native": round(native_seconds / compat_seconds, 3),
    }
