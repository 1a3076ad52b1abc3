"""Goal seek: the least change of one plan setting of one tier that meets constraints with
confidence (issue #14, engine part).

A **setting** of a tier's plan (``fee``: the monthly revenue per subscriber, ``included_credits``,
``overage_price``, ``hard_cap``) varies over a lattice ``minimum + k x step``. **Constraints**
are on the tier's month-1 figures: ``gross_margin`` (percent) at least, ``underwater_share``
at most, ``underwater_loss`` (the tier's monthly loss on underwater users, money) at most,
``cap_hit_share`` at most. Each holds at the stated confidence: its one-sided bound (the point
estimate plus or minus ``z x`` its standard error, z the normal quantile of the confidence;
Wilson bounds for the shares), never the point estimate.

Candidates are plan-only levers of one simulation (``planner.engine.types.TierChange``), so
every candidate is evaluated on the same simulated users as the baseline (common random
numbers) and only re-reads caps, revenue and table lookups; a month-1 goal seek runs with a
one-month horizon. At most ``MAX_PASSES`` passes: a grid over the range, then refinements of the
bracket between the chosen feasible candidate and its infeasible neighbour, each pass with
``points_per_pass`` candidates so that three passes reach the lattice's resolution. Every pass
draws the same users (same seed), so candidates of different passes are comparable.

Objectives: ``least_change`` picks the feasible value closest to the tier's current one (the
current value itself when it is feasible; for a hard cap on an uncapped tier, the largest
feasible cap), ``max_margin`` the feasible value with the largest margin per user. The answer
holds the value, its figures and bounds, the adjacent lattice value on the other side of the
bracket with its figures (which violates a constraint), or, when nothing is feasible, the
candidate closest to feasibility.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scipy import stats as sps

from planner.engine import stats
from planner.engine.simulate import simulate
from planner.engine.types import EngineInput, Lever, Tier, TierChange

MAX_PASSES = 3
#: Lattice points of one setting at most: 3 passes of 102 candidates reach each of them.
MAX_LATTICE = 1_000_000
PLAN_SETTINGS = ("fee", "included_credits", "overage_price", "hard_cap")
#: A cost lever's share, varied on the lever the request names (``Vary.lever``).
LEVER_SETTINGS = (
    "routing_share",
    "response_cache_hit_rate",
    "prompt_cache_share",
    "distillation",
    "batch_share",
)
SETTINGS = PLAN_SETTINGS + LEVER_SETTINGS
METRICS = ("gross_margin", "underwater_share", "underwater_loss", "cap_hit_share")
Objective = Literal["least_change", "max_margin"]


@dataclass(frozen=True)
class Vary:
    """The setting to vary over ``minimum + k x step`` up to ``maximum``; for a cost lever's
    share (``LEVER_SETTINGS``), ``lever`` is the key of the scenario's lever to vary."""

    setting: str
    minimum: float
    maximum: float
    step: float
    lever: str | None = None

    def lattice_size(self) -> int:
        return int(math.floor((self.maximum - self.minimum) / self.step + 1e-9)) + 1

    def value(self, k: int) -> float:
        return round(self.minimum + k * self.step, 10)

    def index(self, value: float) -> float:
        """Position of ``value`` on the lattice (fractional between points)."""
        return (value - self.minimum) / self.step


@dataclass(frozen=True)
class Constraint:
    """``metric`` at most ``maximum`` or at least ``minimum`` (exactly one is set)."""

    metric: str
    minimum: float | None = None
    maximum: float | None = None


def validate_request(inputs: EngineInput, tier: str, vary: Vary, constraints: Sequence[Constraint]) -> Tier:
    """The tier to vary; ``ValueError`` naming the field for anything a goal seek cannot do."""
    found = next((t for t in inputs.tiers if t.key == tier), None)
    if found is None:
        raise ValueError(f"tier: no tier named {tier!r}")
    if vary.setting not in SETTINGS:
        raise ValueError(f"vary.setting: must be one of {', '.join(SETTINGS)}")
    for name, number in (("min", vary.minimum), ("max", vary.maximum), ("step", vary.step)):
        if not math.isfinite(number):
            raise ValueError(f"vary.{name}: must be a finite number")
    if vary.minimum < 0:
        raise ValueError("vary.min: must be at least 0")
    if vary.step <= 0:
        raise ValueError("vary.step: must be greater than 0")
    if vary.maximum < vary.minimum:
        raise ValueError("vary.max: must be at least min")
    steps = (vary.maximum - vary.minimum) / vary.step
    if not steps < MAX_LATTICE:  # also an overflow to infinity
        raise ValueError(
            f"vary.step: the range holds more than {MAX_LATTICE:,} steps (a larger step or a narrower range)"
        )
    if vary.setting in LEVER_SETTINGS:
        if not any(lever.key == vary.lever for lever in inputs.levers):
            raise ValueError(
                f"vary.lever: the scenario has no lever {vary.lever!r} to vary {vary.setting} on"
            )
        if vary.maximum > 1:
            raise ValueError("vary.max: a share is a fraction in [0, 1]")
        if vary.setting == "routing_share":
            lever = next(lever for lever in inputs.levers if lever.key == vary.lever)
            if lever.routing_model is None:
                raise ValueError("vary.lever: the lever routes to no model, so it has no routing share")
    if vary.setting == "overage_price" and found.included_credits is None:
        raise ValueError("vary.setting: the tier has no included credits, so no overage to price")
    if not constraints:
        raise ValueError("constraints: give at least one")
    for i, c in enumerate(constraints):
        if c.metric not in METRICS:
            raise ValueError(f"constraints[{i}].metric: must be one of {', '.join(METRICS)}")
        if (c.minimum is None) == (c.maximum is None):
            raise ValueError(f"constraints[{i}]: give exactly one of min and max")
        bound = c.minimum if c.maximum is None else c.maximum
        assert bound is not None
        side = "max" if c.minimum is None else "min"
        if not math.isfinite(bound):
            raise ValueError(f"constraints[{i}].{side}: the bound must be finite")
        if c.metric in ("underwater_share", "cap_hit_share") and not 0 <= bound <= 1:
            raise ValueError(f"constraints[{i}].{side}: a share is a fraction in [0, 1]")
    return found


def current_value(tier: Tier, setting: str) -> float | None:
    """The tier's current value of ``setting`` (None: unlimited / not set); a cost lever's
    share is 0 today (the baseline runs without the lever)."""
    if setting in LEVER_SETTINGS:
        return 0.0
    return {
        "fee": tier.monthly_price,
        "included_credits": tier.included_credits,
        "overage_price": tier.overage_price,
        "hard_cap": tier.hard_cap,
    }[setting]


def _change(tier: str, *settings: tuple[str, float]) -> TierChange:
    """A plan change of ``tier`` setting each (setting, value) (``fee`` is ``monthly_price``)."""
    return TierChange(tier, **{{"fee": "monthly_price"}.get(name, name): value for name, value in settings})


def bounds(figures: dict[str, Any], n: int, confidence: float) -> dict[str, float]:
    """Each metric's one-sided bound at ``confidence`` in the direction a constraint needs:
    the upper bound of the shares and the loss, the lower bound of the gross margin."""
    z = float(sps.norm.ppf(confidence))
    under = figures["underwater_share"] * n
    capped = figures["capped_share"]["share"] * n
    loss = figures["monthly_loss"]
    return {
        "gross_margin": figures["gross_margin_pct"] - z * figures["gross_margin_pct_error"],
        "gross_margin_upper": figures["gross_margin_pct"] + z * figures["gross_margin_pct_error"],
        "underwater_share": stats.wilson_interval(under, n, z)[1],
        "underwater_share_lower": stats.wilson_interval(under, n, z)[0],
        "underwater_loss": loss["value"] + z * loss["mc_error"],
        "cap_hit_share": stats.wilson_interval(capped, n, z)[1],
    }


def violation(bound: dict[str, float], constraints: Sequence[Constraint]) -> float:
    """How far the bounds are from meeting every constraint, relative to each target (0: met)."""
    worst = 0.0
    for c in constraints:
        value = bound[c.metric]
        if c.maximum is not None:
            gap = value - c.maximum
            scale = max(abs(c.maximum), 1e-9)
        else:
            assert c.minimum is not None
            gap = c.minimum - value
            scale = max(abs(c.minimum), 1e-9)
        worst = max(worst, gap / scale)
    return worst


@dataclass
class _Candidate:
    k: int
    value: float
    figures: dict[str, Any]
    bounds: dict[str, float]
    violation: float

    @property
    def feasible(self) -> bool:
        return self.violation <= 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Candidate:
        return cls(**data)


def _candidates(
    tier_result: dict[str, Any],
    vary: Vary,
    ks: Sequence[int],
    constraints: Sequence[Constraint],
    confidence: float,
) -> list[_Candidate]:
    """The candidates ``ks`` read from one pass's results of the varied tier (its levers, in
    the order of ``ks``)."""
    n = int(tier_result["simulated_users"])
    candidates = []
    for k, figures in zip(ks, tier_result["levers"], strict=True):
        b = bounds(figures, n, confidence)
        candidates.append(_Candidate(k, vary.value(k), figures, b, violation(b, constraints)))
    return candidates


def _candidate_lever(inputs: EngineInput, tier: str, vary: Vary, k: int) -> Lever:
    """Lattice point ``k`` as a lever: a plan change of ``tier``, or the named cost lever with
    its share set to the point's value."""
    key, label = f"k{k}", f"{vary.setting}={vary.value(k):g}"
    if vary.setting in LEVER_SETTINGS:
        named = next(lever for lever in inputs.levers if lever.key == vary.lever)
        shares: dict[str, Any] = {vary.setting: vary.value(k)}
        return dataclasses.replace(named, key=key, label=label, **shares)
    return Lever(key=key, label=label, plan=(_change(tier, (vary.setting, vary.value(k))),))


def _spread(low: int, high: int, count: int) -> list[int]:
    """Up to ``count`` lattice indices evenly spread over [low, high], both ends included."""
    if high - low + 1 <= count:
        return list(range(low, high + 1))
    step = (high - low) / (count - 1)
    return sorted({low + round(i * step) for i in range(count)})


def points_per_pass(lattice: int) -> int:
    """Candidates per pass so that ``MAX_PASSES`` passes reach every lattice point: the cube
    root of the lattice size (at least 10)."""
    return max(10, math.ceil(lattice ** (1 / MAX_PASSES)) + 2)


# --- Goal seek as resumable passes --------------------------------------------------------
# A job runs each pass's simulation in blocks on workers and keeps the state between passes in
# the database, so the state is a JSON-ready dict: ``seek_begin`` validates the request and
# plans pass 1, ``seek_pass_input`` is the simulation of the planned pass, ``seek_advance``
# reads its results and plans the next pass (or finishes), ``seek_answer`` is the answer.


def seek_begin(
    inputs: EngineInput,
    *,
    tier: str,
    vary: Vary,
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    objective: Objective = "least_change",
    points: int | None = None,
) -> dict[str, Any]:
    """The state of a goal seek before its first pass (``next`` holds the pass's lattice
    indices). Raises ``ValueError`` naming the field for a request it cannot answer."""
    if not 0.5 <= confidence < 1:
        raise ValueError("confidence: must be in [0.5, 1)")
    if objective not in ("least_change", "max_margin"):
        raise ValueError("objective: must be least_change or max_margin")
    found = validate_request(inputs, tier, vary, constraints)
    current = current_value(found, vary.setting)
    lattice = vary.lattice_size()
    per_pass = points_per_pass(lattice) if points is None else max(2, points)
    return {
        "tier": tier,
        "vary": dataclasses.asdict(vary),
        "constraints": [dataclasses.asdict(c) for c in constraints],
        "confidence": confidence,
        "objective": objective,
        "current": current,
        "target": vary.index(current) if current is not None else float(lattice - 1),
        "per_pass": per_pass,
        "passes": 0,
        "seen": [],
        "next": _spread(0, lattice - 1, per_pass),
    }


def seek_pass_input(inputs: EngineInput, state: dict[str, Any]) -> EngineInput:
    """The simulation of the state's next pass: the plan over one month with every planned
    candidate as a lever (on the same users as the baseline)."""
    vary = Vary(**state["vary"])
    levers = tuple(_candidate_lever(inputs, state["tier"], vary, k) for k in state["next"])
    return dataclasses.replace(inputs, horizon_months=1, levers=levers)


def seek_advance(state: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The state after the planned pass, given that pass's results document: the candidates
    are recorded and the next pass planned (``next`` empty when the search is over)."""
    vary = Vary(**state["vary"])
    constraints = [Constraint(**c) for c in state["constraints"]]
    tier_result = next(t for t in results["tiers"] if t["key"] == state["tier"])
    seen = {c["k"]: _Candidate.from_json(c) for c in state["seen"]}
    for candidate in _candidates(tier_result, vary, state["next"], constraints, state["confidence"]):
        seen[candidate.k] = candidate
    passes = state["passes"] + 1
    planned: list[int] = []
    chosen = _choose(seen, state["target"], state["objective"])
    if chosen is not None and passes < MAX_PASSES:
        low, high = _bracket(seen, chosen, state["target"], state["objective"], vary.lattice_size())
        planned = [k for k in _spread(low, high, state["per_pass"]) if k not in seen]
    return state | {
        "passes": passes,
        "seen": [seen[k].to_json() for k in sorted(seen)],
        "next": planned,
    }


def seek_answer(state: dict[str, Any], *, users: int, seed: int) -> dict[str, Any]:
    """The answer of a finished goal seek: the value, its figures and the adjacent step, or
    infeasible with the candidate closest to feasibility."""
    seen = {c["k"]: _Candidate.from_json(c) for c in state["seen"]}
    chosen = _choose(seen, state["target"], state["objective"])
    answer: dict[str, Any] = {
        "tier": state["tier"],
        "setting": state["vary"]["setting"],
        "current": state["current"],
        "confidence": state["confidence"],
        "objective": state["objective"],
        "passes": state["passes"],
        "candidates": len(seen),
        "users": users,
        "seed": seed,
    }
    if chosen is None:
        closest = min(seen.values(), key=lambda c: c.violation)
        return answer | {"feasible": False, "value": None, "closest": _json(closest), "adjacent": None}
    adjacent = _adjacent(seen, chosen, state["target"])
    return answer | {
        "feasible": True,
        "value": chosen.value,
        "figures": _json(chosen),
        "adjacent": None if adjacent is None else _json(adjacent),
    }


def goal_seek(
    inputs: EngineInput,
    *,
    tier: str,
    vary: Vary,
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    objective: Objective = "least_change",
    users: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    points: int | None = None,
) -> dict[str, Any]:
    """Find the setting's value in this process (see the module docstring); ``points``:
    candidates per pass (default :func:`points_per_pass`). Raises ``ValueError`` naming the
    field for a request it cannot answer."""
    state = seek_begin(
        inputs,
        tier=tier,
        vary=vary,
        constraints=constraints,
        confidence=confidence,
        objective=objective,
        points=points,
    )
    while state["next"]:
        if progress:
            progress(state["passes"], MAX_PASSES)
        results = simulate(seek_pass_input(inputs, state), users=users, seed=seed)
        state = seek_advance(state, results)
    if progress:
        progress(MAX_PASSES, MAX_PASSES)
    return seek_answer(state, users=users, seed=seed)


def _choose(seen: dict[int, _Candidate], target: float, objective: Objective) -> _Candidate | None:
    feasible = [c for c in seen.values() if c.feasible]
    if not feasible:
        return None
    if objective == "max_margin":
        return max(feasible, key=lambda c: (c.figures["margin_per_user"]["value"], -abs(c.k - target)))
    return min(feasible, key=lambda c: (abs(c.k - target), c.k))


def _adjacent(seen: dict[int, _Candidate], chosen: _Candidate, target: float) -> _Candidate | None:
    """The evaluated lattice neighbour of ``chosen`` on the side of the current value (for
    least change) that violates a constraint: one step beyond the answer."""
    side = 1 if target > chosen.k else -1
    for k in (chosen.k + side, chosen.k - side):
        neighbour = seen.get(k)
        if neighbour is not None and not neighbour.feasible:
            return neighbour
    return None


def _bracket(
    seen: dict[int, _Candidate], chosen: _Candidate, target: float, objective: Objective, lattice: int
) -> tuple[int, int]:
    """The lattice range to refine next: between ``chosen`` and the nearest evaluated point on
    the side of the current value (least change), or around ``chosen`` (max margin)."""
    evaluated = sorted(seen)
    i = evaluated.index(chosen.k)
    if objective == "least_change":
        if target > chosen.k and i + 1 < len(evaluated):
            return chosen.k, evaluated[i + 1]
        if target < chosen.k and i > 0:
            return evaluated[i - 1], chosen.k
        return chosen.k, chosen.k
    low = evaluated[i - 1] if i > 0 else chosen.k
    high = evaluated[i + 1] if i + 1 < len(evaluated) else chosen.k
    return low, min(high, lattice - 1)


def _json(candidate: _Candidate) -> dict[str, Any]:
    figures = candidate.figures
    return {
        "value": candidate.value,
        "feasible": candidate.feasible,
        "bounds": {k: v for k, v in candidate.bounds.items() if not k.endswith(("_upper", "_lower"))},
        "gross_margin_pct": {
            "value": figures["gross_margin_pct"],
            "mc_error": figures["gross_margin_pct_error"],
        },
        "underwater_share": {
            "value": figures["underwater_share"],
            "interval": figures["underwater_interval"],
        },
        "underwater_loss": figures["monthly_loss"],
        "cap_hit_share": {
            "value": figures["capped_share"]["share"],
            "interval": figures["capped_share"]["interval"],
        },
        "margin_per_user": figures["margin_per_user"],
        "revenue_per_user": figures["revenue_per_user"],
    }


#: At most this many candidates per setting on a two-setting grid (one pass).
GRID_POINTS = 15


def grid_begin(
    inputs: EngineInput,
    *,
    tier: str,
    vary: tuple[Vary, Vary],
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    points: int = GRID_POINTS,
) -> dict[str, Any]:
    """The state of a two-setting grid before its one pass (``next``: the (a, b) lattice index
    pairs). Raises ``ValueError`` naming the field for a request it cannot answer."""
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
    a_ks = _spread(0, first.lattice_size() - 1, points)
    b_ks = _spread(0, second.lattice_size() - 1, points)
    return {
        "tier": tier,
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
            plan=(
                _change(state["tier"], (first.setting, first.value(a)), (second.setting, second.value(b))),
            ),
        )
        for i, (a, b) in enumerate(state["next"])
    )
    return dataclasses.replace(inputs, horizon_months=1, levers=levers)


def grid_advance(state: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The state after the grid's pass: every point's figures, bounds and feasibility."""
    first, second = (Vary(**v) for v in state["vary"])
    constraints = [Constraint(**c) for c in state["constraints"]]
    tier_result = next(t for t in results["tiers"] if t["key"] == state["tier"])
    n = int(tier_result["simulated_users"])
    grid = []
    for (a, b), figures in zip(state["next"], tier_result["levers"], strict=True):
        b_bounds = bounds(figures, n, state["confidence"])
        candidate = _Candidate(0, 0.0, figures, b_bounds, violation(b_bounds, constraints))
        grid.append({first.setting: first.value(a), second.setting: second.value(b)} | _json(candidate))
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
    tier: str,
    vary: tuple[Vary, Vary],
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    users: int,
    seed: int,
    points: int = GRID_POINTS,
) -> dict[str, Any]:
    """Two settings on a grid of at most ``points x points`` lattice values, in one pass (every
    combination a plan lever on the baseline's users): each point's figures, bounds and
    feasibility, and the **Pareto frontier** of the feasible points: those no other feasible
    point beats on margin per user (higher), underwater share and cap-hit share (both lower)
    at once."""
    state = grid_begin(
        inputs, tier=tier, vary=vary, constraints=constraints, confidence=confidence, points=points
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
