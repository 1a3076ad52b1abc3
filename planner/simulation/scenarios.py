"""Services for scenarios: the what-ifs a product is simulated under."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.core.services import model_update
from planner.products.models import Product
from planner.simulation.models import Scenario
from planner.simulation.overrides import overrides_copy
from planner.simulation.plans import levers_retargeted, plan_start

#: Fields ``scenario_update`` may change, in display order (the web form, the API serializer and
#: the scenario document use them). The product is fixed: a scenario's levers refer to the
#: product's workloads.
SCENARIO_FIELDS = (
    "name",
    "horizon_months",
    "simulated_users",
    "seed",
    "levers",
    "price_trend_yearly",
    "usage_growth_monthly",
    "discount_rate_yearly",
    "target_margin",
    "price_date",
    "model_costs",
    "fixed_costs_monthly",
)


def scenario_create(
    *,
    product: Product,
    name: str,
    price_date: datetime.date | None = None,
    horizon_months: int = 12,
    simulated_users: int = 200_000,
    seed: int | None = None,
    levers: Sequence[Mapping[str, Any]] = (),
    price_trend_yearly: float = 0.0,
    usage_growth_monthly: float = 0.0,
    discount_rate_yearly: float = 0.10,
    target_margin: float = 0.5,
    model_costs: Sequence[Mapping[str, Any]] = (),
    fixed_costs_monthly: Decimal = Decimal(0),
    plan_from: Scenario | None = None,
) -> Scenario:
    """Create a scenario of ``product`` with its own plan: a copy of the product's live plan,
    or of ``plan_from``'s plan and workload overrides (a scenario of the same product).

    ``seed=None`` draws a random seed, stored so every run can be reproduced; ``price_date``
    (default: today) pins the catalog prices. ``levers`` are lever objects as described in
    ``planner.core.validators.levers_validate_structure`` (models and workloads by id); the
    tiers a lever names are tiers of the plan the scenario starts from (live tiers, or
    ``plan_from``'s), and are stored as the ids of their copies in the new plan.
    New scenarios assume flat token prices and no usage growth unless told otherwise.
    ``model_costs`` (``planner.core.validators.model_costs_validate_structure``) and
    ``fixed_costs_monthly`` enter the lifetime figures only.
    """
    if plan_from is not None and plan_from.product_id != product.pk:
        raise ValidationError({"plan_from": "Start from a scenario of the same product."})
    if Scenario.objects.filter(product=product, name=name).exists():
        raise ValidationError({"name": f"A scenario named {name!r} already exists in this product."})
    scenario = Scenario(
        product=product,
        name=name,
        horizon_months=horizon_months,
        simulated_users=simulated_users,
        price_trend_yearly=price_trend_yearly,
        usage_growth_monthly=usage_growth_monthly,
        discount_rate_yearly=discount_rate_yearly,
        target_margin=target_margin,
        model_costs=[dict(cost) for cost in model_costs],
        fixed_costs_monthly=fixed_costs_monthly,
    )
    if seed is not None:
        scenario.seed = seed
    if price_date is not None:
        scenario.price_date = price_date
    scenario.levers = [dict(lever) for lever in levers]
    scenario.full_clean()  # the levers' tiers are checked once the plan exists
    with transaction.atomic():
        scenario.save()
        copies = plan_start(scenario=scenario, source=plan_from)
        if plan_from is not None:
            overrides_copy(source=plan_from, target=scenario)
        if any(lever.get("tiers") for lever in scenario.levers):
            scenario.levers = levers_retargeted(scenario.levers, copies)
            scenario.full_clean()
            scenario.save(update_fields=["levers"])
    return scenario


def scenario_update(*, scenario: Scenario, data: Mapping[str, Any]) -> Scenario:
    """Change the fields in ``data`` (names from ``SCENARIO_FIELDS``), validate the whole
    scenario and save. Unknown field names are rejected by name; on a validation error nothing
    is saved and ``scenario`` is reloaded from the database."""
    model_update(instance=scenario, fields=SCENARIO_FIELDS, data=data)
    return scenario


def scenario_duplicate(*, scenario: Scenario, name: str | None = None) -> Scenario:
    """A copy of ``scenario`` in the same product: its plan (tiers and usage, standing for the
    same live tiers), settings and levers (which name the product's workloads), with the same
    seed, so a variant's runs differ from the original's only by the edits made. ``name``
    defaults to "<name> (copy)", numbered when taken."""
    if name is None:
        taken = set(Scenario.objects.filter(product_id=scenario.product_id).values_list("name", flat=True))
        name, n = f"{scenario.name} (copy)", 1
        while name in taken:
            n += 1
            name = f"{scenario.name} (copy {n})"
    return scenario_create(
        product=scenario.product,
        name=name,
        price_date=scenario.price_date,
        horizon_months=scenario.horizon_months,
        simulated_users=scenario.simulated_users,
        seed=scenario.seed,
        levers=scenario.levers,
        price_trend_yearly=scenario.price_trend_yearly,
        usage_growth_monthly=scenario.usage_growth_monthly,
        discount_rate_yearly=scenario.discount_rate_yearly,
        target_margin=scenario.target_margin,
        model_costs=scenario.model_costs,
        fixed_costs_monthly=scenario.fixed_costs_monthly,
        plan_from=scenario,
    )


def scenario_delete(*, scenario: Scenario) -> None:
    """Delete ``scenario`` and its runs (active runs stop at their next block: their row is gone)."""
    scenario.delete()
