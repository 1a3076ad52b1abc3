"""Replay identities on one hand-built dataset (issue 15, "Done when"): the live plan at the
records' own prices reproduces the actuals report; a 50% sheet halves COGS and a 0% sheet
changes nothing; routing a whole workload to model B prices its records at B; +$10 on the mapped
tiers adds $10 x the prorated days; an unmapped tier's customers are kept and listed; a price
date prices every record at that date.

The dataset (organisation in New York time, May and June 2025): a free tier, Pro ($20, 2.9% +
$0.30), Metered ($31 with 100 credits, $0.05 overage, 10% + $0.31), Legacy ($15, 5% + $0.25); a
customer moving Pro -> Free on 20 May (19 / 31 and 12 / 31 of the month) and one Free -> Metered
on 16 June (half of June each, with overage); a record at 02:00 UTC on 1 June that belongs to May;
and o3's price cut moved back by a catalog import from 10 to 5 June, so the stored costs of the
records in between were re-priced before anything here reads them.

Tolerances come from the money quantum ``MONEY`` (1e-6, every reported figure is quantized to
it) or from float64's relative precision; none is a guess.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from planner.accounts.models import Organization
from planner.actuals import selectors
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod, UsageRecord
from planner.actuals.replay import replay_period
from planner.actuals.replay_costs import load_items, nonlinear_models, replayed_units, token_sums
from planner.actuals.replay_plan import plan_load
from planner.actuals.replay_stats import CustomerMonthReplay, ReplayResult
from planner.actuals.rollup import customer_months_fold
from planner.actuals.selectors import MONEY, CustomerMargin, customer_margins_for_period, next_month
from planner.actuals.services import customer_tier_change
from planner.actuals.tasks import usage_reprice_task
from planner.prices.models import PriceSheet
from planner.prices.sheets import price_sheet_create, price_sheet_entry_add
from planner.products.models import Product, Tier, Workload
from planner.products.selectors import live_tiers
from planner.products.services import tier_create, tier_delete, tier_update
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create
from pricing.calculator import request_cost, schedule_for
from pricing.catalog import catalog_import
from pricing.models import AIModel
from pricing.resolve import CATALOG_PRICES, PriceResolver, price_instant
from pricing.selectors import model_price_at
from tests.actuals.test_usage_ingest import _openai_with_o3_cut_on

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 7, 15, 12, tzinfo=UTC)
MAY, JUNE = date(2025, 5, 1), date(2025, 6, 1)
MONTHS = (MAY, JUNE)
#: o3's cut to 2 / 8 $/Mtok, published from 10 June, turns out to have applied from 5 June.
BACKDATED_CUT = date(2025, 6, 5)
#: A record's stored cost is quantized to this (``UsageRecord.cost``).
COST_QUANTUM = Decimal("1e-10")
#: The selectors that bill actual margins; a replay must call none of them.
ACTUAL_MARGIN_SELECTORS = (
    "customer_margins_for_period",
    "customer_margins_for_customers",
    "tier_margins_for_period",
)


@dataclass(frozen=True)
class Dataset:
    organization: Organization
    product: Product
    tiers: dict[str, Tier]
    workloads: dict[str, Workload]
    models: dict[str, AIModel]
    #: The actuals report of every month, computed before any replay, by (customer id, period).
    report: dict[tuple[int, date], CustomerMargin]


def _record(
    event_id: str, customer: str, tier: Tier, timestamp: str, model: str, workload: Workload, **usage: int
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer": customer,
        "tier": tier.pk,
        "timestamp": timestamp,
        "model": f"openai/{model}",
        "workload": workload.pk,
        **usage,
    }


def _records(tiers: dict[str, Tier], chat: Workload, agent: Workload) -> list[dict[str, Any]]:
    free, pro, metered, legacy = (tiers[n] for n in ("free", "pro", "metered", "legacy"))
    return [
        # Free all along; 02:00 UTC on 1 June is 31 May in New York: a May record.
        _record("f1", "free-1", free, "2025-05-10T15:00:00Z", "gpt-4o-mini", chat, input_tokens=90_000,
                output_tokens=9_000, credits=10),
        _record("f2", "free-1", free, "2025-06-01T02:00:00Z", "gpt-4o-mini", chat, input_tokens=50_000,
                cached_tokens=20_000, output_tokens=4_000, credits=8),
        _record("f3", "free-1", free, "2025-06-15T12:00:00Z", "gpt-4o-mini", chat, input_tokens=70_000,
                output_tokens=6_000, requests=3, credits=12),
        # Pro: o3 at its old price in May and before 5 June, at the cut (re-priced) from 5 June.
        _record("p1", "pro-1", pro, "2025-05-12T09:00:00Z", "o3", agent, input_tokens=400_000,
                cached_tokens=100_000, output_tokens=60_000, reasoning_tokens=20_000, credits=10),
        _record("p2", "pro-1", pro, "2025-05-20T09:00:00Z", "gpt-4o", chat, input_tokens=300_000,
                output_tokens=20_000, credits=1),
        _record("p3", "pro-1", pro, "2025-06-02T08:00:00Z", "gpt-4o-mini", chat, input_tokens=200_000,
                cached_tokens=50_000, output_tokens=30_000, credits=3),
        _record("p4", "pro-1", pro, "2025-06-03T08:00:00Z", "o3", agent, input_tokens=300_000,
                output_tokens=40_000, reasoning_tokens=25_000, credits=10),
        _record("p5", "pro-1", pro, "2025-06-07T08:00:00Z", "o3", agent, input_tokens=300_000,
                output_tokens=40_000, reasoning_tokens=25_000, credits=10),
        _record("p6", "pro-1", pro, "2025-06-12T08:00:00Z", "o3", agent, input_tokens=500_000,
                cached_tokens=200_000, output_tokens=50_000, reasoning_tokens=30_000, credits=10),
        _record("p7", "pro-1", pro, "2025-06-20T08:00:00Z", "gpt-4o-mini", chat, input_tokens=400_000,
                output_tokens=60_000, credits=4),
        # Pro, underwater in June: $32 of o3 at the old price against $19.12 of net revenue.
        _record("h1", "heavy-1", pro, "2025-05-06T10:00:00Z", "gpt-4o", agent, input_tokens=500_000,
                output_tokens=50_000, credits=10),
        _record("h2", "heavy-1", pro, "2025-06-02T10:00:00Z", "o3", agent, input_tokens=2_000_000,
                output_tokens=300_000, reasoning_tokens=200_000, credits=10),
        # Pro from 1 May, Free from 20 May (a tier change below).
        _record("d1", "down-1", pro, "2025-05-05T10:00:00Z", "gpt-4o", agent, input_tokens=200_000,
                output_tokens=10_000, credits=10),
        _record("d2", "down-1", pro, "2025-06-10T10:00:00Z", "gpt-4o-mini", chat, input_tokens=30_000,
                output_tokens=3_000, credits=5),
        # Free from 1 May, Metered from 16 June (below): 65 included credits in June, 120 used.
        _record("u1", "up-1", free, "2025-05-15T10:00:00Z", "gpt-4o-mini", chat, input_tokens=100_000,
                output_tokens=10_000, credits=20),
        _record("u2", "up-1", free, "2025-06-08T10:00:00Z", "gpt-4o", chat, input_tokens=250_000,
                output_tokens=25_000, credits=40),
        _record("u3", "up-1", free, "2025-06-25T10:00:00Z", "o3", agent, input_tokens=600_000,
                output_tokens=80_000, reasoning_tokens=50_000, credits=80),
        # Metered: 150 credits in May (50 of overage), 80 in June.
        _record("m1", "metered-1", metered, "2025-05-08T10:00:00Z", "gpt-4o", chat, input_tokens=800_000,
                cached_tokens=300_000, output_tokens=70_000, requests=5, credits=150),
        _record("m2", "metered-1", metered, "2025-06-18T10:00:00Z", "gpt-4o", agent, input_tokens=400_000,
                output_tokens=30_000, credits=80),
        # Legacy: a live tier the scenarios below give no stand-in.
        _record("l1", "legacy-1", legacy, "2025-05-22T10:00:00Z", "gpt-4o", chat, input_tokens=600_000,
                output_tokens=50_000, credits=30),
        _record("l2", "legacy-1", legacy, "2025-06-22T10:00:00Z", "o3", agent, input_tokens=900_000,
                output_tokens=100_000, reasoning_tokens=60_000, credits=30),
    ]  # fmt: skip


@pytest.fixture
def dataset(
    organization: Organization,
    product: Product,
    priced_models: dict[str, AIModel],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> Dataset:
    organization.time_zone = "America/New_York"
    organization.save()
    metered = tier_create(
        product=product,
        name="Metered",
        monthly_fee=Decimal("31"),
        included_credits=100.0,
        overage_price_per_credit=Decimal("0.05"),
        payment_fee_pct=Decimal("0.1"),
        payment_fee_fixed=Decimal("0.31"),
    )
    legacy = tier_create(
        product=product,
        name="Legacy",
        monthly_fee=Decimal("15"),
        payment_fee_pct=Decimal("0.05"),
        payment_fee_fixed=Decimal("0.25"),
    )
    tiers = {
        "free": live_tiers(product).get(name="Free"),
        "pro": live_tiers(product).get(name="Pro"),
        "metered": metered,
        "legacy": legacy,
    }
    workloads = {w.name: w for w in Workload.objects.filter(product=product)}
    usage_records_ingest(
        organization=organization, records=_records(tiers, workloads["Chat"], workloads["Agent"]), now=NOW
    )
    customers = {c.external_id: c for c in Customer.objects.filter(organization=organization)}
    customer_tier_change(customer=customers["down-1"], tier=tiers["free"], effective_from=date(2025, 5, 20))
    customer_tier_change(customer=customers["up-1"], tier=tiers["metered"], effective_from=date(2025, 6, 16))
    # The backdated cut arrives as a catalog import; its signal re-prices the usage (the worker's
    # part run inline), as in production.
    dear = UsageRecord.objects.get(event_id="p5").cost
    monkeypatch.setattr(usage_reprice_task, "delay", usage_reprice_task)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_import(providers=[_openai_with_o3_cut_on(BACKDATED_CUT)])
    repriced = UsageRecord.objects.select_related("price").get(event_id="p5")
    assert repriced.price.effective_from == datetime(2025, 6, 5, tzinfo=UTC) and repriced.cost < dear
    assert UsageRecord.objects.get(event_id="p4").cost == dear  # 3 June: still the old price
    report = {
        (row.customer_id, period): row
        for period in MONTHS
        for row in customer_margins_for_period(organization=organization, period=period)
    }
    return Dataset(organization, product, tiers, workloads, priced_models, report)


# --- Helpers ---------------------------------------------------------------------------------------


def _customer(external_id: str) -> int:
    return Customer.objects.get(external_id=external_id).pk


def _rows(result: ReplayResult) -> dict[tuple[int, date], CustomerMonthReplay]:
    rows = {(row.customer_id, row.period): row for row in result.customer_months}
    assert len(rows) == len(result.customer_months)
    return rows


def _replay(dataset: Dataset, scenario: Scenario | None = None, **options: Any) -> ReplayResult:
    return replay_period(
        organization=dataset.organization,
        scenario=scenario,
        period_from=MAY,
        period_to=JUNE,
        bootstrap=0,
        **options,
    )


def _days_on_tiers(customer_id: int, period: date) -> dict[int, int]:
    """Tier id -> days of ``period`` the customer spent on it, counted day by day from its tier
    periods (each runs until the next one starts)."""
    starts = list(
        CustomerTierPeriod.objects.filter(customer_id=customer_id)
        .order_by("effective_from")
        .values_list("effective_from", "tier_id")
    )
    days: dict[int, int] = {}
    day = period
    while day < next_month(period):
        on = [tier for start, tier in starts if start <= day]
        if on:
            days[on[-1]] = days.get(on[-1], 0) + 1
        day += timedelta(days=1)
    return days


def _record_cost(record: UsageRecord, model: AIModel, at: datetime) -> Decimal:
    """``record``'s tokens priced at ``model``'s catalog row in force at ``at`` with the scalar
    calculator, quantized as a stored cost (every model here is linear: a record of n requests
    costs what its token sums cost)."""
    row = model_price_at(provider_slug="openai", model_slug=model.slug, at=at)
    return request_cost(
        schedule_for(row),
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cache_read_tokens=record.cached_tokens,
        cache_write_tokens=record.cache_write_tokens,
        reasoning_tokens=record.reasoning_tokens,
    ).quantize(COST_QUANTUM)


def _by_customer_month(costs: Iterable[tuple[UsageRecord, Decimal]]) -> dict[tuple[int, date], Decimal]:
    totals: dict[tuple[int, date], Decimal] = {}
    for record, cost in costs:
        key = (record.customer_id, record.period)
        totals[key] = totals.get(key, Decimal(0)) + cost
    return {key: total.quantize(MONEY) for key, total in totals.items()}


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the replay read the actual-margin selector")


def _forbid_actual_margin_selectors(monkeypatch: pytest.MonkeyPatch, organization: Organization) -> None:
    """Make the actual-margin selectors raise, in their module and in every loaded module of the
    project that imported them by name."""
    originals = {attr: getattr(selectors, attr) for attr in ACTUAL_MARGIN_SELECTORS}
    patched = []
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in ("planner", "api", "pricing"):
            continue
        for attr, original in originals.items():
            if getattr(module, attr, None) is original:
                monkeypatch.setattr(module, attr, _refuse)
                patched.append(f"{name}.{attr}")
    assert "planner.actuals.selectors.customer_margins_for_period" in patched
    with pytest.raises(AssertionError, match="actual-margin selector"):
        selectors.customer_margins_for_period(organization=organization, period=MAY)


def _scenario(dataset: Dataset, name: str, levers: list[dict[str, Any]] | None = None) -> Scenario:
    """A scenario of the live plan in which Legacy has no stand-in (its copy deleted)."""
    scenario = scenario_create(product=dataset.product, name=name, levers=levers or [], seed=1)
    tier_delete(tier=Tier.objects.get(scenario=scenario, live_tier=dataset.tiers["legacy"]))
    return scenario


def test_the_dataset_has_what_the_identity_must_cover(dataset: Dataset) -> None:
    rows = list(dataset.report.values())
    assert len(rows) == 14  # 7 customers x 2 months
    assert UsageRecord.objects.get(event_id="f2").period == MAY  # the New York month
    assert any(not r.paying for r in rows) and any(r.underwater for r in rows)
    assert any(r.paying and not r.underwater for r in rows)
    assert any(r.overage_revenue > 0 for r in rows)
    assert {r.external_id for r in rows if r.payment_fees > 0} >= {"pro-1", "metered-1", "legacy-1"}
    # Proration: the two tier changes split May into 19 + 12 days and June into 15 + 15.
    assert [_days_on_tiers(c, p) for c, p in ((_customer("down-1"), MAY), (_customer("up-1"), JUNE))] == [
        {dataset.tiers["pro"].pk: 19, dataset.tiers["free"].pk: 12},
        {dataset.tiers["free"].pk: 15, dataset.tiers["metered"].pk: 15},
    ]
    # No margin sits within a quantum of zero, so "underwater" below cannot agree by luck.
    assert all(abs(r.margin) > MONEY for r in rows)
    # Every model is linear in tokens: the replay re-rates from token sums.
    assert nonlinear_models({m.pk for m in dataset.models.values()}) == set()


# --- 1. Identity -----------------------------------------------------------------------------------


def test_live_plan_replay_at_own_prices_reproduces_the_report_for_every_customer_month(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_actual_margin_selectors(monkeypatch, dataset.organization)
    rows = _rows(_replay(dataset))
    assert rows.keys() == dataset.report.keys()
    for key, expected in dataset.report.items():
        row = rows[key]
        for side in (row.actual, row.replayed):
            assert side.tier_id == expected.tier_id and side.tier_name == expected.tier_name
            assert side.credits == expected.credits
            assert side.revenue == expected.revenue  # Decimal, exact: billed by the same rule
            assert side.payment_fees == expected.payment_fees
            # Gross is fee + overage rounded once; the report rounds fee and overage apart.
            assert abs(side.revenue_gross - (expected.fee_revenue + expected.overage_revenue)) <= MONEY
            assert side.paying == expected.paying and side.underwater == expected.underwater
        assert row.actual.cogs == expected.cogs and row.actual.margin == expected.margin
        # The report adds each record's cost rounded at 1e-10, the replay re-rates token sums
        # and rounds once at 1e-10: the unrounded totals differ by far less than a quantum, so
        # the figures quantized to MONEY differ by at most one quantum (well inside a cent).
        assert abs(row.replayed.cogs - expected.cogs) <= MONEY
        assert abs(row.replayed.margin - expected.margin) <= MONEY
        assert row.flip == "" and not row.cut


# --- 2. Price sheets -------------------------------------------------------------------------------


def _sheet(dataset: Dataset, name: str, rate: str, scope: str, start: date, end: date | None) -> PriceSheet:
    """A sheet with a ``rate`` discount on every model used: one provider-wide entry, or one
    entry per model. Its dates do not matter to a replay (docs/ACTUALS.md "Replay")."""
    sheet = price_sheet_create(
        organization=dataset.organization, name=name, effective_from=start, effective_to=end
    )
    models = [""] if scope == "provider" else [m.slug for m in dataset.models.values()]
    for model in models:
        price_sheet_entry_add(
            sheet=sheet, row={"kind": "discount", "provider": "openai", "model": model, "discount": rate}
        )
    return sheet


@pytest.mark.parametrize("scope", ["provider", "model"])
def test_a_half_price_sheet_halves_every_item_and_a_zero_sheet_changes_nothing(
    dataset: Dataset, scope: str
) -> None:
    half = _sheet(dataset, "Half", "0.5", scope, date(2020, 1, 1), date(2020, 12, 31))
    zero = _sheet(dataset, "Zero", "0", scope, date(2021, 1, 1), None)
    organization = dataset.organization
    providers = {m.pk: m.provider_id for m in dataset.models.values()}
    assert plan_load(organization, None, half).discount_rates(providers) == dict.fromkeys(providers, 0.5)
    assert plan_load(organization, None, zero).discount_rates(providers) == dict.fromkeys(providers, 0.0)

    # Per item (a token sum or a record), as the replay prices it.
    customer_months_fold(organization_id=organization.pk)
    months = CustomerMonth.objects.filter(organization=organization).order_by("period", "customer_id")
    index = {(cm.customer_id, cm.period): i for i, cm in enumerate(months)}
    resolver = PriceResolver.load(model_ids=list(providers), terms=CATALOG_PRICES)
    records = UsageRecord.objects.filter(organization=organization)
    items, straddling = load_items(token_sums(records), records, index, set(), resolver)
    assert straddling == set() and len(items.cm) >= len(index)

    def units(rates: dict[int, float] | None) -> Any:
        return replayed_units(items, [], resolver, [], None, rates)

    catalog = units(None)
    assert np.all(catalog > 0)
    # x 0.5 is exact in binary floating point; 1e-10 relative is the bound.
    halved = units(plan_load(organization, None, half).discount_rates(providers))
    np.testing.assert_allclose(halved, catalog * 0.5, rtol=1e-10, atol=0)
    assert np.array_equal(units(plan_load(organization, None, zero).discount_rates(providers)), catalog)

    # Per customer-month.
    plain = _replay(dataset)
    half_rows = _rows(_replay(dataset, price_sheet=half))
    assert _replay(dataset, price_sheet=zero).customer_months == plain.customer_months
    for key, row in _rows(plain).items():
        other = half_rows[key]
        assert other.actual == row.actual
        assert other.replayed.revenue == row.replayed.revenue
        # Halved cost C/2 is rounded at 1e-10 (<= 0.5e-10 off) then to MONEY (<= MONEY/2 off);
        # the catalog COGS was rounded to MONEY too, half of which is <= MONEY/4 off C/2.
        bound = MONEY * Decimal("0.75") + COST_QUANTUM / 2
        assert abs(other.replayed.cogs - row.replayed.cogs / 2) <= bound


# --- 3. Routing ------------------------------------------------------------------------------------


ROUTING_CASES = [
    pytest.param("Agent", "small", id="agent-to-gpt-4o-mini"),
    # o3 changes price inside the month: the replay must price the routed records one by one.
    pytest.param("Chat", "reasoning", id="chat-to-o3-across-its-price-change"),
]


@pytest.mark.parametrize(("workload", "target"), ROUTING_CASES)
def test_routing_a_whole_workload_to_model_b_prices_its_records_at_b(
    dataset: Dataset, workload: str, target: str
) -> None:
    b = dataset.models[target]
    routed = dataset.workloads[workload]
    lever = {"key": "route", "label": "All to B", "workloads": [routed.pk], "routing_model": b.pk}
    levers = [{**lever, "routing_share": 1.0}]
    scenario = scenario_create(product=dataset.product, name="Route", levers=levers, seed=1)
    rows = _rows(_replay(dataset, scenario))
    records = UsageRecord.objects.filter(organization=dataset.organization).select_related("model")
    expected = _by_customer_month(
        (r, _record_cost(r, b, r.timestamp) if r.workload_id == routed.pk else r.cost) for r in records
    )
    assert rows.keys() == expected.keys() == dataset.report.keys()
    changed = 0
    for key, cogs in expected.items():
        row = rows[key]
        # Record costs rounded at 1e-10 and summed vs token sums rounded once: <= one quantum.
        assert abs(row.replayed.cogs - cogs) <= MONEY, (row.external_id, row.period)
        assert row.replayed.credits == row.actual.credits and not row.cut
        changed += row.replayed.cogs != row.actual.cogs
    assert changed >= 3  # the lever moved something: the identity is not the live plan's


# --- 4. +$10 on the mapped tiers -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fee-levers-on-every-mapped-tier", "scenario-tier-fees-of-paying-tiers"])
def test_ten_dollars_more_on_mapped_tiers_adds_ten_times_the_prorated_days(
    dataset: Dataset, how: str
) -> None:
    tiers = dataset.tiers
    mapped = [tiers["free"], tiers["pro"], tiers["metered"]]
    if how.startswith("fee-levers"):
        # A lever's fee is the tier's new price: Free at $10 becomes a paying tier.
        levers = [
            {
                "key": f"fee-{t.pk}",
                "label": f"{t.name} + $10",
                "tiers": [t.pk],
                "fee": float(t.monthly_fee) + 10,
            }
            for t in mapped
        ]
        scenario, raised = _scenario(dataset, "Plus ten", levers), mapped
    else:
        scenario = _scenario(dataset, "Plus ten")
        raised = [t for t in mapped if t.monthly_fee > 0]
        for tier in raised:
            copy = Tier.objects.get(scenario=scenario, live_tier=tier)
            tier_update(tier=copy, data={"monthly_fee": copy.monthly_fee + 10})
    pct = {t.pk: t.payment_fee_pct for t in raised}
    rows = _rows(_replay(dataset, scenario))
    live = _rows(_replay(dataset))
    assert rows.keys() == dataset.report.keys()
    whole_months = 0
    for key, row in rows.items():
        customer_id, period = key
        month_days = Decimal((next_month(period) - period).days)
        shares = {
            tier: Decimal(days) / month_days
            for tier, days in _days_on_tiers(customer_id, period).items()
            if tier in pct
        }
        gross = sum((10 * share for share in shares.values()), Decimal(0))
        net = sum((10 * share * (1 - pct[tier]) for tier, share in shares.items()), Decimal(0))
        gross_change = row.replayed.revenue_gross - row.actual.revenue_gross
        net_change = row.replayed.revenue - row.actual.revenue
        # Each side is quantized to MONEY (<= MONEY/2 off): the change is within one quantum.
        assert abs(gross_change - gross) <= MONEY, (row.external_id, period, gross_change, gross)
        assert abs(net_change - net) <= MONEY, (row.external_id, period, net_change, net)
        if list(shares.values()) == [1]:  # a whole month on one raised tier: no proration, exact
            whole_months += 1
            assert gross_change == 10 and net_change == 10 * (1 - pct[next(iter(shares))])
        assert row.replayed.cogs == live[key].replayed.cogs and not row.cut
    assert whole_months >= 4
    legacy = [r for r in rows.values() if r.actual.tier_id == tiers["legacy"].pk]
    assert legacy and all(r.replayed.revenue == r.actual.revenue for r in legacy)


# --- 5. Unmapped tiers -----------------------------------------------------------------------------


def test_a_customer_on_an_unmapped_tier_is_reported_never_dropped(dataset: Dataset) -> None:
    legacy = dataset.tiers["legacy"]
    scenario = _scenario(dataset, "Without Legacy")
    result = _replay(dataset, scenario)
    rows = _rows(result)
    assert len(result.customer_months) == len(dataset.report)
    assert rows.keys() == dataset.report.keys()
    assert result.unmapped_tiers == [{"tier": legacy.pk, "tier_name": "Legacy", "customers": 1}]
    assert any("'Legacy' has no stand-in" in note for note in result.notes)
    copies = {t.live_tier_id: t.pk for t in Tier.objects.filter(scenario=scenario)}
    for key, expected in dataset.report.items():
        row = rows[key]
        assert row.actual.tier_id == expected.tier_id
        if expected.tier_id == legacy.pk:
            assert row.replayed.tier_id == legacy.pk and row.replayed.revenue == expected.revenue
        else:
            assert row.replayed.tier_id == copies[expected.tier_id]
    assert sum(row.actual.tier_id == legacy.pk for row in rows.values()) == 2


# --- 6. Price date ---------------------------------------------------------------------------------


def test_a_price_date_after_the_backdated_cut_prices_every_record_at_that_date(dataset: Dataset) -> None:
    # 7 June: after the backdated cut (5 June), before the catalog's first date for it (10 June).
    price_date = date(2025, 6, 7)
    result = _replay(dataset, price_date=price_date)
    rows = _rows(result)
    at = price_instant(price_date)
    records = UsageRecord.objects.filter(organization=dataset.organization).select_related("model")
    expected = _by_customer_month((r, _record_cost(r, r.model, at)) for r in records)
    for key, cogs in expected.items():
        # Per-record costs at 1e-10 summed vs token sums rounded once: at most one quantum.
        assert abs(rows[key].replayed.cogs - cogs) <= MONEY
        assert rows[key].actual.cogs == dataset.report[key].cogs
    # By hand, pro-1 in May: o3 on 12 May (400k in of which 100k cached, 60k out) and gpt-4o on
    # 20 May (300k in, 20k out). At their own dates o3 costs 10 / 0.5 / 40 $/Mtok:
    # 3.00 + 0.05 + 2.40 + gpt-4o's 0.75 + 0.20 = 6.40. On 7 June o3 costs 2 / 0.5 / 8:
    # 0.60 + 0.05 + 0.48 + 0.95 = 2.08.
    row = rows[(_customer("pro-1"), MAY)]
    assert row.actual.cogs == Decimal("6.40")
    # Exact Decimal by hand vs one rounding at 1e-10 then one to MONEY.
    assert abs(row.replayed.cogs - Decimal("2.08")) <= MONEY / 2 + COST_QUANTUM
    assert any("priced at 2025-06-07" in note for note in result.notes)
    # The price in force then is the backdated row, not the one the catalog first published.
    o3 = model_price_at(provider_slug="openai", model_slug="o3", at=at)
    assert o3.effective_from == datetime(2025, 6, 5, tzinfo=UTC)
