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
from planner.engine.decision_totals import LeverReading, lever_readings, paying_tiers
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


def validate_request(
    inputs: EngineInput, tier: str | None, vary: Vary, constraints: Sequence[Constraint]
) -> list[Tier]:
    """The tiers the setting changes (``tier``, or every paying tier for the total: ``tier``
    None); ``ValueError`` naming the field for anything a goal seek cannot do."""
    if tier is None:
        changed = paying_tiers(inputs)
        if not changed:
            raise ValueError("tier: the plan has no paying tier to total")
        if vary.setting == "fee":
            raise ValueError(
                "vary.setting: a fee is a tier's; for the total of all paying tiers vary a cap or a quota"
            )
    else:
        changed = [t for t in inputs.tiers if t.key == tier]
        if not changed:
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
    if vary.setting == "overage_price" and any(t.included_credits is None for t in changed):
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
    return changed


def current_value(tier: Tier | Sequence[Tier], setting: str) -> float | None:
    """The tier's current value of ``setting`` (None: unlimited / not set); of several tiers,
    their common value (None when they differ); a cost lever's share is 0 today (the baseline
    runs without the lever)."""
    if setting in LEVER_SETTINGS:
        return 0.0
    tiers = [tier] if isinstance(tier, Tier) else list(tier)
    values = {
        {
            "fee": t.monthly_price,
            "included_credits": t.included_credits,
            "overage_price": t.overage_price,
            "hard_cap": t.hard_cap,
        }[setting]
        for t in tiers
    }
    return values.pop() if len(values) == 1 else None


def _change(tier: str, *settings: tuple[str, float]) -> TierChange:
    """A plan change of ``tier`` setting each (setting, value) (``fee`` is ``monthly_price``)."""
    return TierChange(tier, **{{"fee": "monthly_price"}.get(name, name): value for name, value in settings})


def check_month(month: int | str, tier: str | None) -> None:
    """``month``: 1 (month-1 figures) or "horizon" (the horizon totals of one tier)."""
    if month not in (1, "horizon"):
        raise ValueError('month: 1 (month 1) or "horizon" (totals over the horizon)')
    if month == "horizon" and tier is None:
        raise ValueError("month: horizon totals are for one tier; name the tier")


def months_of(inputs: EngineInput, state: dict[str, Any]) -> int:
    """Months a pass simulates: one for month-1 constraints, the horizon for horizon totals."""
    return inputs.horizon_months if state.get("month", 1) == "horizon" else 1


def plan_changes(
    inputs: EngineInput, tier: str | None, *settings: tuple[str, float]
) -> tuple[TierChange, ...]:
    """The plan changes of ``tier``, or of every paying tier for the total (``tier`` None)."""
    keys = [tier] if tier is not None else [t.key for t in paying_tiers(inputs)]
    return tuple(_change(key, *settings) for key in keys)


def bounds(
    figures: dict[str, Any], n: float, confidence: float, n_capped: float | None = None
) -> dict[str, float]:
    """Each metric's one-sided bound at ``confidence`` in the direction a constraint needs:
    the upper bound of the shares and the loss, the lower bound of the gross margin. ``n``:
    the simulated users the shares rest on (``n_capped`` for the cap-hit share, if other)."""
    z = float(sps.norm.ppf(confidence))
    n_capped = n if n_capped is None else n_capped
    under = figures["underwater_share"] * n
    capped = figures["capped_share"]["share"] * n_capped
    loss = figures["monthly_loss"]
    return {
        "gross_margin": figures["gross_margin_pct"] - z * figures["gross_margin_pct_error"],
        "gross_margin_upper": figures["gross_margin_pct"] + z * figures["gross_margin_pct_error"],
        "underwater_share": stats.wilson_interval(under, n, z)[1],
        "underwater_share_lower": stats.wilson_interval(under, n, z)[0],
        "underwater_loss": loss["value"] + z * loss["mc_error"],
        "cap_hit_share": stats.wilson_interval(capped, n_capped, z)[1],
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
class Candidate:
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
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        return cls(**data)


def _candidates(
    readings: Sequence[LeverReading],
    vary: Vary,
    ks: Sequence[int],
    constraints: Sequence[Constraint],
    confidence: float,
) -> list[Candidate]:
    """The candidates ``ks`` read from one pass's lever figures of the varied tier or total
    (in the order of ``ks``)."""
    candidates = []
    for k, (figures, n_under, n_capped) in zip(ks, readings, strict=True):
        b = bounds(figures, n_under, confidence, n_capped)
        candidates.append(Candidate(k, vary.value(k), figures, b, violation(b, constraints)))
    return candidates


def _candidate_lever(inputs: EngineInput, tier: str | None, vary: Vary, k: int) -> Lever:
    """Lattice point ``k`` as a lever: a plan change of ``tier``, or the named cost lever with
    its share set to the point's value."""
    key, label = f"k{k}", f"{vary.setting}={vary.value(k):g}"
    if vary.setting in LEVER_SETTINGS:
        named = next(lever for lever in inputs.levers if lever.key == vary.lever)
        shares: dict[str, Any] = {vary.setting: vary.value(k)}
        return dataclasses.replace(named, key=key, label=label, **shares)
    return Lever(key=key, label=label, plan=plan_changes(inputs, tier, (vary.setting, vary.value(k))))


def spread(low: int, high: int, count: int) -> list[int]:
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
    tier: str | None,
    vary: Vary,
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    objective: Objective = "least_change",
    points: int | None = None,
    month: int | str = 1,
) -> dict[str, Any]:
    """The state of a goal seek before its first pass (``next`` holds the pass's lattice
    indices). Raises ``ValueError`` naming the field for a request it cannot answer."""
    if not 0.5 <= confidence < 1:
        raise ValueError("confidence: must be in [0.5, 1)")
    if objective not in ("least_change", "max_margin"):
        raise ValueError("objective: must be least_change or max_margin")
    check_month(month, tier)
    changed = validate_request(inputs, tier, vary, constraints)
    current = current_value(changed, vary.setting)
    lattice = vary.lattice_size()
    per_pass = points_per_pass(lattice) if points is None else max(2, points)
    return {
        "tier": tier,
        "paying": [t.key for t in paying_tiers(inputs)],
        "month": month,
        "vary": dataclasses.asdict(vary),
        "constraints": [dataclasses.asdict(c) for c in constraints],
        "confidence": confidence,
        "objective": objective,
        "current": current,
        "target": vary.index(current) if current is not None else float(lattice - 1),
        "per_pass": per_pass,
        "passes": 0,
        "seen": [],
        "next": spread(0, lattice - 1, per_pass),
    }


def seek_pass_input(inputs: EngineInput, state: dict[str, Any]) -> EngineInput:
    """The simulation of the state's next pass: the plan over one month with every planned
    candidate as a lever (on the same users as the baseline)."""
    vary = Vary(**state["vary"])
    levers = tuple(_candidate_lever(inputs, state["tier"], vary, k) for k in state["next"])
    return dataclasses.replace(inputs, horizon_months=months_of(inputs, state), levers=levers)


def seek_advance(state: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The state after the planned pass, given that pass's results document: the candidates
    are recorded and the next pass planned (``next`` empty when the search is over)."""
    vary = Vary(**state["vary"])
    constraints = [Constraint(**c) for c in state["constraints"]]
    readings = lever_readings(results, state["tier"], state.get("paying", ()), state.get("month", 1))
    seen = {c["k"]: Candidate.from_json(c) for c in state["seen"]}
    for candidate in _candidates(readings, vary, state["next"], constraints, state["confidence"]):
        seen[candidate.k] = candidate
    passes = state["passes"] + 1
    planned: list[int] = []
    chosen = _choose(seen, state["target"], state["objective"])
    if chosen is not None and passes < MAX_PASSES:
        low, high = _bracket(seen, chosen, state["target"], state["objective"], vary.lattice_size())
        planned = [k for k in spread(low, high, state["per_pass"]) if k not in seen]
    return state | {
        "passes": passes,
        "seen": [seen[k].to_json() for k in sorted(seen)],
        "next": planned,
    }


def seek_answer(state: dict[str, Any], *, users: int, seed: int) -> dict[str, Any]:
    """The answer of a finished goal seek: the value, its figures and the adjacent step, or
    infeasible with the candidate closest to feasibility."""
    seen = {c["k"]: Candidate.from_json(c) for c in state["seen"]}
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
        return answer | {
            "feasible": False,
            "value": None,
            "closest": candidate_json(closest),
            "adjacent": None,
        }
    adjacent = _adjacent(seen, chosen, state["target"])
    return answer | {
        "feasible": True,
        "value": chosen.value,
        "figures": candidate_json(chosen),
        "adjacent": None if adjacent is None else candidate_json(adjacent),
    }


def goal_seek(
    inputs: EngineInput,
    *,
    tier: str | None,
    vary: Vary,
    constraints: Sequence[Constraint],
    confidence: float = 0.95,
    objective: Objective = "least_change",
    users: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    points: int | None = None,
    month: int | str = 1,
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
        month=month,
    )
    while state["next"]:
        if progress:
            progress(state["passes"], MAX_PASSES)
        results = simulate(seek_pass_input(inputs, state), users=users, seed=seed)
        state = seek_advance(state, results)
    if progress:
        progress(MAX_PASSES, MAX_PASSES)
    return seek_answer(state, users=users, seed=seed)


def _choose(seen: dict[int, Candidate], target: float, objective: Objective) -> Candidate | None:
    feasible = [c for c in seen.values() if c.feasible]
    if not feasible:
        return None
    if objective == "max_margin":
        return max(feasible, key=lambda c: (c.figures["margin_per_user"]["value"], -abs(c.k - target)))
    return min(feasible, key=lambda c: (abs(c.k - target), c.k))


def _adjacent(seen: dict[int, Candidate], chosen: Candidate, target: float) -> Candidate | None:
    """The evaluated lattice neighbour of ``chosen`` on the side of the current value (for
    least change) that violates a constraint: one step beyond the answer."""
    side = 1 if target > chosen.k else -1
    for k in (chosen.k + side, chosen.k - side):
        neighbour = seen.get(k)
        if neighbour is not None and not neighbour.feasible:
            return neighbour
    return None


def _bracket(
    seen: dict[int, Candidate], chosen: Candidate, target: float, objective: Objective, lattice: int
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


def candidate_json(candidate: Candidate) -> dict[str, Any]:
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
