"""Replay: re-rate past months of actual usage under a plan (issue 15; docs/ACTUALS.md "Replay").

``replay_period`` re-rates the usage records of the months [period_from, period_to] under a
scenario's plan (each customer moved from its live tier to the scenario tier standing for it,
``Tier.live_tier``; customers on unmapped tiers stay where they are and are listed) or under the
live plan (``scenario=None``: the replay then reproduces the actuals report), in one process,
over the customers of the scenario's (or the given) product: those whose tier history holds
one of its live tiers.
A replay job (``planner.actuals.replay_jobs``) computes the same rows block by block
(``replay_rows`` over a range of customers) and sums them with the same ``replay_summary``.
Contracts:

- **The plan** is read once (``planner.actuals.replay_plan.plan_load``): plan levers (fee,
  fee_scale, included_credits, overage_price, hard_cap) change the scenario tiers they name (all
  when none), as the engine does; a price sheet's discounts apply to every record.
- **Costs** (``planner.actuals.replay_costs``): through the one price resolution and the one
  cost calculator, at each record's timestamp or at ``price_date`` (noon UTC), cost levers by
  expectation. Credits never change with cost levers.
- **Cap** (scenario tiers only; the live plan's usage was served under it): the end-of-month
  tier's effective cap (hard cap, or the quota when there is no overage price). A customer-month
  whose credits exceed it has every record scaled by cap / credits (credits and cost): the
  engine's rule, credits consumed in proportion across workloads.
- **Billing** is ``planner.actuals.selectors.customer_month_bill``, the actuals report's one rule
  (proration, included credits, overage at the end-of-month tier, payment fees, free tiers), with
  the replayed tier terms. The replay never calls the report's selector
  (``customer_margins_for_period``): both sides are billed here, the actual side from the
  rollup's credits and cost with the live terms.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from planner.accounts.models import Organization
from planner.actuals.models import UsageRecord
from planner.actuals.replay_costs import load_items, nonlinear_models, replayed_units, token_sums
from planner.actuals.replay_plan import ReplayPlan, plan_load
from planner.actuals.replay_stats import (
    CustomerMonthReplay,
    ReplayPartial,
    ReplayResult,
    Side,
    groups_summed,
)
from planner.actuals.rollup import customer_months
from planner.actuals.selectors import (
    MONEY,
    CustomerMonthBill,
    customer_month_bill,
    next_month,
    tier_history,
    tier_segments,
)
from planner.prices.models import PriceSheet
from planner.products.models import Product, Tier
from planner.simulation.models import Scenario
from planner.simulation.snapshot import BATCH_VARIANT
from pricing.models import AIModel
from pricing.resolve import CATALOG_PRICES, PriceResolver, price_instant


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


def replay_months(period_from: date, period_to: date) -> list[date]:
    """Month starts from ``period_from``'s month to ``period_to``'s (ValueError if reversed)."""
    first, last = period_from.replace(day=1), period_to.replace(day=1)
    if last < first:
        raise ValueError("The range ends before it starts.")
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    return months


def product_live_tiers(product: Product) -> set[int]:
    """The ids of ``product``'s live tiers."""
    return set(Tier.objects.filter(product=product, scenario__isnull=True).values_list("pk", flat=True))


def replay_customers(
    organization: Organization,
    months: Sequence[date],
    product_tiers: Collection[int] | None = None,
    id_range: tuple[int, int] | None = None,
) -> list[int]:
    """Ids (ascending) of the customers with a month in ``months``; only those whose tier
    history holds one of ``product_tiers`` when given, and whose id is in ``id_range`` (first,
    last; inclusive) when given."""
    end = next_month(months[-1])
    month_rows = customer_months(organization_id=organization.pk).filter(
        period__gte=months[0], period__lt=end
    )
    if id_range is not None:
        month_rows = month_rows.filter(customer_id__gte=id_range[0], customer_id__lte=id_range[1])
    customers = list(month_rows.values_list("customer_id", flat=True).distinct().order_by("customer_id"))
    if product_tiers is None:
        return customers
    own = set(product_tiers)
    history = tier_history(organization, end, customers)
    return [c for c in customers if any(tier in own for _, tier in history.get(c, []))]


@dataclass(frozen=True)
class ReplayedRows:
    """A replay's customer-months over some customers, the notes of pricing them and the
    models re-rated record by record because a price changed inside a month's sums."""

    rows: list[CustomerMonthReplay]
    notes: list[str]
    straddling: set[int]


def _model_providers(model_ids: Collection[int]) -> dict[int, int]:
    return dict(AIModel.objects.filter(pk__in=list(model_ids)).values_list("pk", "provider_id"))


def _priced_elsewhere_moving(
    plan: ReplayPlan, resolver: PriceResolver, model_ids: set[int], routing: set[int], months: Sequence[date]
) -> set[int]:
    """Models whose price the levers use at a variant other than the records' stored one (the
    routing models' standard price, the batch variant when a lever sets a batch share) and that
    change that price inside the months (a day's margin either side for time zones): a token
    sum priced at its first instant would miss the change, so such replays go record by record."""
    start = datetime.combine(months[0], time.min, tzinfo=UTC) - timedelta(days=1)
    end = datetime.combine(next_month(months[-1]), time.min, tzinfo=UTC) + timedelta(days=1)
    keys = {(model, "") for model in routing}
    if any(lever.get("batch_share") for lever in plan.levers):
        keys |= {(model, BATCH_VARIANT) for model in model_ids | routing}
    return {
        model
        for model, variant in keys
        if resolver.changes_within(model_id=model, variant=variant, start=start, end=end)
    }


def replay_rows(
    organization: Organization,
    plan: ReplayPlan,
    months: Sequence[date],
    customers: Collection[int],
    price_date: date | None = None,
) -> ReplayedRows:
    """Re-rate the months ``months`` of ``customers`` (ids) under ``plan`` (module docstring)."""
    end = next_month(months[-1])
    ids = list(customers)
    notes: list[str] = []
    history = tier_history(organization, end, ids)
    cms = list(
        customer_months(organization_id=organization.pk)
        .filter(period__gte=months[0], period__lt=end, customer_id__in=ids)
        .order_by("period", "customer_id")
        .values_list("customer_id", "customer__external_id", "period", "credits", "cost")
    )
    records = UsageRecord.objects.filter(
        organization=organization, period__gte=months[0], period__lt=end, customer_id__in=ids
    )
    index = {(c[0], c[2]): i for i, c in enumerate(cms)}
    sums = token_sums(records)
    model_ids = {row["model_id"] for row in sums}
    routing = {
        int(lv["routing_model"]) for lv in plan.levers if lv.get("routing_model") and lv.get("routing_share")
    }
    resolver = PriceResolver.load(model_ids=model_ids | routing, terms=CATALOG_PRICES)
    nonlinear = nonlinear_models(model_ids | routing)
    moving = (
        set()
        if price_date is not None
        else _priced_elsewhere_moving(plan, resolver, model_ids, routing, months)
    )
    per_record = set(model_ids) if routing & nonlinear or moving else nonlinear
    if moving:
        notes.append(
            f"Every record re-rated one by one: model(s) {sorted(moving)}, priced here at a routed or batch "
            "price, change price inside the range."
        )
    items, straddling = load_items(sums, records, index, per_record, resolver)
    price_at = None if price_date is None else price_instant(price_date)
    discounts = plan.discount_rates(_model_providers(model_ids | routing))
    units = replayed_units(items, plan.levers, resolver, notes, price_at, discounts)
    cost_units_cm = np.bincount(np.asarray(items.cm, dtype=np.intp), weights=units, minlength=len(cms))
    rows = [
        _customer_month(plan, history.get(cm[0], []), cm, float(cost_units_cm[i])) for i, cm in enumerate(cms)
    ]
    return ReplayedRows(rows, list(dict.fromkeys(notes)), straddling)


def _customer_month(
    plan: ReplayPlan, starts: list[tuple[date, int]], cm: tuple[Any, ...], units: float
) -> CustomerMonthReplay:
    """One customer-month billed under the live and the replayed plan."""
    customer_id, external_id, period, credits, cost = cm
    month_days = Decimal((next_month(period) - period).days)
    segments = tier_segments(starts, period, next_month(period))
    live_id = segments[-1][0] if segments else None
    target = plan.plan[live_id] if live_id is not None else None
    replayed_credits, fraction = credits, 1.0
    if (
        target is not None
        and target.mapped
        and target.cap is not None
        and credits > Decimal(repr(target.cap))
    ):
        replayed_credits = Decimal(repr(target.cap))
        fraction = float(replayed_credits / credits)
    replayed_cogs = (Decimal(int(np.rint(units * fraction))).scaleb(-10)).quantize(MONEY)
    actual_tier = (live_id, plan.live[live_id].tier.name) if live_id is not None else (None, "")
    replayed_tier = (target.tier_id, target.name) if target is not None else (None, "")
    actual = _side(
        customer_month_bill(segments, plan.live, credits, month_days),
        actual_tier,
        credits,
        cost.quantize(MONEY),
    )
    replayed = _side(
        customer_month_bill(segments, plan.replayed_terms, replayed_credits, month_days),
        replayed_tier,
        replayed_credits,
        replayed_cogs,
    )
    return CustomerMonthReplay(
        customer_id, external_id, period, actual, replayed, fraction < 1.0, _flip(actual, replayed)
    )


def unmapped_tier_ids(plan: ReplayPlan, is_scenario: bool) -> set[int]:
    """Live tiers no tier of the replayed scenario stands for (none for the live plan)."""
    return {pk for pk, tier in plan.plan.items() if not tier.mapped} if is_scenario else set()


def replay_summary(
    *,
    organization: Organization,
    scenario_id: int | None,
    plan: ReplayPlan,
    months: Sequence[date],
    price_date: date | None,
    bootstrap: int,
    seed: int,
    partial: ReplayPartial,
    notes: Sequence[str],
    straddling: Collection[int],
    rows: list[CustomerMonthReplay] | None = None,
) -> ReplayResult:
    """Per-tier and total sums with their cluster-bootstrap intervals, unmapped tiers, cut
    customers and the notes of how the plan was applied, from the ``partial`` of every
    customer; ``rows``, the customer-months themselves, when the replay ran in this process."""
    unmapped = [
        {"tier": pk, "tier_name": plan.plan[pk].name, "customers": len(ids)}
        for pk, ids in sorted(partial.unmapped.items())
    ]
    notes = [*notes, *_lever_notes(plan, scenario_id is not None, unmapped, straddling, price_date)]
    tiers, total = groups_summed(partial, {pk: t.tier for pk, t in plan.live.items()}, bootstrap, seed)
    cut = len(partial.total.cut)
    if cut:
        notes.append(
            f"{cut} customer(s) cut by the replayed cap: served credits above it removed, "
            "credits and cost of every workload scaled by cap / credits (the engine's rule)."
        )
    return ReplayResult(
        organization=organization.slug,
        scenario_id=scenario_id,
        period_from=months[0],
        period_to=months[-1],
        price_date=price_date,
        bootstrap=bootstrap,
        seed=seed,
        customer_months=rows or [],
        tiers=tiers,
        total=total,
        unmapped_tiers=unmapped,
        customers_cut=sorted({row.external_id for row in rows or [] if row.cut}),
        notes=notes,
        price_sheet=plan.sheet,
        flipped_customers=len(partial.flipped),
        customers_cut_count=cut,
    )


def replay_period(
    *,
    organization: Organization,
    scenario: Scenario | None = None,
    period_from: date,
    period_to: date,
    price_date: date | None = None,
    price_sheet: PriceSheet | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    product: Product | None = None,
) -> ReplayResult:
    """Re-rate the organisation's usage of the months [period_from, period_to] under
    ``scenario``'s plan (None: the live plan) with ``price_sheet``'s discounts, and compare with
    the actual months (module docstring), in this process; only the customers of the scenario's
    product, or of ``product`` (those whose tier history holds one of its live tiers) when
    given, every customer with usage otherwise. Raises ValueError for a
    scenario, product or sheet of another organisation, a range that ends before it starts or a
    record without a catalog price at its replay instant."""
    if product is not None and product.organization_id != organization.pk:
        raise ValueError("The product belongs to another organisation.")
    months = replay_months(period_from, period_to)
    plan = plan_load(organization, scenario, price_sheet)
    owner = scenario.product if scenario is not None else product
    customers = replay_customers(organization, months, None if owner is None else product_live_tiers(owner))
    replayed = replay_rows(organization, plan, months, customers, price_date)
    return replay_summary(
        organization=organization,
        scenario_id=None if scenario is None else scenario.pk,
        plan=plan,
        months=months,
        price_date=price_date,
        bootstrap=bootstrap,
        seed=seed,
        partial=ReplayPartial.of(replayed.rows, unmapped_tier_ids(plan, scenario is not None)),
        notes=replayed.notes,
        straddling=replayed.straddling,
        rows=replayed.rows,
    )


def _lever_note(lever: Mapping[str, Any]) -> str:
    """How one lever was applied, or "" when it changes nothing a replay re-rates."""
    parts = []
    if lever.get("routing_model") and lever.get("routing_share"):
        parts.append(
            f"routing share {lever['routing_share']}: cost = (1 - s) x own model"
            f" + s x model {lever['routing_model']} at the same tokens"
        )
    if lever.get("response_cache_hit_rate"):
        parts.append(f"response cache {lever['response_cache_hit_rate']}: cost x (1 - h), credits unchanged")
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
    if not parts:
        return ""
    scope = f"workloads {lever['workloads']}" if lever.get("workloads") else "all workloads"
    return (
        f"Lever '{lever.get('label', lever.get('key'))}' ({scope}), by expectation: " + "; ".join(parts) + "."
    )


def _lever_notes(
    plan: ReplayPlan,
    is_scenario: bool,
    unmapped: Sequence[Mapping[str, Any]],
    straddling: Collection[int],
    price_date: date | None,
) -> list[str]:
    """Human-readable notes on how the plan, the levers and the prices were applied."""
    notes = []
    if not is_scenario:
        notes.append("Live plan: no tier moved, no cap applied (the usage was served under it).")
    for tier in unmapped:
        notes.append(
            f"Tier '{tier['tier_name']}' has no stand-in in the scenario: "
            f"its {tier['customers']} customer(s) stay on it."
        )
    notes.extend(note for note in map(_lever_note, plan.levers) if note)
    if straddling:
        notes.append(
            f"Models {sorted(straddling)} re-rated record by record (a price change inside a month's sums)."
        )
    if price_date is not None:
        notes.append(f"Every record priced at {price_date.isoformat()} (noon UTC).")
    if plan.sheet is not None:
        notes.append(
            f"Price sheet '{plan.sheet['name']}': its discounts applied to every record whatever its dates "
            "(private model entries price nothing here)."
        )
    return notes
