"""Services for a scenario's levers: adding one from its fields, removing one.

A lever is stored as JSON on ``Scenario.levers`` (validated by
``planner.core.validators.levers_validate_structure`` and ``Scenario.clean``): workloads,
tiers and models by id. It may change costs (routing, caches, distillation, batch), the plans of
the tiers it names (fee, quota, overage price, cap) or both; see docs/ENGINE.md "Levers".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.text import slugify

from planner.core.validators import (
    LEVER_FRACTION_FIELDS,
    LEVER_PLAN_FIELDS,
    lever_label_taken_message,
    lever_label_twin,
)
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_update


def lever_key(label: str, taken: Iterable[str]) -> str:
    """A key for a lever labelled ``label``: its slug, numbered when taken ("lever" when the
    label has no letters or digits)."""
    used = set(taken)
    base = slugify(label)[:36] or "lever"
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}-{n}"
    return key


def scenario_lever_add(
    *,
    scenario: Scenario,
    label: str,
    workloads: Iterable[int] = (),
    tiers: Iterable[int] = (),
    routing_model: int | None = None,
    changes: Mapping[str, float | None],
) -> dict[str, Any]:
    """Add a lever to ``scenario``: ``changes`` holds the cost fractions and plan fields it sets
    (``None`` values are left out). Raises ValidationError (on ``levers`` or a field) when it
    changes nothing, names tiers outside the scenario's plan, a value is out of range, or
    another lever has the same label (case and surrounding spaces ignored; on ``label``)."""
    unknown = sorted(set(changes) - {*LEVER_FRACTION_FIELDS, *LEVER_PLAN_FIELDS})
    if unknown:
        raise ValidationError({name: "Unknown lever field." for name in unknown})
    twin = lever_label_twin(scenario.levers, label)
    if twin is not None:
        raise ValidationError({"label": lever_label_taken_message(twin)})
    lever: dict[str, Any] = {
        "key": lever_key(label, (existing.get("key", "") for existing in scenario.levers)),
        "label": label,
    }
    if workloads:
        lever["workloads"] = list(workloads)
    if tiers:
        lever["tiers"] = list(tiers)
    if routing_model is not None:
        lever["routing_model"] = routing_model
    lever.update({name: value for name, value in changes.items() if value is not None})
    scenario_update(scenario=scenario, data={"levers": [*scenario.levers, lever]})
    return lever


def scenario_lever_remove(*, scenario: Scenario, key: str) -> None:
    """Remove the lever with ``key`` (nothing happens when there is none)."""
    scenario_update(
        scenario=scenario, data={"levers": [lever for lever in scenario.levers if lever.get("key") != key]}
    )
