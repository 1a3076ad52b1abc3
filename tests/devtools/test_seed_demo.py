"""``manage.py seed_demo``: the standard benchmark scenario as a demo, idempotent."""

from __future__ import annotations

import dataclasses
import datetime
import math
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from genai_prices import data as genai_data

from planner.accounts.models import Membership, Organization
from planner.actuals.models import Customer, UsageRecord
from planner.alerts.models import AlertOutbox, AlertRule
from planner.devtools import demo, demo_runs
from planner.products.correlations import correlation_matrix
from planner.products.models import Product, Tier, UsageDistribution, Workload, WorkloadModel
from planner.products.selectors import live_tiers
from planner.products.services import tier_update
from planner.simulation.models import RunBlock, Scenario, SimulationRun, WorkloadOverride
from pricing.catalog import catalog_import
from pricing.models import AIModel
from tests.conftest import PRICED_MODELS

SEEDED_MODELS = (
    Organization,
    Membership,
    Product,
    Tier,
    Workload,
    WorkloadModel,
    UsageDistribution,
    Scenario,
    WorkloadOverride,
    AlertRule,
    Customer,
    UsageRecord,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


def test_demo_models_exist_in_the_bundled_catalog() -> None:
    catalog = {(provider.id, model.id) for provider in genai_data.providers for model in provider.models}
    assert {demo.SMALL_MODEL, demo.FRONTIER_MODEL, demo.REASONING_MODEL} <= catalog


@pytest.mark.django_db
def test_seed_demo_is_idempotent(priced_models: dict[str, AIModel]) -> None:
    now = "2026-12-07T15:00:00+00:00"
    call_command("seed_demo", "--now", now, "--no-runs", stdout=StringIO())
    first = counts()
    ids = sorted(Tier.objects.values_list("id", flat=True))
    call_command("seed_demo", "--now", now, "--no-runs", stdout=StringIO())
    assert counts() == first
    assert first.pop("UsageRecord") > 5_000  # 60 customers' days since 1 October (Free capped)
    assert sorted(Tier.objects.values_list("id", flat=True)) == ids
    assert first == {
        "Organization": 1,
        "Membership": 1,
        "Product": 2,
        "Tier": 18,  # 3 live tiers per product and a plan of 3 per scenario (3 + 1)
        "Workload": 6,
        "WorkloadModel": 10,
        "WorkloadOverride": 3,  # the routed plan's model mix of each workload
        "UsageDistribution": 54,
        "Scenario": 4,
        "AlertRule": 2,
        "Customer": 60,
    }


@pytest.mark.django_db
def test_seed_demo_builds_the_standard_scenario(priced_models: dict[str, AIModel]) -> None:
    organization = demo.demo_seed(price_date=datetime.date(2026, 11, 1))
    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.check_password("demo-margin")
    assert Membership.objects.get(user=user).organization == organization
    assert (organization.currency, organization.time_zone) == ("USD", "UTC")
    product = organization.products.get(name="Demo Copilot")

    tiers = {tier.name: tier for tier in live_tiers(product).all()}
    assert [t.subscribers for t in tiers.values()] == [7_000, 2_500, 500]
    assert tiers["Pro"].monthly_revenue_per_subscriber == Decimal("20")
    assert tiers["Pro"].included_credits is None
    assert (tiers["Team"].included_credits, tiers["Team"].hard_cap_credits) == (2_000.0, 10_000.0)
    assert tiers["Team"].overage_price_per_credit == Decimal("0.02")
    assert tiers["Free"].payment_fee_pct == 0 and tiers["Team"].payment_fee_pct == Decimal("0.029")

    agent = product.workloads.get(name="Agent task")
    rows = agent.model_mix.select_related("model")
    mix = {(row.model.slug, row.share, row.uses_reasoning) for row in rows if row.model is not None}
    assert mix == {("gpt-4o", 0.8, False), ("o3", 0.2, True)}
    assert (agent.calls_per_request_median, agent.calls_per_request_p90) == (10.0, 30.0)

    team_chat = UsageDistribution.objects.get(tier=tiers["Team"], workload__name="Chat")
    team_median = demo.PRO_MEDIANS["Chat"] * demo.TIER_USAGE_FACTOR["Team"]
    assert (team_chat.median, team_chat.p90) == (team_median, team_median * demo.P90_OVER_MEDIAN)
    _, matrix = correlation_matrix(product=product)
    assert matrix[0, 1] == 0.8

    scenario = product.scenarios.get(name="Baseline")
    assert (scenario.seed, scenario.simulated_users, scenario.price_date) == (
        20261126,
        200_000,
        datetime.date(2026, 11, 1),
    )
    assert [lever["label"] for lever in scenario.levers] == [
        "Route 50% to gpt-4o-mini",
        "Response cache 30%",
        "Prompt distillation 25%",
    ]
    assert scenario.levers[0]["routing_model"] == priced_models["small"].pk
    scenario.full_clean()
    plan = {tier.name: tier for tier in scenario.tiers.all()}
    assert {name: tier.live_tier_id for name, tier in plan.items()} == {
        name: t.pk for name, t in tiers.items()
    }
    assert plan["Team"].hard_cap_credits == 10_000.0 and plan["Pro"].monthly_fee == Decimal("20")
    assert UsageDistribution.objects.filter(tier__scenario=scenario).count() == 9


@pytest.mark.django_db
def test_seed_demo_imports_the_catalog_when_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_import() -> None:
        """The demo's three models only (the whole catalog takes longer), priced."""
        calls.append(1)
        openai = next(p for p in genai_data.providers if p.id == "openai")
        only = dataclasses.replace(openai, models=[m for m in openai.models if m.id in PRICED_MODELS])
        catalog_import(providers=[only])

    monkeypatch.setattr(demo, "catalog_import", fake_import)
    demo.demo_seed()
    demo.demo_seed()
    assert calls == [1]


@pytest.mark.django_db
def test_seed_demo_runs_every_demo_scenario_once_and_evaluates_the_alerts(
    priced_models: dict[str, AIModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start shows answers: one succeeded run per scenario, stored as a worker stores
    it (blocks, then merged results), the alert rules measured; seeding again adds no run, and a
    scenario changed since gets one new run."""
    monkeypatch.setattr(demo_runs, "DEMO_RUN_USERS", 20_000)  # the run's setup dominates anyway
    now = "2026-12-07T15:00:00+00:00"
    out = StringIO()
    call_command("seed_demo", "--now", now, stdout=out)
    runs = SimulationRun.objects.order_by("pk")
    assert [(run.scenario and run.scenario.name, run.status, run.users) for run in runs] == [
        ("Standard benchmark", "succeeded", 20_000),
        ("Baseline", "succeeded", 20_000),
        ("Capped plan", "succeeded", 20_000),
        ("Routed plan", "succeeded", 20_000),
    ]
    for run in runs:
        assert run.results is not None and run.finished_at is not None
        assert RunBlock.objects.filter(run=run, state=RunBlock.State.DONE).count() == run.blocks_total
        total = run.results["total"]
        assert math.isfinite(total["gross_margin_pct"]) and 0 <= total["underwater_paying"]["share"] < 1
    assert "ran run #" in out.getvalue()
    margins = {
        run.scenario and run.scenario.name: (run.results or {})["total"]["gross_margin_pct"] for run in runs
    }
    # Routing to the small model and capping Pro both raise the baseline's margin.
    assert margins["Routed plan"] > margins["Baseline"] and margins["Capped plan"] > margins["Baseline"]
    assert (
        RunBlock.objects.filter(run__in=runs).exclude(aggregate=None).count() == 4
    )  # 20,000 users: 1 block each
    rules = AlertRule.objects.order_by("pk")
    assert all(rule.last_evaluated_at is not None for rule in rules)
    underwater = rules.get(name="Pro users underwater in the baseline")
    assert (underwater.last_measurement or {})["run"] == runs.get(scenario__name="Baseline").pk
    assert (underwater.last_measurement or {})["breached"] is True  # 7% of Pro > 5%
    assert AlertOutbox.objects.count() == 1

    call_command("seed_demo", "--now", now, stdout=(again := StringIO()))
    assert SimulationRun.objects.count() == 4 and "ran run" not in again.getvalue()
    assert AlertOutbox.objects.count() == 1

    capped = Scenario.objects.get(name="Capped plan")
    tier_update(tier=capped.tiers.get(name="Pro"), data={"monthly_fee": Decimal("25")})
    call_command("seed_demo", "--now", now, stdout=StringIO())  # restores the fee: run already
    assert SimulationRun.objects.count() == 4
    tier_update(tier=capped.tiers.get(name="Pro"), data={"monthly_fee": Decimal("25")})
    seeded = demo_runs.demo_runs_seed(capped.product.organization, now=datetime.datetime.fromisoformat(now))
    assert [run.scenario and run.scenario.name for run in seeded.created] == ["Capped plan"]
    assert seeded.rules_evaluated == 2 and SimulationRun.objects.count() == 5
