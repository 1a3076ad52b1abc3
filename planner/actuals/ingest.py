"""Ingesting a batch of usage records: resolve it against the organisation's data, price it, write
it and its customer-month rollup (parsing is ``planner.actuals.parse``).

``usage_records_ingest`` promises (docs/ACTUALS.md has the full semantics):

- all or nothing on validation: every record is checked (types, ranges, NaN/inf, NUL bytes,
  timestamps at most one day in the future, tiers/workloads/models of the caller's organisation
  and a price in force) before anything is written; any error raises ``UsageRecordsInvalid``
  listing each one as (index, field, reason);
- idempotent by ``(organization, event_id)``: a record whose id exists with the same payload
  hash is a *duplicate* (acknowledged, counted once); with a different hash it is a *conflict*
  (not written, reported per item). Concurrent batches insert each event exactly once
  (``INSERT ... ON CONFLICT DO NOTHING``; the rows' payload hashes classify the rest);
- priced at ingest with the catalog price in force at each record's timestamp; the cost (10
  decimal places) and the price row are stored;
- the customer-month rollup gets the inserted records only, exactly once: on PostgreSQL they
  are journaled in the same statement and folded into ``CustomerMonth`` before any read
  (``planner.actuals.rollup``); on SQLite the rollup is upserted in the same transaction.

On PostgreSQL records go through ``COPY`` into a temporary table and one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` that also journals them; elsewhere
through ``bulk_create`` inside SQLite's ``BEGIN IMMEDIATE`` transaction (one writer at a time).
Same contract both ways.

Locks are always taken in the same order (customers by external id, records by event id; on
SQLite then rollup rows by customer and period) so that concurrent batches cannot deadlock; the
rollup's own lock order is in ``planner.actuals.rollup``.

"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.customers import customer_ids, customers_create, names_parameter
from planner.actuals.models import (
    USAGE_TOKEN_FIELDS,
    Customer,
    UsageRecord,
)
from planner.actuals.parse import (
    CREDITS_QUANTUM,
    MAX_BATCH,
    IngestConflict,
    IngestError,
    IngestResult,
    ParsedRecords,
    UsageRecordsInvalid,
    parse_records,
)
from planner.actuals.pricing import (
    MAX_COST_UNITS,
    TokenColumns,
    cost_from_units,
    cost_text,
    cost_units,
)
from planner.actuals.rollup import JOURNAL_COLUMNS, JOURNAL_TABLE, ROLLUP_SUMS, rollup_write
from planner.products.models import Product, Tier, Workload, WorkloadModel
from pricing.models import AIModel, ModelPrice, Provider
from pricing.resolve import CATALOG_PRICES, EPOCH, PriceResolver, epoch_us

# --- Resolution against the organisation's data (reads only) ------------------------------------


@dataclass
class _Resolved:
    model_ids: list[int]
    price_rows: list[ModelPrice]
    credits: list[Decimal]
    periods: list[date]
    cost_units: list[int]
    new_customers: dict[str, tuple[int, date]]  # external id -> (tier id, first period)
    customer_ids: dict[str, int]  # known customers (read before the write transaction)


def _periods(micros: npt.NDArray[np.int64], zone: ZoneInfo) -> list[date]:
    """The local month (its first day) of each instant: the months' starts in ``zone`` between
    the earliest and latest instant, looked up with ``searchsorted`` (DST-safe, no per-record
    time zone conversion)."""
    if not len(micros):
        return []
    first = (EPOCH + timedelta(microseconds=int(micros.min()))).astimezone(zone)
    last = (EPOCH + timedelta(microseconds=int(micros.max()))).astimezone(zone)
    months = [date(first.year, first.month, 1)]
    while (months[-1].year, months[-1].month) < (last.year, last.month):
        current = months[-1]
        months.append(date(current.year + current.month // 12, current.month % 12 + 1, 1))
    starts = np.array(
        [epoch_us(datetime(month.year, month.month, 1, tzinfo=zone)) for month in months], dtype=np.int64
    )
    return [months[i] for i in (np.searchsorted(starts, micros, side="right") - 1).tolist()]


def _tier_refusal(tier: int, organization_tiers: Mapping[int, int | None]) -> str:
    """Why ``tier`` cannot take usage: not the organisation's, or a scenario's tier."""
    if tier in organization_tiers:
        return f"Tier {tier} belongs to a scenario's plan; usage names live tiers only."
    return f"No tier {tier} in this organisation."


def resolve_records(
    organization: Organization, parsed: ParsedRecords, known_customers: Mapping[str, int] | None = None
) -> tuple[_Resolved, list[IngestError]]:
    errors: list[IngestError] = []
    names = {name for name in parsed.models if name is not None}
    read_before = known_customers or {}
    organization_tiers, models_by_name, customer_ids = _lookups(
        organization, names, {name for name in parsed.customers if name not in read_before}
    )
    customer_ids.update((name, read_before[name]) for name in parsed.customers if name in read_before)
    # Usage names live tiers only (the plans customers are on); a scenario's tier is refused.
    tier_ids = {pk for pk, scenario in organization_tiers.items() if scenario is None}
    named_workloads = {w for w in parsed.workloads if w is not None}
    workloads = (
        {
            workload.pk: workload
            for workload in Workload.objects.filter(
                product__organization=organization, pk__in=named_workloads
            )
        }
        if named_workloads
        else {}
    )
    mixes: dict[int, list[WorkloadModel]] = {}
    if workloads:
        for entry in WorkloadModel.objects.filter(workload__in=workloads.keys()):
            mixes.setdefault(entry.workload_id, []).append(entry)
    existing = customer_ids.keys()

    count = len(parsed.event_ids)
    zone = ZoneInfo(organization.time_zone)
    model_ids: list[int] = [0] * count
    keys: list[tuple[int, str]] = [(0, "")] * count
    credits: list[Decimal] = [Decimal(0)] * count
    micros = np.asarray(parsed.micros, dtype=np.int64)
    periods = _periods(micros, zone)
    new_customers: dict[str, tuple[int, date, datetime]] = {}
    # Credits by (workload, requests) when not given: the same few values recur.
    default_credits: dict[tuple[int | None, int], Decimal] = {}
    for index in range(count):
        tier = parsed.tiers[index]
        if tier is not None and tier not in tier_ids:
            errors.append(IngestError(index, "tier", _tier_refusal(tier, organization_tiers)))
        customer = parsed.customers[index]
        if customer not in existing:
            if tier is None:
                errors.append(
                    IngestError(index, "tier", f"Customer {customer!r} is new: name its tier (a tier id).")
                )
            elif tier in tier_ids:
                moment = parsed.timestamps[index]
                known = new_customers.get(customer)
                if known is None or moment < known[2]:
                    new_customers[customer] = (tier, periods[index], moment)
        workload_id = parsed.workloads[index]
        workload = workloads.get(workload_id) if workload_id is not None else None
        if workload_id is not None and workload is None:
            errors.append(IngestError(index, "workload", f"No workload {workload_id} in this organisation."))
        name, variant = parsed.models[index], parsed.variants[index]
        if name is not None:
            model_id = models_by_name.get(name)
            if model_id is None:
                errors.append(IngestError(index, "model", f"No model {name!r} in the price catalog."))
                continue
        elif workload is not None:
            mix = mixes.get(workload.pk, [])
            if len(mix) != 1:
                errors.append(
                    IngestError(
                        index,
                        "model",
                        f"Workload {workload.pk} mixes {len(mix)} models; name the model this record used.",
                    )
                )
                continue
            if mix[0].model_id is None:
                errors.append(
                    IngestError(
                        index,
                        "model",
                        f"Workload {workload.pk} runs a private or self-hosted model; name a catalog model.",
                    )
                )
                continue
            model_id = mix[0].model_id
            if variant is None:
                variant = mix[0].variant
        else:
            continue
        model_ids[index] = model_id
        keys[index] = (model_id, variant or "")
        given = parsed.credits[index]
        if given is not None:
            credits[index] = given
        else:
            key = (workload_id, parsed.requests[index])
            default = default_credits.get(key)
            if default is None:
                per_request = (
                    Decimal(repr(workload.credits_per_request)) if workload is not None else Decimal(1)
                )
                default = default_credits[key] = (per_request * key[1]).quantize(CREDITS_QUANTUM)
            credits[index] = default
    if errors:
        return _Resolved([], [], [], [], [], {}, {}), errors

    pricer = PriceResolver.load_reusing(model_ids=set(model_ids), terms=CATALOG_PRICES)
    rows = pricer.rows_at(keys, parsed.timestamps, micros)
    for index, row in enumerate(rows):
        if row is None:
            model_id, variant = keys[index]
            variants = pricer.variants(model_id)
            if variant not in variants:
                reason = (
                    f"{parsed.models[index] or 'The model'} has no price variant {variant!r}; "
                    f"its variants are {', '.join(repr(v) for v in variants) or 'none'}."
                )
                errors.append(IngestError(index, "variant", reason))
            else:
                errors.append(IngestError(index, "timestamp", "No catalog price in force at this time."))
    if errors:
        return _Resolved([], [], [], [], [], {}, {}), errors
    priced_rows = [row for row in rows if row is not None]
    tokens = TokenColumns.build(parsed.tokens, parsed.requests)
    units = cost_units(priced_rows, tokens)
    for index in np.flatnonzero(~(units < MAX_COST_UNITS)).tolist():
        errors.append(
            IngestError(index, "input_tokens", "The priced cost is out of range; check the counts.")
        )
    resolved = _Resolved(
        model_ids=model_ids,
        price_rows=priced_rows,
        credits=credits,
        periods=periods,
        cost_units=[int(unit) for unit in units.tolist()],
        new_customers={name: (tier, period) for name, (tier, period, _) in new_customers.items()},
        customer_ids=customer_ids,
    )
    return resolved, errors


def _lookups(
    organization: Organization, names: Collection[str], customers: Collection[str]
) -> tuple[dict[int, int | None], dict[str, int], dict[str, int]]:
    """The organisation's tiers (id -> scenario id, None for a live tier), the catalog models
    among ``names`` ("provider/model" -> id) and the organisation's customers among
    ``customers`` (external id -> id). One round trip on PostgreSQL (a batch's lookups are
    about a tenth of its time under load when sent one by one)."""
    providers = sorted({name.split("/", 1)[0] for name in names})
    slugs = sorted({name.split("/", 1)[1] for name in names})
    if connection.vendor != "postgresql":
        models_by_name = {
            f"{provider}/{slug}": pk
            for pk, provider, slug in AIModel.objects.filter(
                provider__slug__in=providers, slug__in=slugs
            ).values_list("pk", "provider__slug", "slug")
        }
        scoped: dict[int, int | None] = dict(
            Tier.objects.filter(product__organization=organization).values_list("pk", "scenario_id")
        )
        return scoped, models_by_name, customer_ids(organization=organization, names=customers)
    tier, product = Tier._meta.db_table, Product._meta.db_table
    model, provider = AIModel._meta.db_table, Provider._meta.db_table
    tiers: dict[int, int | None] = {}
    models: dict[str, int] = {}
    known: dict[str, int] = {}
    targets = (tiers, models, known)
    # A thousand ids sent as one text split by the server: psycopg quotes each element of a text
    # array with a regular expression, which costs more than the query (about 1 ms a batch).
    names_sql, names_value = names_parameter(customers)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 0, t.id, t.scenario_id, NULL FROM {tier} t JOIN {product} p ON p.id = t.product_id "
            "WHERE p.organization_id = %s "
            f"UNION ALL SELECT 1, m.id, NULL, v.slug || '/' || m.slug FROM {model} m "
            f"JOIN {provider} v ON v.id = m.provider_id WHERE v.slug = ANY(%s) AND m.slug = ANY(%s) "
            f"UNION ALL SELECT 2, c.id, NULL, c.external_id FROM {Customer._meta.db_table} c "
            f"WHERE c.organization_id = %s AND c.external_id = ANY({names_sql})",
            [organization.pk, providers, slugs, organization.pk, names_value],
        )
        for kind, pk, scenario, name in cursor.fetchall():
            if kind == 0:
                tiers[pk] = scenario
            else:
                targets[kind][name] = pk
    return tiers, models, known


# --- Writing ------------------------------------------------------------------------------------


def _customers_ensure(organization: Organization, resolved: _Resolved) -> dict[str, int]:
    """Ids of the batch's customers, creating the new ones (with their first tier period).
    Customers are never deleted while their records exist, so the ids read during validation
    stay valid; only the new ones are looked up again after their insert."""
    ids = dict(resolved.customer_ids)
    if resolved.new_customers:
        ids.update(customers_create(organization=organization, first_periods=resolved.new_customers))
    return ids


COPY_COLUMNS = (
    "event_id",
    "customer_id",
    "timestamp",
    "period",
    "workload_id",
    "model_id",
    "price_id",
    *USAGE_TOKEN_FIELDS,
    "requests",
    "credits",
    "cost",
    "payload_hash",
)


#: Columns of the session temp table that ``COPY`` fills (PostgreSQL), in ``COPY_COLUMNS`` order.
INCOMING_COLUMNS = (
    "event_id text, customer_id bigint, timestamp timestamptz, period date, workload_id bigint, "
    "model_id bigint, price_id bigint, input_tokens bigint, output_tokens bigint, cached_tokens bigint, "
    "cache_write_tokens bigint, reasoning_tokens bigint, requests integer, credits numeric, cost numeric, "
    "payload_hash text"
)


def copy_incoming(cursor: CursorWrapper, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Fill the session temp table ``table`` (``INCOMING_COLUMNS``, created on first use, emptied
    at commit) with exactly ``rows`` (in ``COPY_COLUMNS`` order) by ``COPY``; PostgreSQL only."""
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({INCOMING_COLUMNS}) ON COMMIT DELETE ROWS")
    # Rows left by an earlier call in the same (outer) transaction must not be inserted again.
    cursor.execute(f"TRUNCATE {table}")
    with cursor.cursor.copy(f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_postgresql(
    organization: Organization, rows: list[tuple[Any, ...]], *, now: datetime
) -> tuple[set[str], dict[str, str]]:
    """COPY the rows into a session temp table, insert the new ones and journal them for the
    rollup (``planner.actuals.rollup``); returns the inserted event ids and the stored payload
    hashes of the others that were already stored when the statement started."""
    table = UsageRecord._meta.db_table
    columns = ", ".join(COPY_COLUMNS)
    journal_sums = ", ".join(JOURNAL_COLUMNS[1:])
    with connection.cursor() as cursor:
        copy_incoming(cursor, "planner_usage_incoming", rows)
        # The statement's estimated cost (a subquery per id not inserted, over a large table)
        # passes jit_above_cost: compiling it took 12 ms of its 32 on a table of 12M records,
        # for a statement that runs in 20. Off for this transaction only.
        cursor.execute("SET LOCAL jit = off")
        # One statement inserts the new records, journals exactly those, and answers only for
        # the others (usually a few retries): their stored hashes, as of rows committed before it
        # started. An id that a concurrent batch stores meanwhile is neither inserted nor found
        # here (a NULL hash), and is looked up again by the caller.
        cursor.execute(
            f"WITH inserted AS (INSERT INTO {table} (organization_id, priced_at, received_at, {columns}) "
            f"SELECT %s, %s, %s, {columns} FROM planner_usage_incoming ORDER BY event_id "
            "ON CONFLICT (organization_id, event_id) DO NOTHING "
            f"RETURNING event_id, {journal_sums}), "
            f"journaled AS (INSERT INTO {JOURNAL_TABLE} ({', '.join(JOURNAL_COLUMNS)}) "
            f"SELECT %s, {journal_sums} FROM inserted) "
            "SELECT incoming.event_id, "
            f"(SELECT payload_hash FROM {table} WHERE organization_id = %s AND event_id = incoming.event_id) "
            "FROM planner_usage_incoming incoming "
            "WHERE incoming.event_id NOT IN (SELECT event_id FROM inserted)",
            [organization.pk, now, now, organization.pk, organization.pk],
        )
        others: dict[str, str | None] = dict(cursor.fetchall())
    inserted = {row[0] for row in rows if row[0] not in others}
    return inserted, {event_id: stored for event_id, stored in others.items() if stored is not None}


def _insert_generic(
    organization: Organization, rows: list[tuple[Any, ...]], *, now: datetime
) -> tuple[set[str], dict[str, str]]:
    """bulk_create inside the caller's transaction, then add the inserted rows to the rollup. On
    SQLite (``BEGIN IMMEDIATE``) no other writer can interleave, so the ids not found before the
    insert are exactly the inserted ones."""
    ids = [row[0] for row in rows]
    present = dict(
        UsageRecord.objects.filter(organization=organization, event_id__in=ids).values_list(
            "event_id", "payload_hash"
        )
    )
    fresh = [row for row in rows if row[0] not in present]
    UsageRecord.objects.bulk_create(
        [
            UsageRecord(
                organization=organization,
                priced_at=now,
                received_at=now,
                **dict(zip(COPY_COLUMNS, row, strict=True)),
            )
            for row in fresh
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    totals: dict[tuple[int, date], list[Any]] = {}
    for row in fresh:
        values = dict(zip(COPY_COLUMNS, row, strict=True))
        sums = totals.setdefault((values["customer_id"], values["period"]), [0] * len(ROLLUP_SUMS))
        sums[0] += 1
        for position, name in enumerate(ROLLUP_SUMS[1:], start=1):
            sums[position] += values[name]
    rollup_write(organization.pk, totals, replace=False)
    return {row[0] for row in fresh}, present


def usage_records_ingest(
    *,
    organization: Organization,
    records: Sequence[object],
    now: datetime | None = None,
    known_customers: Mapping[str, int] | None = None,
) -> IngestResult:
    """Validate, deduplicate, price and store a batch of usage records (see the module docstring).

    ``records`` are JSON-like mappings (see docs/ACTUALS.md for the fields); ``now`` is the
    server clock (injectable for tests). Raises ``UsageRecordsInvalid`` when any record is
    invalid (nothing is written) or the batch is empty or larger than ``MAX_BATCH``.
    ``known_customers``: ids of some of the organisation's customers (external id -> id) that
    the caller read or created in its own open transaction, not to be looked up again (the
    billing-SDK path, ``planner.actuals.compat.ingest``).
    """
    if not records:
        raise UsageRecordsInvalid([IngestError(0, "non_field_errors", "Send at least one usage record.")])
    if len(records) > MAX_BATCH:
        raise UsageRecordsInvalid(
            [
                IngestError(
                    0,
                    "non_field_errors",
                    f"At most {MAX_BATCH:,} records per request (got {len(records):,}).",
                )
            ]
        )
    now = now or timezone.now()
    parsed, errors = parse_records(records, now=now)
    if errors:
        raise UsageRecordsInvalid(errors)
    resolved, errors = resolve_records(organization, parsed, known_customers)
    if errors:
        raise UsageRecordsInvalid(errors)

    # Within the batch the first record with an id wins; later ones are duplicates or conflicts.
    first_seen: dict[str, int] = {}
    in_batch: list[tuple[int, bool]] = []  # (index, same payload) of repeated ids
    for index, event_id in enumerate(parsed.event_ids):
        first = first_seen.setdefault(event_id, index)
        if first != index:
            in_batch.append((index, parsed.hashes[first] == parsed.hashes[index]))
    firsts = sorted(first_seen.values(), key=parsed.event_ids.__getitem__)

    with transaction.atomic():
        customer_ids = _customers_ensure(organization, resolved)
        is_postgresql = connection.vendor == "postgresql"
        units = [resolved.cost_units[i] for i in firsts]
        credits = [resolved.credits[i] for i in firsts]
        # Column by column (COPY_COLUMNS order), then zipped into rows.
        columns: list[list[Any]] = [
            [parsed.event_ids[i] for i in firsts],
            [customer_ids[parsed.customers[i]] for i in firsts],
            [parsed.timestamps[i] for i in firsts],
            [resolved.periods[i] for i in firsts],
            [parsed.workloads[i] for i in firsts],
            [resolved.model_ids[i] for i in firsts],
            [resolved.price_rows[i].id for i in firsts],
            *([column[i] for i in firsts] for column in parsed.tokens),
            [parsed.requests[i] for i in firsts],
            list(map(str, credits)) if is_postgresql else credits,
            list(map(cost_text if is_postgresql else cost_from_units, units)),
            [parsed.hashes[i] for i in firsts],
        ]
        rows = list(zip(*columns, strict=True))
        insert = _insert_postgresql if is_postgresql else _insert_generic
        inserted, stored = insert(organization, rows, now=now)

        conflicts: list[IngestConflict] = []
        duplicates = 0
        if len(inserted) + len(stored) < len(firsts):
            # Stored by a concurrent batch that committed while this one waited for it: a new
            # statement sees its rows (READ COMMITTED).
            stored.update(
                UsageRecord.objects.filter(
                    organization=organization,
                    event_id__in=[
                        parsed.event_ids[i]
                        for i in firsts
                        if parsed.event_ids[i] not in inserted and parsed.event_ids[i] not in stored
                    ],
                ).values_list("event_id", "payload_hash")
            )
        if len(inserted) < len(firsts):
            for index in firsts:
                event_id = parsed.event_ids[index]
                if event_id in inserted:
                    continue
                if stored.get(event_id) == parsed.hashes[index]:
                    duplicates += 1
                else:
                    conflicts.append(IngestConflict(index, event_id))
        # A repeat shares the fate of the batch's first record with its id: same payload as a
        # first record that was stored or a duplicate is a duplicate; anything else conflicts.
        conflicting = {conflict.event_id for conflict in conflicts}
        for index, same in in_batch:
            if same and parsed.event_ids[index] not in conflicting:
                duplicates += 1
            else:
                conflicts.append(IngestConflict(index, parsed.event_ids[index]))

    conflicts.sort(key=lambda conflict: conflict.index)
    return IngestResult(
        created=len(inserted), duplicates=duplicates, conflicts=conflicts, created_ids=frozenset(inserted)
    )
