"""Reports on actual usage: margins per customer and per tier for a month, usage distributions
fitted from the records and user segments proposed from them. All read from one organisation's
data.

Margin of a customer in a month (docs/ACTUALS.md):

- the month is a calendar month in the organisation's time zone; the customer's tier periods
  split it into days, and each tier contributes its monthly list fee x days / days in month
  (``Tier.monthly_revenue_per_subscriber``: annual / 12, seats x seat fee, or the flat fee);
- included credits are prorated the same way; credits beyond them are billed at the overage
  price of the tier in force at the end of the month (none when that tier has no overage price;
  no overage at all when any tier of the month is unlimited);
- payment fees: each tier's percentage of its fee share plus its fixed fee x days / days in
  month, and the last tier's percentage of the overage;
- revenue is net of payment fees; COGS is the cost of the month's usage records (from the
  customer-month rollup); margin = revenue - COGS. ``underwater`` flags paying customers (their
  end-of-month tier has a fee) with a negative margin.

Money is Decimal, reported with 6 decimal places. Only customers with usage in the month are
reported (the rollup has a row): a customer without records is not known to be subscribed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Max, OuterRef, QuerySet, Subquery, Sum

from planner.accounts.models import Organization
from planner.actuals.fitting import GammaPoissonFit, gamma_poisson_fit
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod, UsageRecord
from planner.actuals.rollup import customer_months, customer_months_fold
from planner.actuals.segments import SegmentProposal, segments_proposed
from planner.products.models import Tier, Workload

MONEY = Decimal("0.000001")


def usage_records_for_organization(*, organization: Organization) -> QuerySet[UsageRecord]:
    """The organisation's usage records, newest first, with customer and model names joined."""
    return UsageRecord.objects.filter(organization=organization).select_related("customer", "model__provider")


def customers_for_organization(*, organization: Organization) -> QuerySet[Customer]:
    """The organisation's customers; each carries ``current_tier_id``, the tier of its latest
    tier period (changes dated in the future included)."""
    latest = CustomerTierPeriod.objects.filter(customer=OuterRef("pk")).order_by("-effective_from")
    return Customer.objects.filter(organization=organization).annotate(
        current_tier_id=Subquery(latest.values("tier_id")[:1])
    )


ORDERINGS = ("margin", "-margin", "revenue", "-revenue", "cogs", "-cogs", "customer", "-customer")


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


@dataclass(frozen=True)
class TierTerms:
    """What a tier bills: the monthly fee per subscriber, included credits (None: unlimited),
    the overage price, the payment fees, and whether it charges a subscription."""

    tier: Tier
    fee: Decimal
    included: Decimal | None
    overage_price: Decimal
    fee_pct: Decimal
    fee_fixed: Decimal
    paying: bool


def tier_terms(tier: Tier) -> TierTerms:
    fee = tier.monthly_revenue_per_subscriber
    return TierTerms(
        tier=tier,
        fee=fee,
        included=None if tier.included_credits is None else Decimal(repr(tier.included_credits)),
        overage_price=tier.overage_price_per_credit or Decimal(0),
        fee_pct=tier.payment_fee_pct,
        fee_fixed=tier.payment_fee_fixed,
        paying=fee > 0,
    )


@dataclass(frozen=True)
class CustomerMargin:
    customer_id: int
    external_id: str
    tier_id: int | None
    tier_name: str
    billed_days: int
    requests: int
    credits: Decimal
    fee_revenue: Decimal
    overage_credits: Decimal
    overage_revenue: Decimal
    payment_fees: Decimal
    revenue: Decimal
    cogs: Decimal
    margin: Decimal
    paying: bool
    underwater: bool


def tier_segments(starts: list[tuple[date, int]], period: date, end: date) -> list[tuple[int, int]]:
    """(tier id, days) of each tier period overlapping [period, end), in order."""
    result = []
    for position, (start, tier_id) in enumerate(starts):
        until = starts[position + 1][0] if position + 1 < len(starts) else end
        days = (min(until, end) - max(start, period)).days
        if days > 0:
            result.append((tier_id, days))
    return result


def tier_history(
    organization: Organization, end: date, customers: Collection[int] | None = None
) -> dict[int, list[tuple[date, int]]]:
    """Customer id -> (start, tier id) of each of its tier periods starting before ``end``, in
    order: of every customer of the organisation, or only of ``customers`` (ids) when given."""
    history: dict[int, list[tuple[date, int]]] = {}
    periods = CustomerTierPeriod.objects.filter(customer__organization=organization, effective_from__lt=end)
    if customers is not None:
        periods = periods.filter(customer_id__in=list(customers))
    for customer_id, tier_id, start in periods.order_by("customer_id", "effective_from").values_list(
        "customer_id", "tier_id", "effective_from"
    ):
        history.setdefault(customer_id, []).append((start, tier_id))
    return history


@dataclass(frozen=True)
class CustomerMonthBill:
    """A customer-month's bill (unrounded but ``revenue``): the prorated fees of its tier
    segments, the overage of its last tier on the credits above the prorated included ones,
    the payment fees of both, and revenue = fee + overage - fees (to the cent)."""

    fee: Decimal
    overage_credits: Decimal
    overage: Decimal
    fees: Decimal
    revenue: Decimal
    days: int
    paying: bool


def customer_month_bill(
    segments: Sequence[tuple[int, int]], terms: Mapping[int, TierTerms], credits: Decimal, month_days: Decimal
) -> CustomerMonthBill:
    """Bill ``credits`` over ``segments`` ((tier id, days) of the month, in order) under
    ``terms`` (by tier id): the one billing rule of the actuals report and of replays."""
    zero = Decimal(0)
    last = terms[segments[-1][0]] if segments else None
    fee = fees = zero
    included: Decimal | None = zero
    days = 0
    for tier_id, segment_days in segments:
        segment = terms[tier_id]
        days += segment_days
        if segment_days == month_days:
            share_fee, share_fixed, share_included = segment.fee, segment.fee_fixed, segment.included
        else:
            share = segment_days / month_days
            share_fee, share_fixed = segment.fee * share, segment.fee_fixed * share
            share_included = None if segment.included is None else segment.included * share
        fee += share_fee
        fees += share_fee * segment.fee_pct + share_fixed
        included = None if included is None or share_included is None else included + share_included
    overage_credits = overage = zero
    if last is not None and included is not None and credits > included:
        overage_credits = credits - included
        overage = overage_credits * last.overage_price
        fees += overage * last.fee_pct
    return CustomerMonthBill(
        fee=fee,
        overage_credits=overage_credits,
        overage=overage,
        fees=fees,
        revenue=(fee + overage - fees).quantize(MONEY),
        days=days,
        paying=last is not None and last.paying,
    )


def _live_terms(organization: Organization) -> dict[int, TierTerms]:
    """The terms of the organisation's live tiers, by tier id."""
    tiers = Tier.objects.filter(product__organization=organization, scenario__isnull=True)
    return {t.pk: tier_terms(t) for t in tiers}


#: A rollup row as the margin reports read it: customer id, external id, requests, credits, cost.
MonthRow = tuple[int, str, int, Decimal, Decimal]
MONTH_ROW_FIELDS = ("customer_id", "customer__external_id", "requests", "credits", "cost")


def _customer_margin(
    row: MonthRow, segments: list[tuple[int, int]], terms: Mapping[int, TierTerms], month_days: Decimal
) -> CustomerMargin:
    """The report's row for one customer-month: ``customer_month_bill`` of its credits over its
    tier segments, COGS from the rollup's cost."""
    customer_id, external_id, requests, credits, cost = row
    last = terms[segments[-1][0]] if segments else None
    bill = customer_month_bill(segments, terms, credits, month_days)
    cogs = cost.quantize(MONEY)
    margin = bill.revenue - cogs
    return CustomerMargin(
        customer_id=customer_id,
        external_id=external_id,
        tier_id=last.tier.pk if last else None,
        tier_name=last.tier.name if last else "",
        billed_days=bill.days,
        requests=requests,
        credits=credits,
        fee_revenue=bill.fee.quantize(MONEY),
        overage_credits=bill.overage_credits,
        overage_revenue=bill.overage.quantize(MONEY),
        payment_fees=bill.fees.quantize(MONEY),
        revenue=bill.revenue,
        cogs=cogs,
        margin=margin,
        paying=bill.paying,
        underwater=bill.paying and margin < 0,
    )


def customer_margins_for_customers(
    *, organization: Organization, period: date, customer_ids: Sequence[int], folded: bool = False
) -> list[CustomerMargin]:
    """The rows of ``customer_margins_for_period`` for just ``customer_ids``, billed by the same
    rule, in the order of ``customer_ids``; ids that are not the organisation's customers with
    usage in the month are left out. Three queries whatever the organisation's size (live
    tiers, these customers' tier periods, their rollup rows) after the fold's check (skipped
    when the caller has just ``folded`` the rollup journal); none for no ids."""
    if not customer_ids:
        return []
    period = month_start(period)
    end = next_month(period)
    month_days = Decimal((end - period).days)
    terms = _live_terms(organization)
    history = tier_history(organization, end, customer_ids)
    rows = {
        row[0]: row
        for row in customer_months(organization_id=organization.pk, folded=folded)
        .filter(period=period, customer_id__in=list(customer_ids))
        .values_list(*MONTH_ROW_FIELDS)
    }
    return [
        _customer_margin(rows[pk], tier_segments(history.get(pk, []), period, end), terms, month_days)
        for pk in customer_ids
        if pk in rows
    ]


def customer_margins_for_period(
    *,
    organization: Organization,
    period: date,
    tier: int | None = None,
    underwater: bool | None = None,
    order: str = "margin",
) -> list[CustomerMargin]:
    """Margin of every customer with usage in the month ``period`` (any day of it), optionally
    only those whose end-of-month tier is ``tier`` (a Tier id) and whose ``underwater`` flag
    matches; sorted by ``order`` (one of ``ORDERINGS``, ties by customer id)."""
    if order not in ORDERINGS:
        raise ValueError(f"order must be one of {', '.join(ORDERINGS)}")
    period = month_start(period)
    end = next_month(period)
    month_days = Decimal((end - period).days)
    terms = _live_terms(organization)
    history = tier_history(organization, end)
    rows = (
        customer_months(organization_id=organization.pk).filter(period=period).values_list(*MONTH_ROW_FIELDS)
    )
    result: list[CustomerMargin] = []
    for row in rows.iterator(chunk_size=10_000):
        segments = tier_segments(history.get(row[0], []), period, end)
        if tier is not None and (not segments or segments[-1][0] != tier):
            continue
        customer = _customer_margin(row, segments, terms, month_days)
        if underwater is None or customer.underwater == underwater:
            result.append(customer)
    key = order.lstrip("-")
    if key == "customer":
        result.sort(key=lambda row: row.external_id, reverse=order.startswith("-"))
    else:
        result.sort(key=lambda row: row.customer_id)
        result.sort(key=lambda row: getattr(row, key), reverse=order.startswith("-"))
    return result


@dataclass(frozen=True)
class TierMargin:
    """A tier's month: totals over its customers (by end-of-month tier)."""

    tier_id: int | None
    tier_name: str
    paying: bool
    customers: int
    revenue: Decimal
    cogs: Decimal
    margin: Decimal
    margin_share: float | None  # margin / revenue; None without revenue
    cogs_per_customer: Decimal
    underwater_customers: int
    underwater_share: float
    underwater_loss: Decimal  # sum of the negative margins, as a positive amount


def tier_margins_for_period(*, organization: Organization, period: date) -> list[TierMargin]:
    """Per-tier summary of ``customer_margins_for_period``, tiers in display order (customers
    without a tier last). Free tiers report COGS per customer as acquisition cost."""
    rows = customer_margins_for_period(organization=organization, period=period)
    groups: dict[int | None, list[CustomerMargin]] = {}
    for row in rows:
        groups.setdefault(row.tier_id, []).append(row)
    tiers = {t.pk: t for t in Tier.objects.filter(pk__in=[k for k in groups if k is not None])}
    ordered = sorted(
        groups, key=lambda k: (k is None, (tiers[k].product_id, tiers[k].position, k) if k else ())
    )
    summary = []
    for tier_id in ordered:
        members = groups[tier_id]
        revenue = sum((r.revenue for r in members), Decimal(0))
        cogs = sum((r.cogs for r in members), Decimal(0))
        margin = revenue - cogs
        under = [r for r in members if r.underwater]
        summary.append(
            TierMargin(
                tier_id=tier_id,
                tier_name=members[0].tier_name,
                paying=members[0].paying,
                customers=len(members),
                revenue=revenue,
                cogs=cogs,
                margin=margin,
                margin_share=float(margin / revenue) if revenue else None,
                cogs_per_customer=(cogs / len(members)).quantize(MONEY),
                underwater_customers=len(under),
                underwater_share=len(under) / len(members),
                underwater_loss=-sum((r.margin for r in under), Decimal(0)),
            )
        )
    return summary


@dataclass(frozen=True)
class FittedUsage:
    """A fitted distribution of monthly requests for one tier and workload."""

    tier_id: int
    tier_name: str
    workload_id: int
    workload_name: str
    fit: GammaPoissonFit


@dataclass(frozen=True)
class _TierMonths:
    """A tier's customer-months in a range: one row per customer-month, one request count per
    workload of the tier's product (``workloads``, in display order)."""

    tier: Tier
    workloads: list[Workload]
    rows: list[list[int]]


def _tier_months(*, organization: Organization, period_range: tuple[date, date]) -> list[_TierMonths]:
    """The observations of ``usage_distributions_fitted`` and ``usage_segments_proposed``, per
    tier reached (by position, then id). Raises ValueError when the range ends before it starts."""
    first, last = (month_start(day) for day in period_range)
    if last < first:
        raise ValueError("The range ends before it starts.")
    end = next_month(last)
    history = tier_history(organization, end)
    counts: dict[tuple[int, int, date], int] = {
        (customer_id, workload_id, period): total
        for customer_id, workload_id, period, total in UsageRecord.objects.filter(
            organization=organization, period__gte=first, period__lt=end, workload__isnull=False
        )
        .values("customer_id", "workload_id", "period")
        .annotate(total=Sum("requests"))
        .values_list("customer_id", "workload_id", "period", "total")
    }
    tiers = {t.pk: t for t in Tier.objects.filter(product__organization=organization, scenario__isnull=True)}
    workloads: dict[int, list[Workload]] = {}
    for workload in Workload.objects.filter(product__organization=organization).order_by("position", "pk"):
        workloads.setdefault(workload.product_id, []).append(workload)
    months: dict[int, _TierMonths] = {}
    for customer_id, period in (
        customer_months(organization_id=organization.pk)
        .filter(period__gte=first, period__lt=end)
        .values_list("customer_id", "period")
    ):
        starts = [item for item in history.get(customer_id, []) if item[0] < next_month(period)]
        if not starts:
            continue
        tier = tiers[starts[-1][1]]
        if tier.pk not in months:
            months[tier.pk] = _TierMonths(tier, workloads.get(tier.product_id, []), [])
        group = months[tier.pk]
        group.rows.append([counts.get((customer_id, w.pk, period), 0) for w in group.workloads])
    return sorted(months.values(), key=lambda group: (group.tier.position, group.tier.pk))


def usage_distributions_fitted(
    *, organization: Organization, period_range: tuple[date, date]
) -> list[FittedUsage]:
    """Gamma-Poisson fits of monthly requests per customer, for each tier x workload (by tier
    position, tier id, workload id).

    Observations are customer-months in the inclusive month range with any usage (a rollup
    row), grouped by the end-of-month tier; each workload of that tier's product contributes the
    customer's requests of that workload that month (0 when none). Records that name only a model
    belong to no workload and are not counted. Pairs with fewer than 2 observations are skipped.
    """
    return _fits(_tier_months(organization=organization, period_range=period_range))


def _fits(groups: Iterable[_TierMonths]) -> list[FittedUsage]:
    result = []
    for group in groups:
        if len(group.rows) < 2:
            continue
        for column, workload in sorted(enumerate(group.workloads), key=lambda item: item[1].pk):
            result.append(
                FittedUsage(
                    tier_id=group.tier.pk,
                    tier_name=group.tier.name,
                    workload_id=workload.pk,
                    workload_name=workload.name,
                    fit=gamma_poisson_fit([row[column] for row in group.rows]),
                )
            )
    return result


#: Fewer customer-months than this in a tier: no segments are proposed for it.
MIN_SEGMENT_OBSERVATIONS = 20


@dataclass(frozen=True)
class ProposedSegments:
    """Two user segments proposed for a tier; the fits' means and shapes follow ``workload_ids``."""

    tier_id: int
    tier_name: str
    workload_ids: tuple[int, ...]
    workload_names: tuple[str, ...]
    proposal: SegmentProposal


def usage_segments_proposed(
    *, organization: Organization, period_range: tuple[date, date]
) -> list[ProposedSegments]:
    """Tiers (by position, then id) for which a joint latent-class fit over the tier's workloads
    proposes two segments: ``segments_proposed`` accepts the two-class fit when it lowers the BIC
    of the one-class fit by at least 10. Observations are those of ``usage_distributions_fitted``
    (customer-months by end-of-month tier, one request count per workload of the tier's product,
    in display order); tiers without a workload or with fewer than ``MIN_SEGMENT_OBSERVATIONS``
    (20) customer-months are skipped.
    """
    return _proposals(_tier_months(organization=organization, period_range=period_range))


def _proposals(groups: Iterable[_TierMonths]) -> list[ProposedSegments]:
    result = []
    for group in groups:
        if not group.workloads or len(group.rows) < MIN_SEGMENT_OBSERVATIONS:
            continue
        proposal = segments_proposed(group.rows)
        if proposal is not None:
            result.append(
                ProposedSegments(
                    tier_id=group.tier.pk,
                    tier_name=group.tier.name,
                    workload_ids=tuple(w.pk for w in group.workloads),
                    workload_names=tuple(w.name for w in group.workloads),
                    proposal=proposal,
                )
            )
    return result


def usage_fits_and_proposals(
    *, organization: Organization, period_range: tuple[date, date]
) -> tuple[list[FittedUsage], list[ProposedSegments]]:
    """``usage_distributions_fitted`` and ``usage_segments_proposed`` from one read of the
    customer-months (the actuals page shows both)."""
    groups = list(_tier_months(organization=organization, period_range=period_range))
    return _fits(groups), _proposals(groups)


def usage_periods(*, organization: Organization) -> list[date]:
    """The months (first days, newest first) in which the organisation has usage.

    One query that seeks the rollup's (organization, period) index once per month (a recursive
    ``MAX`` below the previous month: a loose index scan), rather than a DISTINCT over every
    customer-month, which takes 26 ms at 200,000 customer-months on PostgreSQL and grows with
    them (docs/BENCHMARKS.md, "Actuals customer list (issue 15)")."""
    customer_months_fold(organization_id=organization.pk)
    table = connection.ops.quote_name(CustomerMonth._meta.db_table)
    sql = f"""WITH RECURSIVE months (period) AS (
            SELECT MAX(period) FROM {table} WHERE organization_id = %s
            UNION ALL
            SELECT (SELECT MAX(period) FROM {table} WHERE organization_id = %s AND period < months.period)
            FROM months WHERE months.period IS NOT NULL
        )
        SELECT period FROM months WHERE period IS NOT NULL ORDER BY period DESC"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization.pk, organization.pk])
        # SQLite answers ISO text (the column's type is lost in the CTE), PostgreSQL dates.
        return [value if isinstance(value, date) else date.fromisoformat(value) for (value,) in cursor]


def models_to_reprice(*, changes: Mapping[int, datetime | None]) -> dict[int, datetime | None]:
    """The part of ``changes`` (model id -> earliest changed instant) that has usage records
    stamped at or after that instant: one grouped query, whatever the number of models."""
    latest = dict(
        UsageRecord.objects.filter(model_id__in=list(changes))
        .values("model_id")
        .annotate(latest=Max("timestamp"))
        .values_list("model_id", "latest")
    )
    return {
        model_id: since
        for model_id, since in changes.items()
        if model_id in latest and (since is None or latest[model_id] >= since)
    }
