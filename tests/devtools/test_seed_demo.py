"""``manage.py seed_demo``: the standard benchmark scenario as a demo, idempotent."""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from genai_prices import data as genai_data

from planner.accounts.models import Membership, Organization
from planner.actuals.models import Customer, UsageRecord
from planner.alerts.models import AlertRule
from planner.devtools import demo
from planner.products.correlations import correlation_matrix
from planner.products.models import Product, Tier, UsageDistribution, Workload, WorkloadModel
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario
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
    call_command("seed_demo", "--now", now, stdout=StringIO())
    first = counts()
    ids = sorted(Tier.objects.values_list("id", flat=True))
    call_command("seed_demo", "--now", now, stdout=StringIO())
    assert counts() == first
    assert first.pop("UsageRecord") > 5_000  # 60 customers' days since 1 October (Free capped)
    assert sorted(Tier.objects.values_list("id", flat=True)) == ids
    assert first == {
        "Organization": 1,
        "Membership": 1,
        "Product": 2,
        "Tier": 12,  # 3 live tiers and a scenario's plan of 3 per product
        "Workload": 6,
        "WorkloadModel": 10,
        "UsageDistribution": 36,
        "Scenario": 2,
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
