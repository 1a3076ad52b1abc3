"""What the actuals pages draw (issue #15, item 4): the distribution of a month's customer
margins, how concentrated its COGS is, the month-by-month trend, and one customer's history.

Read only (a selector module): figures come from the month rollups and the actuals report's one
billing rule (``planner.actuals.selectors.customer_month_bill``), never from a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np

from planner.accounts.models import Organization
from planner.actuals.models import Customer
from planner.actuals.rollup import customer_months
from planner.actuals.selectors import (
    MONEY,
    CustomerMargin,
    TierTerms,
    customer_month_bill,
    month_start,
    next_month,
    tier_history,
    tier_segments,
    tier_terms,
)
from planner.core.formatting import count, money, percent
from planner.products.models import Tier

#: Bins of the margin histogram; months of the trend at most.
MARGIN_BINS = 30
TREND_MONTHS = 12


def margin_histogram(customers: Sequence[CustomerMargin], currency: str = "USD") -> dict[str, Any]:
    """The paying customers' margins in ``MARGIN_BINS`` equal bins with an edge at 0 (every bin
    all loss or all profit): edges, counts, whether each bin is a loss, and ``counts_text``
    ("−$5.00 to $0.00: 12 customers", money in ``currency``) for the hover."""
    margins = np.asarray([float(c.margin) for c in customers if c.paying], dtype=np.float64)
    if margins.size == 0:
        return {"edges": [], "counts": [], "loss": [], "counts_text": []}
    low, high = min(float(margins.min()), 0.0), max(float(margins.max()), 0.0)
    if high == low:
        high = low + 1.0
    width = (high - low) / MARGIN_BINS
    # Shift the edges so that 0 is one of them.
    offset = (0.0 - low) % width
    edges = np.arange(low - (width - offset if offset else 0.0), high + width, width)
    counts, edges = np.histogram(margins, bins=edges)
    return {
        "edges": [round(float(e), 6) for e in edges],
        "counts": [int(c) for c in counts],
        "loss": [bool(edges[i + 1] <= 0) for i in range(len(counts))],
        "counts_text": [
            f"{money(edges[i], currency)} to {money(edges[i + 1], currency)}: "
            f"{count(c)} customer{'' if c == 1 else 's'}"
            for i, c in enumerate(counts)
        ],
    }


def cogs_concentration(customers: Sequence[CustomerMargin]) -> dict[str, Any]:
    """How much of the month's COGS the costliest customers cause: the share of the top 1% and
    top 5% (at least one customer each), and the cumulative share by percent of customers."""
    cogs = np.sort(np.asarray([float(c.cogs) for c in customers], dtype=np.float64))[::-1]
    total = float(cogs.sum())
    if cogs.size == 0 or total <= 0:
        return {"customers": int(cogs.size), "top_1pct": None, "top_5pct": None, "curve": []}

    def top(share: float) -> float:
        return float(cogs[: max(1, int(np.ceil(share * cogs.size)))].sum() / total)

    cumulative = np.cumsum(cogs) / total
    percents = np.arange(1, 101)
    positions = np.maximum(np.ceil(percents / 100 * cogs.size).astype(int) - 1, 0)
    return {
        "customers": int(cogs.size),
        "top_1pct": top(0.01),
        "top_5pct": top(0.05),
        "curve": [
            {
                "customers_pct": int(p),
                "cogs_share": float(cumulative[i]),
                "cogs_share_text": f"top {p}% of customers: {percent(cumulative[i])} of COGS",
            }
            for p, i in zip(percents, positions, strict=True)
        ],
    }


@dataclass(frozen=True)
class TrendMonth:
    period: date
    customers: int
    revenue: Decimal
    cogs: Decimal
    margin: Decimal
    underwater_customers: int


def _live_terms(organization: Organization) -> dict[int, TierTerms]:
    tiers = Tier.objects.filter(product__organization=organization, scenario__isnull=True)
    return {t.pk: tier_terms(t) for t in tiers}


def monthly_trend(*, organization: Organization, periods: Sequence[date]) -> list[TrendMonth]:
    """Totals of the last ``TREND_MONTHS`` of ``periods``, oldest first: every customer-month
    billed by the report's rule, in three queries whatever the number of months."""
    months = sorted(periods)[-TREND_MONTHS:]
    if not months:
        return []
    end = next_month(months[-1])
    terms = _live_terms(organization)
    history = tier_history(organization, end)
    totals: dict[date, list[Any]] = {m: [0, Decimal(0), Decimal(0), Decimal(0), 0] for m in months}
    rows = customer_months(organization_id=organization.pk).filter(period__gte=months[0], period__lt=end)
    for customer_id, period, credits, cost in rows.values_list(
        "customer_id", "period", "credits", "cost"
    ).iterator(chunk_size=10_000):
        segments = tier_segments(history.get(customer_id, []), period, next_month(period))
        bill = customer_month_bill(segments, terms, credits, Decimal((next_month(period) - period).days))
        cogs = cost.quantize(MONEY)
        total = totals.setdefault(period, [0, Decimal(0), Decimal(0), Decimal(0), 0])
        total[0] += 1
        total[1] += bill.revenue
        total[2] += cogs
        total[3] += bill.revenue - cogs
        total[4] += int(bill.paying and bill.revenue - cogs < 0)
    return [
        TrendMonth(period=m, customers=t[0], revenue=t[1], cogs=t[2], margin=t[3], underwater_customers=t[4])
        for m, t in sorted(totals.items())
        if m in months
    ]


@dataclass(frozen=True)
class CustomerMonthFigures:
    period: date
    tier_name: str
    requests: int
    credits: Decimal
    revenue: Decimal
    cogs: Decimal
    margin: Decimal
    underwater: bool


def customer_history(*, organization: Organization, customer: Customer) -> list[CustomerMonthFigures]:
    """Every month of ``customer`` with usage, oldest first, billed by the actuals report's rule."""
    rows = list(
        customer_months(organization_id=organization.pk)
        .filter(customer=customer)
        .order_by("period")
        .values_list("period", "requests", "credits", "cost")
    )
    if not rows:
        return []
    end = next_month(rows[-1][0])
    terms = {
        t.pk: tier_terms(t)
        for t in Tier.objects.filter(product__organization=organization, scenario__isnull=True)
    }
    starts = tier_history(organization, end).get(customer.pk, [])
    history = []
    for period, requests, credits, cost in rows:
        period = month_start(period)
        segments = tier_segments(starts, period, next_month(period))
        bill = customer_month_bill(segments, terms, credits, Decimal((next_month(period) - period).days))
        cogs = cost.quantize(MONEY)
        margin = bill.revenue - cogs
        history.append(
            CustomerMonthFigures(
                period=period,
                tier_name=terms[segments[-1][0]].tier.name if segments else "",
                requests=requests,
                credits=credits,
                revenue=bill.revenue,
                cogs=cogs,
                margin=margin,
                underwater=bill.paying and margin < 0,
            )
        )
    return history
