"""Replay: re-rate past months of actual usage under a plan (issue 15, items 1-2; docs/ACTUALS.md
"Replay").

``replay_period`` re-rates the usage records of the months [period_from, period_to] under a
scenario's plan (each customer moved from its live tier to the scenario tier standing for it,
``Tier.live_tier``; customers on unmapped tiers stay where they are and are listed) or under the
live plan (``scenario=None``: the replay then reproduces the actuals report). Contracts:

- **Costs** go through the one price resolution (``pricing.resolve.PriceResolver`` under
  ``CATALOG_PRICES``, ingestion's rule) and the one cost calculator
  (``planner.actuals.pricing.cost_units``), at each record's timestamp or at ``price_date``.
  Records of models whose prices are linear (no context-length tier, no time-of-day window) are
  re-rated from token sums per (customer, month, model, variant, workload, stored row); a sum
  is priced in one piece only when the resolution gives its stored row at its first and last
  timestamp, else that model is re-rated record by record, as are tiered and windowed models.
- **Cost levers by expectation** (no random draws), per record in the lever's workloads (all
  when it names none; later levers override earlier ones field by field): distillation d keeps
  (1 - d) of the input (cache reads and writes alike); batch share b prices b of a standard
  record at the model's batch variant (the standard price when it has none: noted); routing
  share s costs ``(1 - s) cost_A + s cost_B`` at the same tokens (B the routing model, standard
  variant, same batch share; records of B itself unchanged); response-cache hit rate h
  multiplies the cost by (1 - h). Credits never change with cost levers.
- **Plan levers** (fee, fee_scale, included_credits, overage_price, hard_cap) change the
  scenario tiers they name (all when none), as the engine does (``adapter.plan_changes``).
- **Cap** (scenario tiers only; the live plan's usage was served under it): the end-of-month
  tier's effective cap (hard cap, or the quota when there is no overage price). A customer-month
  whose credits exceed it has every record scaled by cap / credits (credits and cost).
- **Billing** follows ``planner.actuals.selectors.customer_margins_for_period`` line for line
  (proration, included credits, overage at the end-of-month tier, payment fees, free tiers),
  with the replayed tier terms. The replay never calls that selector: both sides are billed
  here, the actual side from the rollup's credits and cost with the live terms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from django.db.models import Count, Max, Min, Sum

from planner.accounts.models import Organization
from planner.actuals.models import USAGE_TOKEN_FIELDS, CustomerMonth, UsageRecord
from planner.actuals.pricing import IntArray, TokenColumns, cost_units
from planner.actuals.replay_stats import (
    CustomerMonthReplay,
    ReplayResult,
    Side,
    groups_summed,
)
from planner.actuals.selectors import (
    MONEY,
    CustomerMonthBill,
    TierTerms,
    customer_month_bill,
    next_month,
    tier_history,
    tier_segments,
    tier_terms,
)
from planner.products.models import Product, Tier
from planner.products.models.tiers import effective_cap, monthly_revenue
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from planner.simulation.snapshot import BATCH_VARIANT
from pricing.calculator import schedule_for
from pricing.models import ModelPrice
from pricing.resolve import CATALOG_PRICES, PriceResolver, epoch_us, price_instant

FloatArray = npt.NDArray[np.float64]
ZERO = Decimal(0)

# --- The plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlanTier:
    """What a live tier becomes in the replayed plan."""

    terms: TierTerms
    cap: float | None
    tier_id: int
    name: str
    mapped: bool


def _with_levers(tier: Tier, levers: Sequence[Mapping[str, Any]]) -> _PlanTier:
    """A scenario tier with the plan levers naming it (or naming no tier) applied in order."""
    terms = tier_terms(tier)
    fee, included, overage = terms.fee, tier.included_credits, tier.overage_price_per_credit
    hard_cap = tier.hard_cap_credits
    for lever in levers:
        if lever.get("tiers") and tier.pk not in lever["tiers"]:
            continue
        if lever.get("fee") is not None:
            fee = monthly_revenue(tier.billing_field, Decimal(str(lever["fee"])), seats=tier.seats)
        if lever.get("fee_scale") is not None:
            fee = fee * Decimal(str(lever["fee_scale"]))
        if lever.get("included_credits") is not None:
            included = float(lever["included_credits"])
        if lever.get("overage_price") is not None:
            overage = Decimal(str(lever["overage_price"]))
        if lever.get("hard_cap") is not None:
            hard_cap = float(lever["hard_cap"])
    terms = dataclasses.replace(
        terms,
        fee=fee,
        included=None if included is None else Decimal(repr(included)),
        overage_price=overage or ZERO,
        paying=fee > 0,
    )
    return _PlanTier(
        terms,
        effective_cap(included=included, overage_price=overage, hard_cap=hard_cap),
        tier.pk,
        tier.name,
        True,
    )


def _plan(
    organization: Organization, scenario: Scenario | None
) -> tuple[dict[int, TierTerms], dict[int, _PlanTier]]:
    """Live terms by live tier id, and what each live tier becomes in the replayed plan."""
    live = {t.pk: t for t in Tier.objects.filter(product__organization=organization, scenario__isnull=True)}
    live_terms = {pk: tier_terms(t) for pk, t in live.items()}
    plan = {pk: _PlanTier(live_terms[pk], None, pk, t.name, False) for pk, t in live.items()}
    if scenario is not None:
        for tier in scenario_tiers(scenario):
            if tier.live_tier_id in live:
                plan[tier.live_tier_id] = _with_levers(tier, scenario.levers)
    return live_terms, plan


# --- Costs ------------------------------------------------------------------------------------------


@dataclass
class _Items:
    """Priced units: single records or token sums; ``cm`` indexes the customer-month."""

    cm: list[int] = field(default_factory=list)
    model: list[int] = field(default_factory=list)
    variant: list[str] = field(default_factory=list)
    workload: list[int] = field(default_factory=list)
    moment: list[datetime] = field(default_factory=list)
    tokens: list[list[int]] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)


_SUMS = {f"s_{name}": Sum(name) for name in (*USAGE_TOKEN_FIELDS, "requests")}


def _nonlinear_models(model_ids: set[int]) -> set[int]:
    """Models with a context-length tier or a time-of-day window in any price row."""
    return {
        row.model_id
        for row in ModelPrice.objects.filter(model_id__in=model_ids)
        if row.start_time is not None or schedule_for(row).has_tiers
    }


def _load_items(
    records: Any, index: Mapping[tuple[int, date], int], per_record: set[int], resolver: PriceResolver
) -> tuple[_Items, set[int]]:
    """Token sums per (customer, month, model, variant, workload, stored row) of the linear
    models, whole records of ``per_record`` models. Returns the items and the models whose sums
    straddle a price change (to be re-read record by record)."""
    items, straddling = _Items(), set()
    grouped = (
        records.exclude(model_id__in=per_record)
        .values("customer_id", "period", "model_id", "price__variant", "workload_id", "price_id")
        .annotate(n=Count("pk"), first=Min("timestamp"), last=Max("timestamp"), **_SUMS)
        .order_by()
    )
    rows = list(grouped)
    keys = [(r["model_id"], r["price__variant"]) for r in rows]
    firsts = resolver.rows_at(keys, [r["first"] for r in rows], _micros([r["first"] for r in rows]))
    lasts = resolver.rows_at(keys, [r["last"] for r in rows], _micros([r["last"] for r in rows]))
    for row, first, last in zip(rows, firsts, lasts, strict=True):
        if first is None or last is None or not first.pk == last.pk == row["price_id"]:
            straddling.add(row["model_id"])
    for row in rows:
        if row["model_id"] not in straddling:
            _add(
                items,
                index,
                row,
                row["first"],
                [row[f"s_{n}"] for n in USAGE_TOKEN_FIELDS],
                row["s_requests"],
            )
    fields = ("customer_id", "period", "model_id", "price__variant", "workload_id", "timestamp", "requests")
    for values in records.filter(model_id__in=per_record | straddling).values(*fields, *USAGE_TOKEN_FIELDS):
        row = {**values, "first": values["timestamp"]}
        _add(
            items,
            index,
            row,
            values["timestamp"],
            [values[n] for n in USAGE_TOKEN_FIELDS],
            values["requests"],
        )
    return items, straddling


def _add(
    items: _Items,
    index: Mapping[tuple[int, date], int],
    row: Mapping[str, Any],
    moment: datetime,
    tokens: list[int],
    requests: int,
) -> None:
    items.cm.append(index[(row["customer_id"], row["period"])])
    items.model.append(row["model_id"])
    items.variant.append(row["price__variant"])
    items.workload.append(-1 if row["workload_id"] is None else row["workload_id"])
    items.moment.append(moment)
    items.tokens.append(tokens)
    items.requests.append(requests)


def _micros(moments: Sequence[datetime]) -> IntArray:
    """Epoch microseconds of ``moments``."""
    return np.fromiter((epoch_us(m) for m in moments), dtype=np.int64, count=len(moments))


@dataclass(frozen=True)
class _Levers:
    """Per-item cost lever values (arrays aligned with the items)."""

    distillation: FloatArray
    batch: FloatArray
    cache: FloatArray
    routing_share: FloatArray
    routing_model: IntArray


def _cost_levers(levers: Sequence[Mapping[str, Any]], workloads: IntArray) -> _Levers:
    """Each item's lever values: a lever applies to the items of its workloads (all when it
    names none; items without a workload only then); later levers override earlier ones."""
    n = workloads.size
    values = {
        name: np.zeros(n)
        for name in ("distillation", "batch_share", "response_cache_hit_rate", "routing_share")
    }
    routing = np.full(n, -1, dtype=np.int64)
    for lever in levers:
        scope = np.isin(workloads, lever["workloads"]) if lever.get("workloads") else np.ones(n, dtype=bool)
        for name, column in values.items():
            if lever.get(name) is not None:
                column[scope] = float(lever[name])
        if lever.get("routing_model") is not None:
            routing[scope] = int(lever["routing_model"])
    values["routing_share"][routing < 0] = 0.0
    return _Levers(
        values["distillation"],
        values["batch_share"],
        values["response_cache_hit_rate"],
        values["routing_share"],
        routing,
    )


class _Pricer:
    """Prices items at (model, variant) through the one resolution and ``cost_units``."""

    def __init__(self, resolver: PriceResolver, moments: list[datetime], notes: list[str]) -> None:
        self.resolver, self.moments, self.notes = resolver, moments, notes
        self.micros = _micros(moments)

    def units(
        self,
        take: npt.NDArray[np.intp],
        models: Sequence[int],
        variants: Sequence[str],
        tokens: FloatArray,
        requests: IntArray,
    ) -> FloatArray:
        """Cost in 1e-10 units of items ``take`` priced at ``models``/``variants`` (aligned
        with ``take``) with their (possibly distilled, float) ``tokens``."""
        if take.size == 0:
            return np.zeros(0)
        moments = [self.moments[i] for i in take.tolist()]
        rows = self.resolver.rows_at(list(zip(models, variants, strict=True)), moments, self.micros[take])
        missing = sorted({(m, v) for m, v, r in zip(models, variants, rows, strict=True) if r is None})
        if missing:
            raise ValueError(f"No catalog price for (model id, variant) {missing} at some replayed instants.")
        # Distilled counts are floats: cost_units does float arithmetic on them all the same.
        counts = [cast(IntArray, tokens[take, k]) for k in range(5)]
        columns = TokenColumns(counts[0], counts[1], counts[2], counts[3], counts[4], requests[take])
        return cost_units([r for r in rows if r is not None], columns)

    def with_batch(
        self,
        take: npt.NDArray[np.intp],
        model: IntArray,
        variant: list[str],
        share: FloatArray,
        tokens: FloatArray,
        requests: IntArray,
    ) -> FloatArray:
        """(1 - b) standard + b batch cost for standard items with a batch share b."""
        variants = [variant[i] for i in take.tolist()]
        cost = self.units(take, model[take].tolist(), variants, tokens, requests)
        batchable = np.array(
            [
                share[i] > 0 and variant[i] == "" and BATCH_VARIANT in self.resolver.variants(int(model[i]))
                for i in take.tolist()
            ],
            dtype=bool,
        )
        without = {
            int(model[i])
            for i, ok in zip(take.tolist(), batchable, strict=True)
            if share[i] > 0 and not ok and variant[i] == ""
        }
        for model_id in sorted(without):
            self.notes.append(
                f"Model {model_id} has no batch price: its batch share is priced at the standard price."
            )
        sub = take[batchable]
        if sub.size:
            batch_cost = self.units(sub, model[sub].tolist(), [BATCH_VARIANT] * sub.size, tokens, requests)
            b = share[sub]
            cost[batchable] = (1.0 - b) * cost[batchable] + b * batch_cost
        return cost


def _replayed_units(
    items: _Items,
    levers: Sequence[Mapping[str, Any]],
    resolver: PriceResolver,
    notes: list[str],
    price_at: datetime | None,
) -> FloatArray:
    """Each item's replayed cost in 1e-10 units with the cost levers applied by expectation."""
    n = len(items.cm)
    model = np.asarray(items.model, dtype=np.int64)
    lever = _cost_levers(levers, np.asarray(items.workload, dtype=np.int64))
    tokens = np.asarray(items.tokens, dtype=np.float64).reshape(n, 5)
    keep = 1.0 - lever.distillation
    for k in (0, 2, 3):  # input, cached, cache write
        tokens[:, k] *= keep
    requests = np.asarray(items.requests, dtype=np.int64)
    pricer = _Pricer(resolver, items.moment if price_at is None else [price_at] * n, notes)
    every = np.arange(n, dtype=np.intp)
    cost = pricer.with_batch(every, model, items.variant, lever.batch, tokens, requests)
    routed = np.flatnonzero((lever.routing_share > 0) & (lever.routing_model != model))
    if routed.size:
        target = lever.routing_model
        standard = [""] * n
        routed_cost = pricer.with_batch(routed, target, standard, lever.batch, tokens, requests)
        s = lever.routing_share[routed]
        cost[routed] = (1.0 - s) * cost[routed] + s * routed_cost
    return cost * (1.0 - lever.cache)


# --- The replay -------------------------------------------------------------------------------------


def _side(bill: CustomerMonthBill, tier: tuple[int | None, str], credits: Decimal, cogs: Decimal) -> Side:
    margin = bill.revenue - cogs
    return Side(
        tier_id=tier[0],
        tier_name=tier[1],
        credits=credits,
        revenue_gross=(bill.fee + bill.overage).quantize(MONEY),
        payment_fees=bill.fees.quantize(MONEY),
        revenue=bill.revenue,
        cogs=cogs,
        margin=margin,
        paying=bill.paying,
        underwater=bill.paying and margin < 0,
    )


def _flip(actual: Side, replayed: Side) -> str:
    if replayed.underwater and not actual.underwater:
        return "became_underwater"
    if actual.underwater and not replayed.underwater:
        return "stopped_underwater"
    return ""


def _months(period_from: date, period_to: date) -> list[date]:
    """Month starts from ``period_from``'s month to ``period_to``'s (ValueError if reversed)."""
    first, last = period_from.replace(day=1), period_to.replace(day=1)
    if last < first:
        raise ValueError("The range ends before it starts.")
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    return months


def replay_period(
    *,
    organization: Organization,
    scenario: Scenario | None = None,
    period_from: date,
    period_to: date,
    price_date: date | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    product: Product | None = None,
) -> ReplayResult:
    """Re-rate the organisation's usage of the months [period_from, period_to] under
    ``scenario``'s plan (None: the live plan) and compare with the actual months (module
    docstring for the rules); only the customers of ``product`` (those whose tier history holds
    one of its live tiers) when given. Raises ValueError for a scenario or product of another
    organisation, a range that ends before it starts or a record without a catalog price at its
    replay instant."""
    if scenario is not None and scenario.product.organization_id != organization.pk:
        raise ValueError("The scenario belongs to another organisation.")
    if product is not None and product.organization_id != organization.pk:
        raise ValueError("The product belongs to another organisation.")
    months = _months(period_from, period_to)
    end = next_month(months[-1])
    notes: list[str] = []
    live_terms, plan = _plan(organization, scenario)
    replayed_terms = {pk: p.terms for pk, p in plan.items()}
    history = tier_history(organization, end)
    month_rows = CustomerMonth.objects.filter(
        organization=organization, period__gte=months[0], period__lt=end
    )
    records = UsageRecord.objects.filter(organization=organization, period__gte=months[0], period__lt=end)
    if product is not None:
        own = set(Tier.objects.filter(product=product, scenario__isnull=True).values_list("pk", flat=True))
        customers = [c for c, starts in history.items() if any(tier in own for _, tier in starts)]
        month_rows = month_rows.filter(customer_id__in=customers)
        records = records.filter(customer_id__in=customers)
    cms = list(
        month_rows.order_by("period", "customer_id").values_list(
            "customer_id", "customer__external_id", "period", "credits", "cost"
        )
    )
    index = {(c[0], c[2]): i for i, c in enumerate(cms)}
    levers = list(scenario.levers) if scenario is not None else []
    model_ids = set(records.values_list("model_id", flat=True).distinct())
    routing = {
        int(lv["routing_model"]) for lv in levers if lv.get("routing_model") and lv.get("routing_share")
    }
    resolver = PriceResolver.load(model_ids=model_ids | routing, terms=CATALOG_PRICES)
    nonlinear = _nonlinear_models(model_ids | routing)
    per_record = set(model_ids) if routing & nonlinear else nonlinear
    items, straddling = _load_items(records, index, per_record, resolver)
    price_at = None if price_date is None else price_instant(price_date)
    units = _replayed_units(items, levers, resolver, notes, price_at)
    cost_units_cm = np.bincount(np.asarray(items.cm, dtype=np.intp), weights=units, minlength=len(cms))
    rows: list[CustomerMonthReplay] = []
    for i, (customer_id, external_id, period, credits, cost) in enumerate(cms):
        month_days = Decimal((next_month(period) - period).days)
        segments = tier_segments(history.get(customer_id, []), period, next_month(period))
        live_id = segments[-1][0] if segments else None
        target = plan[live_id] if live_id is not None else None
        replayed_credits, fraction = credits, 1.0
        if (
            target is not None
            and target.mapped
            and target.cap is not None
            and credits > Decimal(repr(target.cap))
        ):
            replayed_credits = Decimal(repr(target.cap))
            fraction = float(replayed_credits / credits)
        replayed_cogs = (Decimal(int(np.rint(cost_units_cm[i] * fraction))).scaleb(-10)).quantize(MONEY)
        actual_tier = (live_id, live_terms[live_id].tier.name) if live_id is not None else (None, "")
        replayed_tier = (target.tier_id, target.name) if target is not None else (None, "")
        actual = _side(
            customer_month_bill(segments, live_terms, credits, month_days),
            actual_tier,
            credits,
            cost.quantize(MONEY),
        )
        replayed = _side(
            customer_month_bill(segments, replayed_terms, replayed_credits, month_days),
            replayed_tier,
            replayed_credits,
            replayed_cogs,
        )
        rows.append(
            CustomerMonthReplay(
                customer_id, external_id, period, actual, replayed, fraction < 1.0, _flip(actual, replayed)
            )
        )
    unmapped = _unmapped(rows, plan) if scenario is not None else []
    notes.extend(_lever_notes(levers, scenario, unmapped, straddling, price_date))
    tiers, total = groups_summed(rows, {pk: t.tier for pk, t in live_terms.items()}, bootstrap, seed)
    cut = sorted({row.external_id for row in rows if row.cut})
    if cut:
        notes.append(f"{len(cut)} customer(s) cut by the replayed cap (credits and cost scaled to the cap).")
    return ReplayResult(
        organization=organization.slug,
        scenario_id=None if scenario is None else scenario.pk,
        period_from=months[0],
        period_to=months[-1],
        price_date=price_date,
        bootstrap=bootstrap,
        seed=seed,
        customer_months=rows,
        tiers=tiers,
        total=total,
        unmapped_tiers=unmapped,
        customers_cut=cut,
        notes=notes,
    )


def _unmapped(rows: Sequence[CustomerMonthReplay], plan: Mapping[int, _PlanTier]) -> list[dict[str, Any]]:
    """Live tiers with customers in the range that the scenario maps to no tier of its own."""
    customers: dict[int, set[int]] = {}
    for row in rows:
        tier_id = row.actual.tier_id
        if tier_id is not None and not plan[tier_id].mapped:
            customers.setdefault(tier_id, set()).add(row.customer_id)
    return [
        {"tier": pk, "tier_name": plan[pk].name, "customers": len(ids)}
        for pk, ids in sorted(customers.items())
    ]


def _lever_notes(
    levers: Sequence[Mapping[str, Any]],
    scenario: Scenario | None,
    unmapped: Sequence[Mapping[str, Any]],
    straddling: set[int],
    price_date: date | None,
) -> list[str]:
    """Human-readable notes on how the plan and levers were applied."""
    notes = []
    if scenario is None:
        notes.append("Live plan: no tier moved, no cap applied (the usage was served under it).")
    for tier in unmapped:
        notes.append(
            f"Tier '{tier['tier_name']}' has no stand-in in the scenario: "
            f"its {tier['customers']} customer(s) stay on it."
        )
    for lever in levers:
        parts = []
        if lever.get("routing_model") and lever.get("routing_share"):
            parts.append(
                f"routing share {lever['routing_share']}: cost = (1 - s) x own model"
                f" + s x model {lever['routing_model']} at the same tokens"
            )
        if lever.get("response_cache_hit_rate"):
            parts.append(
                f"response cache {lever['response_cache_hit_rate']}: cost x (1 - h), credits unchanged"
            )
        if lever.get("distillation"):
            parts.append(f"distillation {lever['distillation']}: that share of input tokens removed")
        if lever.get("batch_share"):
            parts.append(f"batch share {lever['batch_share']}: priced at the batch variant")
        if lever.get("prompt_cache_share") is not None:
            parts.append("prompt cache share not applied (the records carry their own cached tokens)")
        plan_fields = [
            n
            for n in ("fee", "fee_scale", "included_credits", "overage_price", "hard_cap")
            if lever.get(n) is not None
        ]
        if plan_fields:
            parts.append(f"plan fields {', '.join(plan_fields)} set on its tiers")
        if parts:
            scope = f"workloads {lever['workloads']}" if lever.get("workloads") else "all workloads"
            notes.append(
                f"Lever '{lever.get('label', lever.get('key'))}' ({scope}), by expectation: "
                + "; ".join(parts)
                + "."
            )
    if straddling:
        notes.append(
            f"Models {sorted(straddling)} re-rated record by record (a price change inside a month's sums)."
        )
    if price_date is not None:
        notes.append(f"Every record priced at {price_date.isoformat()} (noon UTC).")
    return notes
