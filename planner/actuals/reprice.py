"""Repricing stored usage after a price change, and recomputing the customer-month rollup."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from planner.actuals.models import (
    USAGE_TOKEN_FIELDS,
    CustomerMonth,
    UsageRecord,
)
from planner.actuals.pricing import (
    TokenColumns,
    cost_from_units,
    cost_units,
)
from planner.actuals.rollup import (
    JOURNAL_TABLE,
    ROLLUP_SUMS,
    fold_lock,
    fold_under_lock,
    journal_enabled,
    rollup_write,
)
from pricing.models import AIModel
from pricing.resolve import CATALOG_PRICES, PriceResolver, epoch_us

# --- Repricing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepriceResult:
    records: int
    changed: int
    customer_months: int


_REPRICE_CHUNK = 5_000


def _month_sums(organization_id: int, customers: list[int], periods: list[date]) -> list[tuple[Any, ...]]:
    """``(customer, period, count, sums...)`` of the records of ``customers`` x ``periods``; on
    PostgreSQL less what the journal still holds for them, read in the same statement (one
    snapshot), so that the fold adding those rows later brings each month to its records."""
    sums = ROLLUP_SUMS[1:]
    if not journal_enabled():
        return list(
            UsageRecord.objects.filter(customer_id__in=customers, period__in=periods)
            .values("customer_id", "period")
            .annotate(n=Count("pk"), **{f"sum_{name}": Sum(name) for name in sums})
            .values_list("customer_id", "period", "n", *(f"sum_{name}" for name in sums))
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id, period, count(*), "
            + ", ".join(f"sum({name})" for name in sums)
            + f" FROM {UsageRecord._meta.db_table} WHERE customer_id = ANY(%s) AND period = ANY(%s) "
            "GROUP BY customer_id, period UNION ALL SELECT customer_id, period, -count(*), "
            + ", ".join(f"-sum({name})" for name in sums)
            + f" FROM {JOURNAL_TABLE} WHERE organization_id = %s AND customer_id = ANY(%s) "
            "GROUP BY customer_id, period",
            [customers, periods, organization_id, customers],
        )
        return cursor.fetchall()


def customer_months_recompute(*, organization_pairs: Iterable[tuple[int, int, date]]) -> int:
    """Recompute rollup rows (organization id, customer id, period) from their usage records.

    Each organisation's journal is folded under its fold lock, held to the end (no other fold
    runs meanwhile), and the rows are locked (in key order) before the recount; what the
    journal received since the fold is subtracted in the recount's own snapshot and added by the
    next fold (``planner.actuals.rollup``).
    """
    by_org: dict[int, set[tuple[int, date]]] = {}
    for organization_id, customer_id, period in organization_pairs:
        by_org.setdefault(organization_id, set()).add((customer_id, period))
    count = 0
    with transaction.atomic():
        for organization_id, pairs in sorted(by_org.items()):
            if journal_enabled():
                fold_lock(organization_id)
                fold_under_lock(organization_id)
            customers = sorted({customer for customer, _ in pairs})
            periods = sorted({period for _, period in pairs})
            list(
                CustomerMonth.objects.select_for_update()
                .filter(customer_id__in=customers, period__in=periods)
                .order_by("customer_id", "period")
                .values_list("pk", flat=True)
            )
            totals: dict[tuple[int, date], list[Any]] = {}
            for customer_id, period, *values in _month_sums(organization_id, customers, periods):
                if (customer_id, period) not in pairs:
                    continue
                current = totals.setdefault((customer_id, period), [0] * len(ROLLUP_SUMS))
                for position, value in enumerate(values):
                    current[position] += value
            rollup_write(organization_id, totals, replace=True)
            count += len(totals)
    return count


def usage_records_reprice(*, model: AIModel, since: datetime | None) -> RepriceResult:
    """Reprice every usage record of ``model`` stamped at or after ``since`` (None: all of
    them) with the catalog price now in force at its timestamp, then recompute the affected
    customer months. Idempotent: a second call changes nothing.

    A catalog import that changes a price history triggers it (``planner.actuals.receivers``); ``manage.py
    reprice_usage`` runs it by hand. Records keep their variant (that of their stored price row).
    """
    pricer = PriceResolver.load(model_ids=[model.pk], terms=CATALOG_PRICES)
    now = timezone.now()
    seen = changed = 0
    affected: set[tuple[int, int, date]] = set()
    fields = ("pk", "timestamp", "price__variant", "price_id", "cost", *USAGE_TOKEN_FIELDS, "requests")
    last_pk = 0
    with transaction.atomic():
        while True:
            chunk = list(
                UsageRecord.objects.filter(model=model, pk__gt=last_pk)
                .filter(**({} if since is None else {"timestamp__gte": since}))
                .order_by("pk")
                .values_list(*fields, "organization_id", "customer_id", "period")[:_REPRICE_CHUNK]
            )
            if not chunk:
                break
            last_pk = chunk[-1][0]
            seen += len(chunk)
            timestamps = [row[1] for row in chunk]
            micros = np.fromiter((epoch_us(t) for t in timestamps), dtype=np.int64, count=len(chunk))
            rows = pricer.rows_at([(model.pk, row[2]) for row in chunk], timestamps, micros)
            keep = [i for i, row in enumerate(rows) if row is not None]
            priced = [row for row in rows if row is not None]
            if not keep:
                continue
            tokens = TokenColumns.build(
                [[chunk[i][5 + k] for i in keep] for k in range(len(USAGE_TOKEN_FIELDS))],
                [chunk[i][10] for i in keep],
            )
            units = cost_units(priced, tokens)
            updates = []
            for position, index in enumerate(keep):
                row = chunk[index]
                price = priced[position]
                cost = cost_from_units(int(units[position]))
                if price.pk != row[3] or cost != row[4]:
                    updates.append(UsageRecord(pk=row[0], price_id=price.pk, cost=cost, priced_at=now))
                    affected.add((row[11], row[12], row[13]))
            UsageRecord.objects.bulk_update(updates, ["price_id", "cost", "priced_at"], batch_size=1000)
            changed += len(updates)
        months = customer_months_recompute(organization_pairs=affected)
    return RepriceResult(records=seen, changed=changed, customer_months=months)
