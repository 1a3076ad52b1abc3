"""Sensitivity of a scenario (issue #14, item 3): the tornado per tier, computed in this process
from the scenario's frozen snapshot (``planner.engine.sensitivity``).

Units as in the engine's answer: gross margin in percent, shares as fractions, money in the
organisation's currency. Every pass uses the scenario's simulated users and seed unless given,
so the bars' intervals are paired against the baseline (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planner.engine.sensitivity import sensitivity
from planner.simulation.adapter import engine_input_from_snapshot
from planner.simulation.models import Scenario
from planner.simulation.snapshot import scenario_snapshot


def scenario_sensitivity(
    *,
    scenario: Scenario,
    tier: str | None = None,
    ranges: dict[str, Any] | None = None,
    users: int | None = None,
    seed: int | None = None,
    metric: str = "gross_margin",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The tornado of ``scenario``'s plan (its frozen snapshot): every tier's, or only ``tier``'s
    (a tier name). ``ranges`` overrides the default ranges (``planner.engine.sensitivity.
    DEFAULT_RANGES``; a family set to None is left out). Raises ``SimulationInputError`` when the
    plan cannot be simulated and ``ValueError`` naming the field (``tier``, ``ranges.<family>``,
    ``metric``) for a bad request. The answer carries ``scenario`` (its id)."""
    inputs = engine_input_from_snapshot(scenario_snapshot(scenario=scenario))
    if tier is not None and tier not in {t.key for t in inputs.tiers}:
        raise ValueError(f"tier: the scenario's plan has no tier named {tier!r}")
    answer = sensitivity(
        inputs,
        users=scenario.simulated_users if users is None else users,
        seed=scenario.seed if seed is None else seed,
        ranges=ranges,
        tier=tier,
        metric=metric,
        progress=progress,
    )
    return {"scenario": scenario.pk, **answer}
