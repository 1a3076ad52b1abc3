"""Benchmarks of actual usage (``manage.py bench_ingest``, ``manage.py bench_margins``).

Ingestion: the same generated records go, batch by batch and interleaved (so both see the same
table and index sizes), through ``usage_records_ingest`` (JSON decoding included, as the API's
parser decodes: ``body_decode``) into one organisation and through a raw ``COPY`` +
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` of the already prepared rows into another. The
ratio of the two throughputs is the issues' measure (issue 5: >= 0.5; issue 16: >= 0.8).
Margins: customers, tier periods and records are generated in SQL, the rollup is built from the
records, and ``customer_margins_for_period`` plus the tier summary are timed.

Benchmark data lives in organisations whose slug starts with ``bench-``; use a scratch database.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from genai_prices import data as genai_data

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import Organization
from planner.actuals.ingest import COPY_COLUMNS, copy_incoming, resolve_records, usage_records_ingest
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod, UsageRecord
from planner.actuals.parse import parse_records
from planner.actuals.pricing import cost_text
from planner.actuals.rollup import customer_months_fold
from planner.actuals.selectors import customer_margins_for_period, tier_margins_for_period
from planner.core.json_fast import UNDECIDED, json_loads_fast
from planner.products.models import Tier
from planner.products.services import product_create, tier_create
from pricing.catalog import catalog_import
from pricing.models import AIModel, ModelPrice

BENCH_MODELS = ("gpt-4o-mini", "gpt-4o", "o3")


def body_decode(body: bytes) -> Any:
    """A request body decoded as the API's JSON parser decodes it (``api.parsers``): orjson where
    it gives the standard decoder's result, the standard decoder otherwise."""
    value = json_loads_fast(body)
    return json.loads(body) if value is UNDECIDED else value


def _catalog_ready() -> None:
    present = set(
        AIModel.objects.filter(provider__slug="openai", slug__in=BENCH_MODELS).values_list("slug", flat=True)
    )
    if present == set(BENCH_MODELS) and ModelPrice.objects.filter(model__slug__in=BENCH_MODELS).exists():
        return
    openai = next(p for p in genai_data.providers if p.id == "openai")
    catalog_import(
        providers=[dataclasses.replace(openai, models=[m for m in openai.models if m.id in BENCH_MODELS])]
    )


def _organization(label: str) -> tuple[Organization, Tier]:
    slug = f"bench-{label}-{int(time.time() * 1000)}"
    organization = Organization.objects.create(name=slug, slug=slug, time_zone="Europe/Berlin")
    product = product_create(organization=organization, name="Bench")
    tier = tier_create(
        product=product, name="Pro", monthly_fee=Decimal("20"), payment_fee_pct=Decimal("0.029")
    )
    return organization, tier


def _records(
    rng: random.Random, start: int, count: int, *, tier: int, customers: int, now: datetime
) -> list[dict[str, Any]]:
    base = now - timedelta(days=60)
    records = []
    for number in range(start, start + count):
        # One record in twenty repeats an earlier event (a client retry): dedup is exercised.
        event = rng.randrange(max(number, 1)) if number and rng.random() < 0.05 else number
        local = random.Random(event)
        input_tokens = local.randrange(50, 20_000)
        output_tokens = local.randrange(10, 4_000)
        records.append(
            {
                "event_id": f"evt-{event:09d}",
                "customer": f"cus-{local.randrange(customers):06d}",
                "tier": tier,
                "timestamp": (base + timedelta(seconds=local.randrange(59 * 86_400))).isoformat(),
                "model": f"openai/{BENCH_MODELS[local.randrange(3)]}",
                "input_tokens": input_tokens,
                "cached_tokens": local.randrange(0, input_tokens // 2 + 1),
                "output_tokens": output_tokens,
                "reasoning_tokens": local.randrange(0, output_tokens // 2 + 1),
            }
        )
    return records


def _raw_rows(
    organization: Organization, records: list[dict[str, Any]], customer_ids: dict[str, int], now: datetime
) -> list[tuple[Any, ...]]:
    """The prepared rows the raw baseline writes (computed outside its timing)."""
    parsed, _ = parse_records(records, now=now)
    resolved, _ = resolve_records(organization, parsed)
    return [
        (
            parsed.event_ids[i],
            customer_ids[parsed.customers[i]],
            parsed.timestamps[i],
            resolved.periods[i],
            None,
            resolved.model_ids[i],
            resolved.price_rows[i].pk,
            *(column[i] for column in parsed.tokens),
            parsed.requests[i],
            str(resolved.credits[i]),
            cost_text(resolved.cost_units[i]),
            parsed.hashes[i],
        )
        for i in range(len(records))
    ]


def _raw_insert(organization: Organization, rows: list[tuple[Any, ...]], now: datetime) -> int:
    table = UsageRecord._meta.db_table
    columns = ", ".join(COPY_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        copy_incoming(cursor, "bench_raw_incoming", rows)
        cursor.execute(
            f"INSERT INTO {table} (organization_id, priced_at, received_at, {columns}) "
            f"SELECT %s, %s, %s, {columns} FROM bench_raw_incoming "
            "ON CONFLICT (organization_id, event_id) DO NOTHING",
            [organization.pk, now, now],
        )
        return cursor.rowcount


def _batches(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(size, total - start)


def ingest_benchmark(
    *, records: int, batch: int, customers: int = 10_000, seed: int = 1, http: bool = False
) -> dict[str, Any]:
    """Ingest ``records`` in batches of ``batch`` both ways (and through ``POST
    /api/v1/usage-records/`` in-process with ``http``, into a third organisation); throughputs and
    the service-to-raw ratio."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench_ingest measures PostgreSQL (COPY); set DATABASE_URL to a scratch database.")
    _catalog_ready()
    now = timezone.now()
    service_org, service_tier = _organization("ingest")
    raw_org, raw_tier = _organization("raw")
    client, http_tier, http_seconds = None, None, 0.0
    if http:
        http_org, http_tier = _organization("http")
        _, key = api_key_create(organization=http_org, name="bench", scopes=["ingest"])
        client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    rng = random.Random(seed)
    service_seconds = raw_seconds = parse_seconds = 0.0
    created = duplicates = raw_inserted = 0
    raw_customers: dict[str, int] = {}
    for _, count in _batches(records, batch):
        generated = _records(
            rng, created + duplicates, count, tier=service_tier.pk, customers=customers, now=now
        )
        body = json.dumps(generated).encode()
        raw_records = [dict(r, tier=raw_tier.pk) for r in generated]
        missing = {r["customer"] for r in raw_records} - raw_customers.keys()
        if missing:
            made = Customer.objects.bulk_create(
                [Customer(organization=raw_org, external_id=name) for name in sorted(missing)]
            )
            raw_customers.update({c.external_id: c.pk for c in made})
        rows = _raw_rows(raw_org, raw_records, raw_customers, now)

        started = time.perf_counter()
        raw_inserted += _raw_insert(raw_org, rows, now)
        raw_seconds += time.perf_counter() - started

        started = time.perf_counter()
        decoded = body_decode(body)
        parsed_at = time.perf_counter()
        result = usage_records_ingest(organization=service_org, records=decoded, now=now)
        service_seconds += time.perf_counter() - started
        parse_seconds += parsed_at - started
        created += result.created
        duplicates += result.duplicates

        if client is not None and http_tier is not None:
            http_body = json.dumps([dict(r, tier=http_tier.pk) for r in generated])
            started = time.perf_counter()
            response = client.post("/api/v1/usage-records/", http_body, content_type="application/json")
            http_seconds += time.perf_counter() - started
            if response.status_code != 201:
                raise RuntimeError(f"HTTP ingest answered {response.status_code}: {response.content[:300]!r}")
    stored = UsageRecord.objects.filter(organization=service_org).count()
    customer_months_fold(organization_id=service_org.pk)
    rollup = CustomerMonth.objects.filter(organization=service_org).values_list("records", flat=True)
    report = {
        "records": records,
        "batch": batch,
        "created": created,
        "duplicates": duplicates,
        "stored": stored,
        "rollup_records": sum(rollup),
        "raw_inserted": raw_inserted,
        "service_seconds": round(service_seconds, 3),
        "service_json_parse_seconds": round(parse_seconds, 3),
        "raw_seconds": round(raw_seconds, 3),
        "service_records_per_s": round(records / service_seconds),
        "raw_records_per_s": round(records / raw_seconds),
        "ratio_service_to_raw": round(raw_seconds / service_seconds, 3),
    }
    if client is not None:  # leave no journal behind (not timed)
        customer_months_fold(organization_id=http_org.pk)
    if http:
        report["http_seconds"] = round(http_seconds, 3)
        report["http_records_per_s"] = round(records / http_seconds)
        report["ratio_http_to_raw"] = round(raw_seconds / http_seconds, 3)
    return report


def margins_benchmark(*, customers: int, records: int, repeat: int = 3) -> dict[str, Any]:
    """Generate ``customers`` and ``records`` in one month with SQL; time the month's reports."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench_margins generates data with PostgreSQL SQL; set DATABASE_URL.")
    _catalog_ready()
    organization, pro = _organization("margins")
    free = tier_create(product=pro.product, name="Free", included_credits=100.0, hard_cap_credits=100.0)
    price = ModelPrice.objects.filter(model__slug="gpt-4o", variant="").order_by("-effective_from").first()
    assert price is not None
    period = date(2025, 6, 1)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO planner_customer (organization_id, external_id, created_at) "
            "SELECT %s, 'cus-' || lpad(g::text, 7, '0'), now() FROM generate_series(1, %s) g",
            [organization.pk, customers],
        )
        # Every customer starts the month on Pro (or Free, one in five); one in ten moves mid-month.
        cursor.execute(
            """INSERT INTO planner_customertierperiod (customer_id, tier_id, effective_from)
            SELECT id, CASE WHEN id %% 5 = 0 THEN %s ELSE %s END, %s
            FROM planner_customer WHERE organization_id = %s""",
            [free.pk, pro.pk, period, organization.pk],
        )
        cursor.execute(
            """INSERT INTO planner_customertierperiod (customer_id, tier_id, effective_from)
            SELECT id, CASE WHEN id %% 5 = 0 THEN %s ELSE %s END, %s
            FROM planner_customer WHERE organization_id = %s AND id %% 10 = 3""",
            [pro.pk, free.pk, period + timedelta(days=16), organization.pk],
        )
        cursor.execute(
            "SELECT min(id), max(id) FROM planner_customer WHERE organization_id = %s", [organization.pk]
        )
        low, high = cursor.fetchone()
        # gpt-4o at $2.50 / $10 per Mtok; 1,000-10,000 input and 100-1,000 output tokens a record.
        # Customers are drawn as u**3 (u uniform): heavy-tailed usage, a few hundred heavy users.
        cursor.execute(
            """INSERT INTO planner_usagerecord (organization_id, event_id, customer_id, timestamp, period,
                model_id, price_id, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
                reasoning_tokens, requests, credits, cost, payload_hash, priced_at, received_at)
            SELECT %s, 'evt-' || g, %s + floor(power((h %% 1000003) / 1000003.0, 3) * (%s - %s + 1))::bigint,
                %s::timestamptz + (g %% 2500000) * interval '1 second', %s, %s, %s,
                1000 + h %% 9000, 100 + h %% 900, 0, 0, 0, 1, 1,
                (1000 + h %% 9000) * 0.0000025 + (100 + h %% 900) * 0.00001, md5(g::text), now(), now()
            FROM (SELECT g, abs(hashint4(g)) AS h FROM generate_series(1, %s) g) s""",
            [
                organization.pk,
                low,
                high,
                low,
                datetime(2025, 6, 1, tzinfo=UTC),
                period,
                price.model_id,
                price.pk,
                records,
            ],
        )
        cursor.execute(
            """INSERT INTO planner_customermonth (organization_id, customer_id, period, records,
                requests, credits, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
                reasoning_tokens, cost)
            SELECT %s, customer_id, period, count(*), sum(requests), sum(credits), sum(input_tokens),
                sum(output_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
                sum(cost)
            FROM planner_usagerecord WHERE organization_id = %s GROUP BY customer_id, period""",
            [organization.pk, organization.pk],
        )
        cursor.execute(
            "ANALYZE planner_customermonth; ANALYZE planner_customertierperiod; ANALYZE planner_customer"
        )
    setup = time.perf_counter() - started
    timings, tier_timings = [], []
    rows: list[Any] = []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = customer_margins_for_period(organization=organization, period=period)
        timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        tier_margins_for_period(organization=organization, period=period)
        tier_timings.append(time.perf_counter() - started)
    return {
        "customers": customers,
        "records": records,
        "setup_seconds": round(setup, 1),
        "customers_reported": len(rows),
        "underwater": sum(1 for row in rows if row.underwater),
        "customer_margins_seconds": [round(t, 3) for t in timings],
        "tier_summary_seconds": [round(t, 3) for t in tier_timings],
        "customer_tier_periods": CustomerTierPeriod.objects.filter(
            customer__organization=organization
        ).count(),
    }
