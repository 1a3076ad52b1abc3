"""Lifetime inputs stored in the database (tier acquisition, scenario model and fixed costs):
validated, frozen in the snapshot, read by the engine, edited from the editor and the API, and
shown on the results page and by ``manage.py simulate --json``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from planner.engine.types import ModelCost
from planner.products.services import tier_update
from planner.simulation.adapter import engine_input_from_snapshot
from planner.simulation.compare import inputs_diff
from planner.simulation.model_costs import scenario_model_cost_add, scenario_model_cost_remove
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_duplicate, scenario_update
from planner.simulation.snapshot import SNAPSHOT_SCHEMA, scenario_snapshot

pytestmark = pytest.mark.django_db


def _lifetime_inputs(scenario: Scenario) -> None:
    pro = scenario.tiers.get(name="Pro")
    tier_update(
        tier=pro,
        data={"new_subscribers_monthly": 40.0, "new_subscribers_growth_monthly": 0.05, "cac": Decimal("60")},
    )
    scenario_model_cost_add(scenario=scenario, label="Fine-tune", month=1, amount=30_000.0)
    scenario_model_cost_add(scenario=scenario, label="Retrain", month=2, amount=5_000.0, every_months=2)
    scenario_update(scenario=scenario, data={"fixed_costs_monthly": Decimal("1000")})


def test_lifetime_inputs_reach_the_engine_through_the_snapshot(scenario: Scenario) -> None:
    _lifetime_inputs(scenario)
    snapshot = scenario_snapshot(scenario=scenario)
    assert snapshot["schema"] == SNAPSHOT_SCHEMA == 4
    pro = next(t for t in snapshot["tiers"] if t["key"] == "Pro")
    assert pro["acquisition"] == {
        "new_subscribers_monthly": 40.0,
        "new_subscribers_growth_monthly": 0.05,
        "cac": pro["acquisition"]["cac"],
    }
    assert Decimal(pro["acquisition"]["cac"]) == Decimal("60")
    assert Decimal(snapshot["scenario"]["fixed_costs_monthly"]) == Decimal("1000")
    inputs = engine_input_from_snapshot(snapshot)
    engine_pro = next(t for t in inputs.tiers if t.key == "Pro")
    assert (
        engine_pro.new_subscribers_monthly,
        engine_pro.new_subscribers_growth_monthly,
        engine_pro.cac,
    ) == (
        40.0,
        0.05,
        60.0,
    )
    assert inputs.model_costs == (ModelCost("Fine-tune", 1, 30_000.0), ModelCost("Retrain", 2, 5_000.0, 2))
    assert inputs.fixed_costs_monthly == 1000.0
    # Snapshots before schema 4 read as having no acquisition, model or fixed costs.
    older = {
        **snapshot,
        "scenario": {
            k: v for k, v in snapshot["scenario"].items() if k not in ("model_costs", "fixed_costs_monthly")
        },
        "tiers": [{k: v for k, v in t.items() if k != "acquisition"} for t in snapshot["tiers"]],
    }
    old_inputs = engine_input_from_snapshot(older)
    assert old_inputs.model_costs == () and old_inputs.fixed_costs_monthly == 0.0
    assert all(t.new_subscribers_monthly == 0.0 and t.cac == 0.0 for t in old_inputs.tiers)


def test_model_costs_are_validated_and_nothing_is_saved_on_error(scenario: Scenario) -> None:
    bad: list[Any] = [
        {"label": "", "month": 1, "amount": 10.0},
        {"label": "Train", "month": 0, "amount": 10.0},
        {"label": "Train", "month": 1, "amount": -1.0},
        {"label": "Train", "month": 1, "amount": float("nan")},
        {"label": "Train", "month": 1, "amount": 10.0, "every_months": 0},
        {"label": "Train", "month": True, "amount": 10.0},
        {"label": "Train", "month": 1, "amount": 10.0, "color": "red"},
        "Train",
    ]
    for cost in bad:
        with pytest.raises(ValidationError) as caught:
            scenario_update(scenario=scenario, data={"model_costs": [cost]})
        assert "model_costs" in caught.value.message_dict, cost
    with pytest.raises(ValidationError):
        scenario_update(
            scenario=scenario, data={"model_costs": [{"label": "x", "month": 1, "amount": 1}] * 51}
        )
    with pytest.raises(ValidationError) as caught:
        tier_update(tier=scenario.tiers.get(name="Pro"), data={"new_subscribers_growth_monthly": -1.0})
    assert "new_subscribers_growth_monthly" in caught.value.message_dict
    assert Scenario.objects.get(pk=scenario.pk).model_costs == []


def test_model_costs_are_added_removed_and_duplicated(scenario: Scenario) -> None:
    _lifetime_inputs(scenario)
    copy = scenario_duplicate(scenario=scenario)
    assert copy.model_costs == scenario.model_costs and copy.fixed_costs_monthly == Decimal("1000")
    assert copy.tiers.get(name="Pro").cac == Decimal("60")
    scenario_model_cost_remove(scenario=scenario, index=0)
    assert [c["label"] for c in Scenario.objects.get(pk=scenario.pk).model_costs] == ["Retrain"]


def test_compare_sees_no_fixed_cost_change_between_an_older_run_and_a_newer_one(scenario: Scenario) -> None:
    """Snapshots before schema 4 carry no fixed costs: they had none, as a new one without any."""
    newer = scenario_snapshot(scenario=scenario)
    older = {**newer, "scenario": {k: v for k, v in newer["scenario"].items() if k != "fixed_costs_monthly"}}
    assert [c.input for c in inputs_diff([older, newer])] == []
    scenario_update(scenario=scenario, data={"fixed_costs_monthly": Decimal("500")})
    changed = inputs_diff([older, scenario_snapshot(scenario=scenario)])
    assert [(c.input, c.values) for c in changed] == [("Fixed costs per month", ("0", "500"))]
