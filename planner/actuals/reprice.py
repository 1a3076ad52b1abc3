"""Repricing stored usage after a price change, and recomputing the customer-month rollup."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.ingest import (
    ROLLUP_SUMS,
    rollup_write,
)
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
from pricing.models import AIModel
from pricing.resolve import CATALOG_PRICES, PriceResolver, epoch_us

# --- Repricing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepriceResult:
    records: int
    changed: int
    customer_months: int


_REPRICE_CHUNK = 5_000


def customer_months_recompute(*, organization_pairs: Iterable[tuple[int, int, date]]) -> int:
    """Recompute rollup rows (organization id, customer id, period) from their usage records.

    The rows are locked first (in key order), so an ingest running at the same time either
    commits before the recount (and is included) or increments after it (and is added).
    """
    by_org: dict[int, set[tuple[int, date]]] = {}
    for organization_id, customer_id, period in organization_pairs:
        by_org.setdefault(organization_id, set()).add((customer_id, period))
    count = 0
    with transaction.atomic():
        for organization_id, pairs in sorted(by_org.items()):
            customers = sorted({customer for customer, _ in pairs})
            periods = sorted({period for _, period in pairs})
            list(
                CustomerMonth.objects.select_for_update()
                .filter(customer_id__in=customers, period__in=periods)
                .order_by("customer_id", "period")
                .values_list("pk", flat=True)
            )
            sums: list[dict[str, Any]] = [
                dict(row)
                for row in UsageRecord.objects.filter(customer_id__in=customers, period__in=periods)
                .values("customer_id", "period")
                .annotate(
                    n=Count("pk"),
                    **{f"sum_{name}": Sum(name) for name in ROLLUP_SUMS if name != "records"},
                )
            ]
            totals = {
                (row["customer_id"], row["period"]): [row["n"], *(row[f"sum_{n}"] for n in ROLLUP_SUMS[1:])]
                for row in sums
                if (row["customer_id"], row["period"]) in pairs
            }
            rollup_write(Organization(pk=organization_id), totals, replace=True)
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
