"""The one price resolution (``pricing.resolve``) behind every caller: a run's snapshot, the
editor's live estimate and usage ingestion agree on what a catalog model costs, and a price sheet
changes the snapshot and the estimate alike while ingestion keeps the list price (its explicit
rule, docs/ACTUALS.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from planner.accounts.models import Organization
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import UsageRecord
from planner.prices.sheets import price_sheet_create, price_sheet_entry_add
from planner.products.estimates import cost_per_request_estimate
from planner.products.models import Tier
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario
from planner.simulation.snapshot import scenario_snapshot
from pricing.calculator import PriceSchedule, request_cost
from pricing.models import ModelPrice
from pricing.resolve import price_instant

PRICE_DATE = dt.date(2025, 7, 1)
TOKENS: dict[str, Any] = {"input_tokens": 12_000, "output_tokens": 3_000}
QUANTUM = Decimal("1e-10")


@pytest.fixture
def dated_scenario(scenario: Scenario) -> Scenario:
    scenario.price_date = PRICE_DATE
    scenario.save()
    return scenario


def snapshot_models(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """Every catalog model of the scenario's mixes, by key, as its snapshot priced it."""
    snapshot = scenario_snapshot(scenario=scenario)
    return {m["key"]: m for w in snapshot["workloads"] for m in w["models"] if m["model_id"] is not None}


def cost(structure: Any) -> Decimal:
    return request_cost(PriceSchedule.from_structure(structure), **TOKENS)


def estimate(organization: Organization, key: str) -> float | None:
    result = cost_per_request_estimate(
        organization=organization, price_date=PRICE_DATE, mix=[(key, 1.0, "", False)], **TOKENS
    )
    return result.cost_per_request


def ingested_record(organization: Organization, tier: Tier, key: str) -> UsageRecord:
    at = price_instant(PRICE_DATE)
    event_id = f"evt-{key}"
    result = usage_records_ingest(
        organization=organization,
        records=[
            {
                "event_id": event_id,
                "customer": "cus-1",
                "tier": tier.pk,
                "model": key,
                "timestamp": at.isoformat(),
            }
            | TOKENS
        ],
        now=at + dt.timedelta(days=1),
    )
    assert (result.created, result.conflicts) == (1, [])
    return UsageRecord.objects.get(organization=organization, event_id=event_id)


def test_snapshot_estimate_and_ingestion_agree_without_a_sheet(
    organization: Organization, dated_scenario: Scenario
) -> None:
    models = snapshot_models(dated_scenario)
    pro = live_tiers(dated_scenario.product).get(name="Pro")
    assert set(models) == {"openai/gpt-4o-mini", "openai/gpt-4o", "openai/o3"}
    for key, priced in models.items():
        assert priced["source"] == {"kind": "catalog"}
        assert estimate(organization, key) == float(cost(priced["structure"]))
        stored = ingested_record(organization, pro, key)
        assert stored.price_id == priced["price_id"]
        assert stored.cost == cost(priced["structure"]).quantize(QUANTUM)


def test_a_sheet_changes_snapshot_and_estimate_alike_and_ingestion_keeps_the_list_price(
    organization: Organization, dated_scenario: Scenario
) -> None:
    sheet = price_sheet_create(organization=organization, name="Contract", effective_from=dt.date(2025, 1, 1))
    price_sheet_entry_add(sheet=sheet, row={"kind": "discount", "provider": "openai", "discount": "0.2"})
    price_sheet_entry_add(
        sheet=sheet, row={"kind": "discount", "provider": "openai", "model": "gpt-4o", "discount": "0.25"}
    )
    models = snapshot_models(dated_scenario)
    pro = live_tiers(dated_scenario.product).get(name="Pro")
    for key, priced in models.items():
        rate = Decimal("0.25") if key == "openai/gpt-4o" else Decimal("0.2")
        list_price = ModelPrice.objects.get(pk=priced["price_id"]).structure
        assert priced["source"]["discount"] == str(rate)
        assert cost(priced["structure"]) == cost(list_price) * (1 - rate)
        assert estimate(organization, key) == float(cost(priced["structure"]))
        stored = ingested_record(organization, pro, key)
        assert stored.price_id == priced["price_id"]
        assert stored.cost == cost(list_price).quantize(QUANTUM) > cost(priced["structure"]).quantize(QUANTUM)
