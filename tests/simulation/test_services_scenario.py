"""Scenario services: creation with a stored seed, validated updates that change nothing on error."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from planner.products.models import Product, WorkloadModel
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create, scenario_update

pytestmark = pytest.mark.django_db

PRICE_DATE = datetime.date(2026, 11, 1)


def test_scenario_create_draws_and_stores_a_seed(product: Product) -> None:
    scenario = scenario_create(product=product, name="Base", price_date=PRICE_DATE)
    assert Scenario.objects.get(pk=scenario.pk).seed == scenario.seed
    fixed = scenario_create(product=product, name="Fixed", price_date=PRICE_DATE, seed=42)
    assert fixed.seed == 42


def test_scenario_create_validates_fields_and_levers(product: Product) -> None:
    with pytest.raises(ValidationError) as caught:
        scenario_create(
            product=product,
            name="Bad",
            horizon_months=0,
            simulated_users=10,
            levers=[{"key": "x", "label": "X", "distillation": 2}],
        )
    assert {"horizon_months", "simulated_users", "levers"} <= set(caught.value.message_dict)
    assert not Scenario.objects.exists()


def test_scenario_create_accepts_routing_lever(product: Product) -> None:
    model_id = WorkloadModel.objects.filter(workload__product=product).values_list("model_id", flat=True)[0]
    scenario = scenario_create(
        product=product,
        name="Levers",
        price_date=PRICE_DATE,
        levers=[{"key": "route", "label": "Route 50%", "routing_model": model_id, "routing_share": 0.5}],
    )
    assert scenario.levers[0]["routing_model"] == model_id


def test_scenario_update_changes_given_fields(product: Product) -> None:
    scenario = scenario_create(product=product, name="Base", price_date=PRICE_DATE)
    scenario_update(scenario=scenario, data={"horizon_months": 24, "target_margin": 0.7})
    stored = Scenario.objects.get(pk=scenario.pk)
    assert (stored.horizon_months, stored.target_margin) == (24, 0.7)


def test_scenario_update_rejects_invalid_values_and_unknown_fields(product: Product) -> None:
    scenario = scenario_create(product=product, name="Base", price_date=PRICE_DATE, horizon_months=12)
    with pytest.raises(ValidationError) as caught:
        scenario_update(scenario=scenario, data={"horizon_months": 100})
    assert "horizon_months" in caught.value.message_dict
    assert scenario.horizon_months == 12
    with pytest.raises(ValidationError) as caught:
        scenario_update(scenario=scenario, data={"product": product, "id": 5})
    assert {"product", "id"} <= set(caught.value.message_dict)
    assert Scenario.objects.get(pk=scenario.pk).horizon_months == 12
