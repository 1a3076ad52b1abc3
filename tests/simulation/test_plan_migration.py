"""Migration 0008 (scenarios own their plans) on a database seeded before it: nothing lost.

The data is written with the models as they were at 0007 (one plan per product), then the
database is migrated forward: live tiers keep their ids, every scenario gets copies of the
product's tiers and usage standing for them, scenario-scope alert rules follow their scenario's
copy, actual-scope rules keep the live tier, and each scenario's snapshot equals the one taken
of the product's tiers (what a version 1 snapshot froze) modulo ids and the schema version; a
run of a version 1 snapshot re-runs bit-identical.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from genai_prices import data as genai_data

from planner import engine
from planner.alerts.models import AlertRule
from planner.products.models import Tier, UsageDistribution
from planner.products.selectors import live_tiers
from planner.simulation.adapter import engine_input_from_snapshot
from planner.simulation.models import Scenario
from planner.simulation.snapshot import SNAPSHOT_SCHEMA, scenario_snapshot
from pricing.catalog import catalog_import

BEFORE = [("planner", "0007_idempotency_keys")]
TIER_FIELDS = ("name", "position", "monthly_fee", "included_credits", "hard_cap_credits", "subscribers")


@pytest.fixture
def migrator(transactional_db: None) -> Iterator[MigrationExecutor]:
    """The database at 0007; migrated back to the latest state afterwards, whatever happens."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _seed_before(apps: Any) -> dict[str, int]:
    """A product with Free and Pro, two workloads, usage for each pair, two scenarios and a
    scenario-scope and an actual-scope alert rule naming Pro, written at 0007."""
    Organization = apps.get_model("planner", "Organization")
    Product = apps.get_model("planner", "Product")
    OldTier = apps.get_model("planner", "Tier")
    Workload = apps.get_model("planner", "Workload")
    WorkloadModel = apps.get_model("planner", "WorkloadModel")
    Usage = apps.get_model("planner", "UsageDistribution")
    OldScenario = apps.get_model("planner", "Scenario")
    OldRule = apps.get_model("planner", "AlertRule")
    Crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    Provider = apps.get_model("pricing", "Provider")
    AIModel = apps.get_model("pricing", "AIModel")
    openai = Provider.objects.create(slug="openai", name="OpenAI")
    small = AIModel.objects.create(provider=openai, slug="gpt-4o-mini", name="gpt-4o-mini")
    frontier = AIModel.objects.create(provider=openai, slug="gpt-4o", name="gpt-4o")
    organization = Organization.objects.create(name="Acme", slug="acme")
    product = Product.objects.create(organization=organization, name="Copilot")
    free = OldTier.objects.create(
        product=product,
        name="Free",
        position=0,
        included_credits=30.0,
        hard_cap_credits=30.0,
        subscribers=700,
    )
    pro = OldTier.objects.create(
        product=product,
        name="Pro",
        position=1,
        monthly_fee=Decimal("20"),
        payment_fee_pct=Decimal("0.029"),
        subscribers=300,
        churn_monthly=0.04,
    )
    chat = Workload.objects.create(
        product=product,
        name="Chat",
        position=0,
        input_tokens_median=800.0,
        input_tokens_p90=3000.0,
        output_tokens_median=300.0,
        output_tokens_p90=1200.0,
    )
    agent = Workload.objects.create(
        product=product,
        name="Agent",
        position=1,
        credits_per_request=10.0,
        input_tokens_median=4000.0,
        input_tokens_p90=16000.0,
        output_tokens_median=400.0,
        output_tokens_p90=2000.0,
        calls_per_request_median=5.0,
        calls_per_request_p90=20.0,
    )
    WorkloadModel.objects.create(workload=chat, model=small, share=0.7)
    WorkloadModel.objects.create(workload=chat, model=frontier, share=0.3)
    WorkloadModel.objects.create(workload=agent, model=frontier, share=1.0)
    for tier, factor in ((free, 1 / 3), (pro, 1.0)):
        Usage.objects.create(tier=tier, workload=chat, kind="lognormal", median=40 * factor, p90=240 * factor)
        Usage.objects.create(tier=tier, workload=agent, kind="gamma", mean=2 * factor, shape=0.5)
    scenarios = [
        OldScenario.objects.create(
            product=product,
            organization=organization,
            name=name,
            horizon_months=3,
            simulated_users=20_000,
            seed=seed,
            price_date="2026-11-01",
        )
        for name, seed in (("Baseline", 42), ("Variant", 7))
    ]
    crontab = Crontab.objects.create(minute="0", hour="8", timezone="UTC")
    common = {
        "organization": organization,
        "metric": "underwater_share",
        "comparator": "gt",
        "threshold": Decimal("5"),
        "crontab": crontab,
        "recipients": ["a@example.com"],
    }
    OldRule.objects.create(name="Scenario Pro", scope="scenario", scenario=scenarios[0], tier=pro, **common)
    OldRule.objects.create(name="Actual Pro", scope="actual", tier=pro, **common)
    return {"free": free.pk, "pro": pro.pk, "baseline": scenarios[0].pk, "variant": scenarios[1].pk}


def _without_ids(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot modulo ids and the schema version (what the migration may change)."""
    copy = json.loads(json.dumps(snapshot))
    copy.pop("schema")
    for tier in copy["tiers"]:
        tier.pop("id"), tier.pop("live_tier", None)
    return copy


def _usage(tier: Tier) -> list[tuple[Any, ...]]:
    return sorted((u.workload_id, u.kind, u.median, u.p90, u.mean, u.shape) for u in tier.usage.all())


def _results(results: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in results.items() if k != "seconds"}, sort_keys=True)


def test_every_scenario_gets_the_plan_it_ran_on_and_nothing_is_lost(migrator: MigrationExecutor) -> None:
    ids = _seed_before(migrator.loader.project_state(BEFORE).apps)
    forward = MigrationExecutor(connection)
    forward.migrate(forward.loader.graph.leaf_nodes())

    live = {tier.name: tier for tier in live_tiers(Scenario.objects.get(pk=ids["baseline"]).product)}
    assert {name: tier.pk for name, tier in live.items()} == {"Free": ids["free"], "Pro": ids["pro"]}
    assert Tier.objects.count() == 6 and UsageDistribution.objects.count() == 12
    for scenario in Scenario.objects.order_by("pk"):
        plan = {tier.name: tier for tier in scenario.tiers.all()}
        assert {name: tier.live_tier_id for name, tier in plan.items()} == {
            "Free": ids["free"],
            "Pro": ids["pro"],
        }
        for name, tier in plan.items():
            assert [getattr(tier, f) for f in TIER_FIELDS] == [getattr(live[name], f) for f in TIER_FIELDS]
            assert _usage(tier) == _usage(live[name])
    rules = {rule.name: rule for rule in AlertRule.objects.select_related("tier")}
    baseline = Scenario.objects.get(pk=ids["baseline"])
    assert rules["Scenario Pro"].tier == baseline.tiers.get(name="Pro")
    assert rules["Actual Pro"].tier_id == ids["pro"]

    # Snapshots: the scenario's plan now, and the product's tiers as version 1 froze them.
    openai = next(p for p in genai_data.providers if p.id == "openai")
    catalog_import(
        providers=[
            dataclasses.replace(
                openai, models=[m for m in openai.models if m.id in {"gpt-4o-mini", "gpt-4o"}]
            )
        ]
    )
    for scenario in Scenario.objects.order_by("pk"):
        after = scenario_snapshot(scenario=scenario)
        before = scenario_snapshot(scenario=scenario, tiers=live.values())
        assert after["schema"] == SNAPSHOT_SCHEMA and _without_ids(after) == _without_ids(before)
        assert [t["live_tier"]["id"] for t in after["tiers"]] == [t["id"] for t in before["tiers"]]
        # A stored version 1 snapshot (no live tiers, billing or segments; schema 1) re-runs
        # bit-identical, and so does the migrated plan.
        version_1 = {
            **_without_ids(before),
            "schema": 1,
            "tiers": [
                {k: v for k, v in t.items() if k not in ("live_tier", "billing", "segments")}
                for t in before["tiers"]
            ],
            "levers": [{k: v for k, v in lever.items() if k != "tiers"} for lever in before["levers"]],
        }
        old = engine.simulate(engine_input_from_snapshot(version_1), users=4_096, seed=scenario.seed)
        new = engine.simulate(engine_input_from_snapshot(after), users=4_096, seed=scenario.seed)
        assert _results(old) == _results(new)
