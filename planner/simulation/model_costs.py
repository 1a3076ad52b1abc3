"""Services for a scenario's model costs (training, fine-tuning, evaluation, retrains), stored
as JSON on ``Scenario.model_costs`` (validated by
``planner.core.validators.model_costs_validate_structure``) and read by the engine's lifetime
figures (docs/ENGINE.md, "Lifetime")."""

from __future__ import annotations

from typing import Any

from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_update


def scenario_model_cost_add(
    *, scenario: Scenario, label: str, month: int, amount: float, every_months: int | None = None
) -> dict[str, Any]:
    """Add a model cost of ``amount`` in ``month`` (1 = the horizon's first), repeated every
    ``every_months`` months when given. Raises ValidationError on ``model_costs`` for a value
    out of range; nothing is saved then."""
    cost: dict[str, Any] = {"label": label, "month": month, "amount": amount, "every_months": every_months}
    scenario_update(scenario=scenario, data={"model_costs": [*scenario.model_costs, cost]})
    return cost


def scenario_model_cost_remove(*, scenario: Scenario, index: int) -> None:
    """Remove the model cost at ``index`` (0-based; nothing happens out of range)."""
    costs = [cost for i, cost in enumerate(scenario.model_costs) if i != index]
    scenario_update(scenario=scenario, data={"model_costs": costs})
