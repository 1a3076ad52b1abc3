"""Two settings of a plan on a grid, and the Pareto frontier of the feasible points (issue #14).

Every combination of the two settings' lattice values (at most ``GRID_POINTS`` each) is a plan
lever of one one-month simulation on the baseline's users, as the goal seek's candidates are
(``planner.engine.decisions``): each point's figures, bounds and feasibility, and the frontier of
the feasible points. Resumable like the goal seek: ``grid_begin``, ``grid_pass_input``,
``grid_advance``, ``grid_answer``; ``grid_search`` runs them in one process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from planner.engine.decision_totals import lever_readings, paying_tiers
from planner.engine.decisions import (
    LEVER_SETTINGS,
    Candidate,
    Constraint,
    Vary,
    bounds,
    candidate_json,
    check_month,
    months_of,
    plan_changes,
    spread,
    validate_request,
    violation,
)
from planner.engine.simulate import simulate
from planner.engine.types import EngineInput, Lever

#: At most this many candidates per setting on a two-setting grid (one pass).
GRID_POINTS = 15


def grid_begin(
    inputs: EngineInput,
    *,
    tier: str | None,
    vary: tuple[Vary, Vary],
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    points: int = GRID_POINTS,
    month: int | str = 1,
) -> dict[str, Any]:
    """The state of a two-setting grid before its one pass (``next``: the (a, b) lattice index
    pairs). Raises ``ValueError`` naming the field for a request it cannot answer."""
    check_month(month, tier)
    if not 0.5 <= confidence < 1:
        raise ValueError("confidence: must be in [0.5, 1)")
    first, second = vary
    if first.setting == second.setting:
        raise ValueError("vary[1].setting: vary two different settings")
    if {first.setting, second.setting} & set(LEVER_SETTINGS):
        raise ValueError(
            "vary: a grid varies two plan settings (a cost lever's share: one setting at a time)"
        )
    validate_request(inputs, tier, first, constraints)
    validate_request(inputs, tier, second, constraints)
    a_ks = spread(0, first.lattice_size() - 1, points)
    b_ks = spread(0, second.lattice_size() - 1, points)
    return {
        "tier": tier,
        "paying": [t.key for t in paying_tiers(inputs)],
        "month": month,
        "vary": [dataclasses.asdict(first), dataclasses.asdict(second)],
        "constraints": [dataclasses.asdict(c) for c in constraints],
        "confidence": confidence,
        "passes": 0,
        "next": [[a, b] for a in a_ks for b in b_ks],
        "grid": [],
    }


def grid_pass_input(inputs: EngineInput, state: dict[str, Any]) -> EngineInput:
    """The grid's one simulation: every (a, b) point a plan lever over one month."""
    first, second = (Vary(**v) for v in state["vary"])
    levers = tuple(
        Lever(
            key=f"g{i}",
            label=f"{first.setting}={first.value(a):g}, {second.setting}={second.value(b):g}",
            plan=plan_changes(
                inputs, state["tier"], (first.setting, first.value(a)), (second.setting, second.value(b))
            ),
        )
        for i, (a, b) in enumerate(state["next"])
    )
    return dataclasses.replace(inputs, horizon_months=months_of(inputs, state), levers=levers)


def grid_advance(state: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The state after the grid's pass: every point's figures, bounds and feasibility."""
    first, second = (Vary(**v) for v in state["vary"])
    constraints = [Constraint(**c) for c in state["constraints"]]
    readings = lever_readings(results, state["tier"], state.get("paying", ()), state.get("month", 1))
    grid = []
    for (a, b), (figures, n_under, n_capped) in zip(state["next"], readings, strict=True):
        b_bounds = bounds(figures, n_under, state["confidence"], n_capped)
        candidate = Candidate(0, 0.0, figures, b_bounds, violation(b_bounds, constraints))
        grid.append(
            {first.setting: first.value(a), second.setting: second.value(b)} | candidate_json(candidate)
        )
    return state | {"passes": state["passes"] + 1, "next": [], "grid": grid}


def grid_answer(state: dict[str, Any], *, users: int, seed: int) -> dict[str, Any]:
    """Every point of the finished grid and the Pareto frontier of the feasible ones."""
    feasible = [point for point in state["grid"] if point["feasible"]]
    return {
        "tier": state["tier"],
        "settings": [v["setting"] for v in state["vary"]],
        "confidence": state["confidence"],
        "users": users,
        "seed": seed,
        "grid": state["grid"],
        "frontier": pareto_frontier(feasible),
    }


def grid_search(
    inputs: EngineInput,
    *,
    tier: str | None,
    vary: tuple[Vary, Vary],
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    users: int,
    seed: int,
    points: int = GRID_POINTS,
    month: int | str = 1,
) -> dict[str, Any]:
    """Two settings on a grid of at most ``points x points`` lattice values, in one pass (every
    combination a plan lever on the baseline's users): each point's figures, bounds and
    feasibility, and the **Pareto frontier** of the feasible points: those no other feasible
    point beats on margin per user (higher), underwater share and cap-hit share (both lower)
    at once."""
    state = grid_begin(
        inputs,
        tier=tier,
        vary=vary,
        constraints=constraints,
        confidence=confidence,
        points=points,
        month=month,
    )
    results = simulate(grid_pass_input(inputs, state), users=users, seed=seed)
    return grid_answer(grid_advance(state, results), users=users, seed=seed)


def pareto_frontier(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points no other point dominates: at least as good on margin per user (higher),
    underwater share and cap-hit share (lower), and better on one. In margin order, best first."""

    def score(p: dict[str, Any]) -> tuple[float, float, float]:
        return (p["margin_per_user"]["value"], -p["underwater_share"]["value"], -p["cap_hit_share"]["value"])

    def dominates(x: tuple[float, ...], y: tuple[float, ...]) -> bool:
        return all(a >= b for a, b in zip(x, y, strict=True)) and x != y

    scores = [score(p) for p in points]
    front = [p for p, s in zip(points, scores, strict=True) if not any(dominates(o, s) for o in scores)]
    return sorted(front, key=lambda p: -p["margin_per_user"]["value"])
