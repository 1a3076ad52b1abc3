"""Replay (issue 15, items 1-2): the live plan reproduces the actuals report; plan and cost
changes move exactly what they should; the cluster bootstrap is honest; the command."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from planner.accounts.models import Organization
from planner.actuals import selectors
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import CustomerMonth, UsageRecord
from planner.actuals.replay import ReplayResult, replay_period
from planner.actuals.replay_stats import cluster_bootstrap_totals, percentile_intervals
from planner.devtools.demo import DEMO_PRODUCT_NAME, demo_seed
from planner.products.models import Product, Tier
from planner.products.services import product_create, tier_create
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create
from pricing.calculator import request_cost, schedule_for
from pricing.resolve import CATALOG_PRICES, PriceResolver

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)
MONTHS = [dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)]
QUANTUM = Decimal("0.000001")


def _demo(priced_models: dict[str, Any]) -> tuple[Organization, Product]:
    organization = demo_seed(now=NOW)
    return organization, Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)


def _scenario(product: Product, name: str, levers: list[dict[str, Any]] | None = None) -> Scenario:
    return scenario_create(product=product, name=name, levers=levers or [], seed=1)


def _rows(result: ReplayResult) -> dict[tuple[int, dt.date], Any]:
    return {(row.customer_id, row.period): row for row in result.customer_months}


def test_live_plan_replay_equals_the_actuals_report(
    priced_models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    organization, _ = _demo(priced_models)
    report = {
        (m.customer_id, period): m
        for period in MONTHS
        for m in selectors.customer_margins_for_period(organization=organization, period=period)
    }
    tier_report = {
        (t.tier_id, period): t
        for period in MONTHS
        for t in selectors.tier_margins_for_period(organization=organization, period=period)
    }

    def refuse(**_: Any) -> None:
        raise AssertionError("the replay read the actual-margin selector")

    monkeypatch.setattr(selectors, "customer_margins_for_period", refuse)
    monkeypatch.setattr(selectors, "tier_margins_for_period", refuse)
    started = time.perf_counter()
    result = replay_period(
        organization=organization, period_from=MONTHS[0], period_to=MONTHS[-1], bootstrap=200
    )
    elapsed = time.perf_counter() - started
    rows = _rows(result)
    assert set(rows) == set(report) and len(rows) > 150
    for key, expected in report.items():
        row = rows[key]
        for side in (row.actual, row.replayed):
            assert side.revenue == expected.revenue  # Decimal, exact
            assert side.tier_id == expected.tier_id and side.paying == expected.paying
            assert side.credits == expected.credits
        assert row.actual.cogs == expected.cogs and row.actual.margin == expected.margin
        assert row.actual.underwater == expected.underwater
        # Replayed COGS is re-rated from token sums (one rounding per sum instead of one per
        # record at 1e-10): it may differ from the report by at most one quantum of 1e-6.
        assert abs(row.replayed.cogs - expected.cogs) <= QUANTUM
        assert abs(row.replayed.margin - expected.margin) <= QUANTUM
        assert row.flip == "" and not row.cut
    exact = sum(rows[k].replayed.cogs == e.cogs for k, e in report.items())
    assert exact >= 0.95 * len(report)
    actual_total = sum((t.margin for t in tier_report.values()), Decimal(0))
    assert result.total.actual["margin"] == actual_total
    assert abs(result.total.replayed["margin"] - actual_total) <= QUANTUM * len(report)
    for group in result.tiers:
        assert group.actual["revenue"] == sum(
            (tier_report[(group.tier_id, p)].revenue for p in MONTHS if (group.tier_id, p) in tier_report),
            Decimal(0),
        )
    assert elapsed < 5.0, elapsed


def test_pro_fee_from_20_to_30_adds_10_per_pro_customer_month(priced_models: dict[str, Any]) -> None:
    organization, product = _demo(priced_models)
    scenario = _scenario(product, "Pro at 30")
    pro = Tier.objects.get(scenario=scenario, name="Pro")
    assert pro.monthly_fee == Decimal("20")
    Tier.objects.filter(pk=pro.pk).update(monthly_fee=Decimal("30"))
    live = _rows(
        replay_period(organization=organization, period_from=MONTHS[0], period_to=MONTHS[-1], bootstrap=0)
    )
    result = replay_period(
        organization=organization, scenario=scenario, period_from=MONTHS[0], period_to=MONTHS[-1], bootstrap=0
    )
    pro_months = became = stopped = 0
    for key, row in _rows(result).items():
        # COGS unchanged, except where the scenario's copy of a capped tier (Free: 30 credits)
        # cuts demo usage that went beyond it (the demo's billing does not enforce the cap).
        assert row.replayed.cogs == live[key].replayed.cogs or (row.cut and row.actual.tier_name != "Pro")
        if row.actual.tier_name == "Pro":
            pro_months += 1
            # Every demo Pro customer is on Pro for whole months: +10 gross, +10 x (1 - 2.9%) net.
            assert row.replayed.revenue_gross - row.actual.revenue_gross == Decimal("10")
            assert row.replayed.revenue - row.actual.revenue == Decimal("9.71")
            assert row.replayed.tier_id == pro.pk
            margin = live[key].replayed.margin + Decimal("9.71")
            expected_flip = "stopped_underwater" if row.actual.underwater and margin >= 0 else ""
            assert row.flip == expected_flip
            stopped += expected_flip != ""
        else:
            assert row.replayed.revenue == row.actual.revenue and row.flip == ""
    assert 80 <= pro_months <= 90  # 30 Pro customers x 3 months, those with usage
    assert result.total.stopped_underwater == stopped and result.total.became_underwater == became
    assert result.unmapped_tiers == []


@pytest.fixture
def small(organization: Organization, product: Product, priced_models: dict[str, Any]) -> dict[str, Any]:
    """Eight Pro customers, one gpt-4o record each (credits 10 x i), in July 2025."""
    pro = Tier.objects.get(product=product, scenario__isnull=True, name="Pro")
    records = [
        {
            "event_id": f"e{i}",
            "customer": f"c{i}",
            "tier": pro.pk,
            "timestamp": f"2025-07-{i + 2:02d}T10:00:00+00:00",
            "model": "openai/gpt-4o",
            "input_tokens": 200_000 * (i + 1),
            "cached_tokens": 50_000 * i,
            "output_tokens": 30_000 * (i + 1),
            "credits": 10 * (i + 1),
        }
        for i in range(8)
    ]
    usage_records_ingest(
        organization=organization, records=records, now=dt.datetime(2025, 7, 20, tzinfo=dt.UTC)
    )
    return {"organization": organization, "product": product, "pro": pro, "models": priced_models}


JULY = dt.date(2025, 7, 1)


def _replay(small: dict[str, Any], scenario: Scenario | None) -> dict[str, Any]:
    result = replay_period(
        organization=small["organization"], scenario=scenario, period_from=JULY, period_to=JULY, bootstrap=0
    )
    return {row.external_id: row for row in result.customer_months} | {"_result": result}


def _exact_cost(record: UsageRecord, model: Any) -> Decimal:
    resolver = PriceResolver.load(model_ids=[model.pk], terms=CATALOG_PRICES)
    row = resolver.catalog_row(model=model, at=record.timestamp)
    return request_cost(
        schedule_for(row),
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cache_read_tokens=record.cached_tokens,
        cache_write_tokens=record.cache_write_tokens,
        reasoning_tokens=record.reasoning_tokens,
    )


def test_routing_half_to_the_small_model_costs_the_mean_of_both(small: dict[str, Any]) -> None:
    models = small["models"]
    scenario = _scenario(
        small["product"],
        "Route",
        [{"key": "r", "label": "Route 50%", "routing_model": models["small"].pk, "routing_share": 0.5}],
    )
    rows = _replay(small, scenario)
    for record in UsageRecord.objects.filter(organization=small["organization"]):
        expected = (_exact_cost(record, models["frontier"]) + _exact_cost(record, models["small"])) / 2
        row = rows[record.customer.external_id]
        assert abs(row.replayed.cogs - expected) <= QUANTUM
        assert row.replayed.cogs < row.actual.cogs
        assert row.replayed.credits == row.actual.credits
    assert any("(1 - s)" in note for note in rows["_result"].notes)


def test_response_cache_scales_cogs_and_keeps_credits(small: dict[str, Any]) -> None:
    scenario = _scenario(
        small["product"], "Cache", [{"key": "c", "label": "Cache", "response_cache_hit_rate": 0.3}]
    )
    rows = _replay(small, scenario)
    for month in CustomerMonth.objects.filter(organization=small["organization"]).select_related("customer"):
        row = rows[month.customer.external_id]
        assert abs(row.replayed.cogs - month.cost * Decimal("0.7")) <= QUANTUM
        assert row.replayed.credits == month.credits == row.actual.credits
        assert row.replayed.revenue == row.actual.revenue


def test_hard_cap_cuts_credits_in_proportion_and_counts_customers(small: dict[str, Any]) -> None:
    scenario = _scenario(small["product"], "Capped")
    Tier.objects.filter(scenario=scenario, name="Pro").update(hard_cap_credits=45.0)
    rows = _replay(small, scenario)
    cut = 0
    for month in CustomerMonth.objects.filter(organization=small["organization"]).select_related("customer"):
        row = rows[month.customer.external_id]
        if month.credits > 45:
            cut += 1
            assert row.cut and row.replayed.credits == Decimal("45")
            assert abs(row.replayed.cogs - month.cost * Decimal(45) / month.credits) <= QUANTUM
        else:
            assert not row.cut and row.replayed.credits == month.credits
            assert abs(row.replayed.cogs - month.cost) <= QUANTUM
    result = rows["_result"]
    assert cut == 4 and result.total.customers_cut == 4 and len(result.customers_cut) == 4


def test_unmapped_tier_customers_are_listed_not_dropped(small: dict[str, Any]) -> None:
    scenario = _scenario(small["product"], "No Pro")
    Tier.objects.filter(scenario=scenario, name="Pro").update(live_tier=None)
    result = _replay(small, scenario)["_result"]
    assert result.unmapped_tiers == [{"tier": small["pro"].pk, "tier_name": "Pro", "customers": 8}]
    assert len(result.customer_months) == 8
    assert all(row.replayed.revenue == row.actual.revenue for row in result.customer_months)


# --- Bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_width_matches_the_standard_error_of_a_total() -> None:
    rng = np.random.default_rng(7)
    n, sd = 400, 3.0
    values = rng.normal(1.0, sd, size=(n, 1))
    (interval,) = percentile_intervals(values, resamples=4000, seed=3)
    assert interval.low is not None and interval.high is not None
    assert interval.low < values.sum() < interval.high
    # Analytic: total's SE = sqrt(n) x sample sd (x sqrt((n-1)/n) for the bootstrap's plug-in).
    expected = 2 * 1.959964 * np.sqrt(n) * values.std(ddof=0)
    # Percentile bounds from 4,000 resamples: relative noise of the width about 3%; allow 10%.
    assert abs((interval.high - interval.low) / expected - 1) < 0.10
    again = percentile_intervals(values, resamples=4000, seed=3)[0]
    assert (again.low, again.high) == (interval.low, interval.high)
    other = percentile_intervals(values, resamples=4000, seed=4)[0]
    assert (other.low, other.high) != (interval.low, interval.high)
    # Duplicating every customer: the total doubles, its width grows by sqrt(2) (relative
    # width shrinks as 1/sqrt(customers)).
    doubled = percentile_intervals(np.vstack([values, values]), resamples=4000, seed=3)[0]
    assert doubled.low is not None and doubled.high is not None
    ratio = (doubled.high - doubled.low) / (interval.high - interval.low)
    assert abs(ratio / np.sqrt(2) - 1) < 0.10


def test_bootstrap_resamples_whole_customers_and_refuses_small_groups() -> None:
    values = np.arange(1.0, 31.0).reshape(30, 1)
    totals = cluster_bootstrap_totals(values, resamples=50, seed=0)
    assert totals.shape == (50, 1)
    # Every resampled total is a sum of 30 of the customers' values.
    assert np.all(totals >= 30) and np.all(totals <= 900)
    (small_interval,) = percentile_intervals(values[:19], resamples=100, seed=0)
    assert small_interval.low is None and "too few customers" in small_interval.reason


def test_demo_tier_intervals(priced_models: dict[str, Any]) -> None:
    organization, product = _demo(priced_models)
    scenario = Scenario.objects.get(product=product, name="Baseline")
    result = replay_period(
        organization=organization, scenario=scenario, period_from=MONTHS[0], period_to=MONTHS[-1]
    )
    tiers = {t.tier_name: t for t in result.tiers}
    pro, team = tiers["Pro"], tiers["Team"]
    change = float(pro.replayed["margin"] - pro.actual["margin"])
    c_low, c_high = pro.margin_change_interval.low, pro.margin_change_interval.high
    assert pro.customers == 30 and c_low is not None and c_high is not None
    assert c_low <= change <= c_high
    low, high = pro.replayed_margin_interval.low, pro.replayed_margin_interval.high
    assert low is not None and high is not None and low <= float(pro.replayed["margin"]) <= high
    assert team.customers == 6 and team.margin_change_interval.low is None
    assert "too few customers" in team.margin_change_interval.reason
    # The levers cut costs: routing half to gpt-4o-mini, caching 30%, distilling 25%.
    assert pro.replayed["cogs"] < pro.actual["cogs"]
    again = replay_period(
        organization=organization, scenario=scenario, period_from=MONTHS[0], period_to=MONTHS[-1]
    )
    assert again.to_json() == result.to_json()


# --- Command -------------------------------------------------------------------------------------


def test_command_json_and_bad_month(small: dict[str, Any]) -> None:
    out = StringIO()
    call_command(
        "replay", "--from", "2025-07", "--to", "2025-07", "--organization", "acme-ai", "--json", stdout=out
    )
    data = json.loads(out.getvalue())
    assert data["total"]["customers"] == 8 and len(data["customer_months"]) == 8
    text = StringIO()
    call_command("replay", "--from", "2025-07", "--to", "2025-07", "--organization", "acme-ai", stdout=text)
    assert "Total" in text.getvalue()
    with pytest.raises(CommandError, match="--from"):
        call_command("replay", "--from", "2025-13", "--to", "2025-07", "--organization", "acme-ai")


def test_command_live_plan_of_a_product_and_its_flags(small: dict[str, Any]) -> None:
    """``--live --product ID`` replays that product's customers only (the contract of #15)."""
    other = product_create(organization=small["organization"], name="Other product")
    tier_create(product=other, name="Solo", monthly_fee=Decimal("5"), subscribers=10)

    def customers(*args: str) -> int:
        out = StringIO()
        call_command("replay", "--from", "2025-07", "--to", "2025-07", *args, "--json", stdout=out)
        return int(json.loads(out.getvalue())["total"]["customers"])

    assert customers("--live", "--product", str(small["product"].pk)) == 8
    assert customers("--live", "--product", str(other.pk)) == 0
    with pytest.raises(CommandError, match="--live needs --product"):
        call_command("replay", "--from", "2025-07", "--to", "2025-07", "--live")
    with pytest.raises(CommandError, match="--scenario or --live, not both"):
        call_command("replay", "--from", "2025-07", "--to", "2025-07", "--live", "--scenario", "1")
