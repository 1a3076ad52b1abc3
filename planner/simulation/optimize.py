"""Goal seek for a scenario in this process (issue #14; ``manage.py optimize``): the least change
of one plan setting of one tier (or of every paying tier: the total) that meets constraints on
month 1 or on the horizon's totals with confidence, from the scenario's frozen snapshot
(``planner.engine.decisions``). The API's and the web's jobs run the same search pass by pass
on workers (``planner.simulation.optimizations``); the request's names and defaults are here.

Units as in the rest of the API: shares and the target gross margin are fractions (0.6 = 60 %),
money in the organisation's currency. ``fee`` is the tier's monthly revenue per subscriber
(the monthly fee; a seat-priced tier's seat fee x seats; an annual price / 12).

Two settings are searched on a grid in one pass, with the Pareto frontier of the feasible
points (``scenario_grid_search``); a cost lever's share is varied on a lever of the scenario
named by its key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner.engine.decisions import (
    LEVER_SETTINGS,
    Constraint,
    Objective,
    Vary,
    current_value,
    goal_seek,
)
from planner.engine.decisions import METRICS as METRICS  # the API's constraint metrics
from planner.engine.frontier import grid_search
from planner.engine.types import EngineInput, Tier
from planner.simulation.adapter import engine_input_from_snapshot
from planner.simulation.models import Scenario
from planner.simulation.snapshot import scenario_snapshot

#: The request's setting names (``cap`` as in the API body) -> the engine's.
SETTING_NAMES = {
    "fee": "fee",
    "cap": "hard_cap",
    "hard_cap": "hard_cap",
    "included_credits": "included_credits",
    "overage_price": "overage_price",
    "routing_share": "routing_share",
    "response_cache_hit_rate": "response_cache_hit_rate",
    "cache_hit_rate": "response_cache_hit_rate",
    "prompt_cache_share": "prompt_cache_share",
    "distillation": "distillation",
    "batch_share": "batch_share",
}
#: Lattice step per setting: $0.01 for fees, 1 credit for quotas and caps, $0.0001 per credit
#: for overage prices (per-credit prices are often fractions of a cent), 0.005 for shares.
STEPS = {"fee": 0.01, "hard_cap": 1.0, "included_credits": 1.0, "overage_price": 0.0001} | {
    name: 0.005 for name in LEVER_SETTINGS
}


@dataclass(frozen=True)
class Targets:
    """Month-1 constraints, each optional: gross margin at least (a fraction), underwater share
    at most, monthly loss on underwater users at most (money), share hitting the cap at most."""

    gross_margin: float | None = None
    underwater_share: float | None = None
    underwater_loss: float | None = None
    cap_hit_share: float | None = None

    def constraints(self) -> list[Constraint]:
        result = []
        if self.gross_margin is not None:
            result.append(Constraint("gross_margin", minimum=100.0 * self.gross_margin))
        if self.underwater_share is not None:
            result.append(Constraint("underwater_share", maximum=self.underwater_share))
        if self.underwater_loss is not None:
            result.append(Constraint("underwater_loss", maximum=self.underwater_loss))
        if self.cap_hit_share is not None:
            result.append(Constraint("cap_hit_share", maximum=self.cap_hit_share))
        return result


def make_vary(
    name: str,
    *,
    current: float | None,
    minimum: float | None = None,
    maximum: float | None = None,
    step: float | None = None,
    lever: str | None = None,
) -> Vary:
    """The :class:`Vary` of setting ``name`` (a request's name: ``cap``, ``fee``...), with the
    defaults for what is not given: fees from 0 to 10x the current fee (at least 100), quotas
    and caps from 0 to 100,000 credits, overage prices from 0 to 1 per credit, shares 0 to 1;
    the step of :data:`STEPS`. Raises ValueError naming the field for an unknown setting."""
    setting = SETTING_NAMES.get(name)
    if setting is None:
        raise ValueError(
            f"vary.setting: unknown setting {name!r}; use one of {', '.join(sorted(SETTING_NAMES))}"
        )
    defaults = {
        "fee": (0.0, max(10.0 * (current or 0.0), 100.0)),
        "hard_cap": (0.0, 100_000.0),
        "included_credits": (0.0, 100_000.0),
        "overage_price": (0.0, 1.0),
    }.get(setting, (0.0, 1.0))
    return Vary(
        setting,
        defaults[0] if minimum is None else minimum,
        defaults[1] if maximum is None else maximum,
        STEPS[setting] if step is None else step,
        lever=lever,
    )


def parse_vary(text: str, *, current: float | None, lever: str | None = None) -> Vary:
    """``SETTING[:MIN:MAX:STEP]`` (MIN, MAX, STEP each optional) as a :class:`Vary` (defaults
    of :func:`make_vary`). Raises ValueError naming the part."""
    name, *parts = text.split(":")
    if len(parts) > 3:
        raise ValueError("vary: write SETTING[:MIN:MAX:STEP]")
    values: list[float | None] = [None, None, None]
    for i, part in enumerate(parts):
        if part:
            try:
                values[i] = float(part)
            except ValueError as error:
                raise ValueError(f"vary: {('min', 'max', 'step')[i]} {part!r} is not a number") from error
    try:
        return make_vary(
            name, current=current, minimum=values[0], maximum=values[1], step=values[2], lever=lever
        )
    except ValueError as error:
        raise ValueError(str(error).replace("vary.setting:", "vary:", 1)) from error


def _plan_tier(scenario: Scenario, tier: str | None) -> tuple[EngineInput, list[Tier]]:
    """The engine inputs of ``scenario``'s frozen plan and its tier named ``tier`` (every paying
    tier for ``tier`` None: the total)."""
    inputs = engine_input_from_snapshot(scenario_snapshot(scenario=scenario))
    found = [t for t in inputs.tiers if (t.is_paying if tier is None else t.key == tier)]
    if not found:
        missing = "no paying tier" if tier is None else f"no tier named {tier!r}"
        raise ValueError(f"tier: the scenario's plan has {missing}")
    return inputs, found


def _vary_of(tier: list[Tier], text: str, lever: str | None = None) -> Vary:
    """``text`` (``SETTING[:MIN:MAX:STEP]``) parsed with ``tier``'s current value of the setting
    for the default range."""
    setting = SETTING_NAMES.get(text.split(":")[0])
    return parse_vary(text, current=current_value(tier, setting) if setting else None, lever=lever)


def scenario_goal_seek(
    *,
    scenario: Scenario,
    tier: str | None,
    vary: str,
    targets: Targets,
    lever: str | None = None,
    objective: Objective = "least_change",
    confidence: float = 0.95,
    users: int | None = None,
    seed: int | None = None,
    month: int | str = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Goal seek on ``scenario``'s plan (its frozen snapshot) for ``tier`` (a tier name).
    ``vary`` is ``SETTING[:MIN:MAX:STEP]``; a cost lever's share (``routing_share``,
    ``cache_hit_rate``...) is varied on the scenario's lever with key ``lever``. Returns the
    engine's answer with ``value`` keyed by setting (``{"fee": 24.5}``, or None when
    infeasible). Raises ``SimulationInputError`` when the plan cannot be simulated and
    ``ValueError`` naming the field for a bad request."""
    inputs, found = _plan_tier(scenario, tier)
    parsed = _vary_of(found, vary, lever)
    answer = goal_seek(
        inputs,
        tier=tier,
        vary=parsed,
        constraints=targets.constraints(),
        confidence=confidence,
        objective=objective,
        month=month,
        users=scenario.simulated_users if users is None else users,
        seed=scenario.seed if seed is None else seed,
        progress=progress,
    )
    return answer | {
        "scenario": scenario.pk,
        "value": None if answer["value"] is None else {parsed.setting: answer["value"]},
        "vary": {
            "setting": parsed.setting,
            "min": parsed.minimum,
            "max": parsed.maximum,
            "step": parsed.step,
        },
    }


def scenario_grid_search(
    *,
    scenario: Scenario,
    tier: str | None,
    vary: tuple[str, str],
    targets: Targets,
    confidence: float = 0.95,
    users: int | None = None,
    seed: int | None = None,
    month: int | str = 1,
) -> dict[str, Any]:
    """Two settings of ``tier`` on a grid (``planner.engine.decisions.grid_search``): every
    point's figures and bounds, the Pareto frontier of the feasible ones and, as ``value``, the
    frontier's point with the largest margin per user (None when no point is feasible)."""
    inputs, found = _plan_tier(scenario, tier)
    parsed = [_vary_of(found, text) for text in vary]
    answer = grid_search(
        inputs,
        tier=tier,
        vary=(parsed[0], parsed[1]),
        constraints=targets.constraints(),
        confidence=confidence,
        month=month,
        users=scenario.simulated_users if users is None else users,
        seed=scenario.seed if seed is None else seed,
    )
    best = answer["frontier"][0] if answer["frontier"] else None
    names = [v.setting for v in parsed]
    return answer | {
        "scenario": scenario.pk,
        "feasible": best is not None,
        "value": None if best is None else {name: best[name] for name in names},
        "figures": best,
        "adjacent": None,
    }
