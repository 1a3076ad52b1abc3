"""Decision jobs (issue #14): optimizations and sensitivity analyses.

Optimizations: a goal seek or a two-setting grid over a scenario's frozen
plan, run by workers as passes of simulations (``planner.simulation.passes``) through the run
machinery: blocks stored by upsert, the done counter, the merge the last block enqueues, the
reaper, cancel. Stored as a :class:`SimulationRun` of kind ``optimization`` whose ``spec`` holds
the request and the search's state; its ``results`` hold the answer.

The request, in the API's units: ``tier`` (a tier name of the scenario's plan), ``vary`` (one
setting: a goal seek; two: a grid and its Pareto frontier), ``constraints`` (``metric`` and
``min`` or ``max``: gross margin as a fraction, shares as fractions, the underwater loss in
money), ``confidence``, ``objective`` and ``month``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from planner.engine import decisions, frontier, sensitivity_figures
from planner.engine.types import EngineInput
from planner.products.models import Tier
from planner.products.services import tier_update
from planner.simulation import passes
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.optimize import SETTING_NAMES, make_vary
from planner.simulation.plans import scenario_tiers
from planner.simulation.runs import run_start
from planner.simulation.scenarios import scenario_duplicate, scenario_update


def error_field(error: Exception) -> tuple[str | None, str]:
    """(field, message) of a decision service's ``"field: message"`` error (``vary[0].max``);
    (None, the whole text) when it names no field."""
    field, sep, message = str(error).partition(": ")
    return (field, message) if sep and " " not in field else (None, str(error))


#: Values of one input a sweep evaluates at most (one simulation each).
MAX_SWEEP_POINTS = 21
#: What a tornado can rank its bars by.
SENSITIVITY_METRICS = tuple(sensitivity_figures.METRICS)


@dataclass(frozen=True)
class VaryRequest:
    """One setting to vary: ``setting`` as the API names it (``cap``, ``fee``...), its range
    (each end and the step optional: the defaults of ``make_vary``) and, for a cost lever's
    share, the ``lever``'s key."""

    setting: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    lever: str | None = None


@dataclass(frozen=True)
class ConstraintRequest:
    """``metric`` at least ``min`` or at most ``max`` (in the API's units)."""

    metric: str
    min: float | None = None
    max: float | None = None


def _engine_constraint(index: int, request: ConstraintRequest) -> decisions.Constraint:
    """The engine's constraint: the gross margin in percent, everything else as given."""
    if (request.min is None) == (request.max is None):
        raise ValueError(f"constraints[{index}]: give exactly one of min and max")
    scale = 100.0 if request.metric == "gross_margin" else 1.0
    given, bound = ("min", request.min) if request.min is not None else ("max", request.max)
    if request.metric == "gross_margin" and bound is not None and bound > 1:
        raise ValueError(f"constraints[{index}].{given}: a gross margin is a fraction (0.6 = 60%), at most 1")
    return decisions.Constraint(
        request.metric,
        minimum=None if request.min is None else scale * request.min,
        maximum=None if request.max is None else scale * request.max,
    )


def optimization_spec(
    inputs: EngineInput,
    *,
    tier: str | None,
    vary: list[VaryRequest],
    constraints: list[ConstraintRequest],
    confidence: float,
    objective: decisions.Objective,
    month: int | str,
    seats: int | None = None,
) -> dict[str, Any]:
    """The job's spec for a request on the frozen plan ``inputs`` (``tier`` None: the total of
    all paying tiers, the setting applied to each); ``ValueError`` naming the field
    (``vary[0].max: ...``) for a request it cannot answer. ``seats``: the tier's seats when it
    is priced per seat (a ``seat_fee`` is searched as the fee it bills: seats x seat fee, on a
    lattice of $0.01 per seat, and answered per seat)."""
    decisions.check_month(month, tier)
    wanted = [(i, item) for i, item in enumerate(vary) if item.setting == "seat_fee"]
    if wanted and not seats:
        raise ValueError(f"vary[{wanted[0][0]}].setting: the tier is not priced per seat")
    vary = [_as_fee(item, seats or 1) if item.setting == "seat_fee" else item for item in vary]
    if not 1 <= len(vary) <= 2:
        raise ValueError("vary: one setting (goal seek) or two (grid and frontier)")
    changed = (
        [t for t in inputs.tiers if t.is_paying]
        if tier is None
        else [t for t in inputs.tiers if t.key == tier]
    )
    if not changed:
        missing = (
            "the scenario's plan has no paying tier"
            if tier is None
            else f"the scenario's plan has no tier named {tier!r}"
        )
        raise ValueError(f"tier: {missing}")
    parsed = []
    for i, item in enumerate(vary):
        setting = _setting(item.setting, i)
        current = decisions.current_value(changed, setting)
        try:
            parsed.append(
                make_vary(
                    item.setting,
                    current=current,
                    minimum=item.min,
                    maximum=item.max,
                    step=item.step,
                    lever=item.lever,
                )
            )
        except ValueError as error:
            raise ValueError(str(error).replace("vary.", f"vary[{i}].", 1)) from error
    engine_constraints = [_engine_constraint(i, c) for i, c in enumerate(constraints)]
    for i, one in enumerate(parsed):
        try:
            decisions.validate_request(inputs, tier, one, engine_constraints)
        except ValueError as error:
            raise ValueError(str(error).replace("vary", f"vary[{i}]", 1)) from error
    request: dict[str, Any] = {
        "tier": tier,
        "vary": [vars(v) for v in vary],
        "constraints": [vars(c) for c in constraints],
        "confidence": confidence,
        "objective": objective,
        "month": month,
    }
    if len(parsed) == 1:
        state = decisions.seek_begin(
            inputs,
            tier=tier,
            vary=parsed[0],
            constraints=engine_constraints,
            confidence=confidence,
            objective=objective,
            month=month,
        )
        return {
            "request": request,
            "mode": "seek",
            "state": state,
            "max_passes": decisions.MAX_PASSES,
            "seats": seats if wanted else None,
        }
    state = frontier.grid_begin(
        inputs,
        tier=tier,
        vary=(parsed[0], parsed[1]),
        constraints=engine_constraints,
        confidence=confidence,
        month=month,
    )
    return {
        "request": request,
        "mode": "grid",
        "state": state,
        "max_passes": 1,
        "seats": seats if wanted else None,
    }


def _as_fee(item: VaryRequest, seats: int) -> VaryRequest:
    """A seat fee's range as the fee it bills (seats x seat fee; step $0.01 per seat)."""

    def scaled(x: float | None) -> float | None:
        return None if x is None else x * seats

    return VaryRequest("fee", scaled(item.min), scaled(item.max), scaled(item.step) or 0.01 * seats)


def _setting(name: str, index: int) -> str:
    """The engine's name of the request's setting ``name`` (``cap`` -> ``hard_cap``)."""
    setting = SETTING_NAMES.get(name)
    if setting is None:
        raise ValueError(
            f"vary[{index}].setting: unknown setting {name!r}; use one of {', '.join(sorted(SETTING_NAMES))}"
        )
    return setting


def optimization_start(
    *,
    scenario: Scenario,
    tier: str | None,
    vary: list[VaryRequest],
    constraints: list[ConstraintRequest],
    confidence: float = 0.95,
    objective: decisions.Objective = "least_change",
    month: int | str = 1,
    users: int | None = None,
    seed: int | None = None,
) -> SimulationRun:
    """Start an optimization job of ``scenario`` (queued; its passes run on the workers).

    Raises ``ValueError`` naming the field for a request it cannot answer, and
    ``SimulationInputError`` as :func:`~planner.simulation.runs.run_start` does.
    """

    plan_tier = scenario_tiers(scenario).filter(name=tier).first() if tier is not None else None
    seats = plan_tier.seats if plan_tier is not None and plan_tier.billing_field == "seat_fee" else None

    def spec_for(inputs: EngineInput) -> dict[str, Any]:
        return optimization_spec(
            inputs,
            seats=seats,
            tier=tier,
            vary=vary,
            constraints=constraints,
            confidence=confidence,
            objective=objective,
            month=month,
        )

    return run_start(
        scenario=scenario, users=users, seed=seed, kind=SimulationRun.Kind.OPTIMIZATION, spec_for=spec_for
    )


def sensitivity_spec(
    inputs: EngineInput,
    *,
    tier: str | None,
    ranges: dict[str, Any] | None,
    metric: str,
    sweep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A sensitivity job's spec (``planner.simulation.passes``): every tier's tornado, or only
    ``tier``'s; with ``sweep`` (``{"input": key, "points": n}``) one input at ``n`` values over
    its range instead. ``ValueError`` naming the field (``tier``, ``metric``,
    ``ranges.<input>``, ``sweep.input``, ``sweep.points``)."""
    if tier is not None and tier not in {t.key for t in inputs.tiers}:
        raise ValueError(f"tier: the scenario's plan has no tier named {tier!r}")
    if metric not in SENSITIVITY_METRICS:
        raise ValueError(f"metric: use one of {', '.join(SENSITIVITY_METRICS)}")
    request: dict[str, Any] = {"tier": tier, "ranges": ranges, "metric": metric}
    if sweep is not None:
        if not 2 <= int(sweep.get("points", 0)) <= MAX_SWEEP_POINTS:
            raise ValueError(f"sweep.points: from 2 to {MAX_SWEEP_POINTS}")
        request["sweep"] = {"input": sweep["input"], "points": int(sweep["points"])}
    try:
        state = passes.sensitivity_begin(inputs, request=request)
    except ValueError as error:
        raise ValueError(
            str(error).replace("input:", "sweep.input:", 1).replace("points:", "sweep.points:", 1)
        ) from error
    return {"request": request, "mode": "sensitivity", "state": state, "max_passes": state["total"]}


def sensitivity_start(
    *,
    scenario: Scenario,
    tier: str | None = None,
    ranges: dict[str, Any] | None = None,
    metric: str = "gross_margin",
    sweep: dict[str, Any] | None = None,
    users: int | None = None,
    seed: int | None = None,
) -> SimulationRun:
    """Start a sensitivity job of ``scenario`` (the tornado of ``planner.engine.sensitivity``,
    one pass per moved input that needs a simulation, on the same users and seed). Raises as
    :func:`optimization_start` does."""

    def spec_for(inputs: EngineInput) -> dict[str, Any]:
        return sensitivity_spec(inputs, tier=tier, ranges=ranges, metric=metric, sweep=sweep)

    return run_start(
        scenario=scenario, users=users, seed=seed, kind=SimulationRun.Kind.SENSITIVITY, spec_for=spec_for
    )


#: How a varied plan setting is stored on a tier (``fee`` goes to the field the tier bills by).
TIER_FIELD_OF_SETTING = {
    "hard_cap": "hard_cap_credits",
    "included_credits": "included_credits",
    "overage_price": "overage_price_per_credit",
}


def _fee_in_billing_field(tier: Tier, monthly: float) -> dict[str, Decimal]:
    """The tier's billing field set so that it bills ``monthly`` per subscriber and month (an
    annual price x 12, a seat fee / seats, to the cent)."""
    field = tier.billing_field
    amount = Decimal(str(monthly))
    if field == "annual_price":
        amount *= 12
    elif field == "seat_fee":
        amount /= tier.seats or 1
    return {field: amount.quantize(Decimal("0.01"))}


def _settings_words(values: Mapping[str, float]) -> str:
    words = {"hard_cap": "cap", "included_credits": "credits", "overage_price": "overage", "fee": "fee"}
    return ", ".join(f"{words.get(name, name.replace('_', ' '))} {value:g}" for name, value in values.items())


def optimization_apply(
    *, job: SimulationRun, point: Mapping[str, float] | None = None, name: str | None = None
) -> Scenario:
    """A new scenario: a duplicate of the job's scenario (as it is now) with the answer's
    value applied to the tier, or ``point`` (a grid point's two settings, e.g. a frontier point
    the founder picked). A cost lever's share is set on that lever. Raises ``ValueError`` naming
    the field when there is nothing to apply or ``point`` names other settings."""
    if job.kind != SimulationRun.Kind.OPTIMIZATION or job.status != SimulationRun.Status.SUCCEEDED:
        raise ValueError("job: only a succeeded optimization can be applied")
    results = job.results or {}
    settings = list(results["settings"]) if "settings" in results else [results["setting"]]
    values = dict(point) if point is not None else results.get("value")
    if not values:
        raise ValueError("value: the optimization found no value that meets the targets")
    if set(values) != set(settings):
        raise ValueError(f"point: give a value for each of {', '.join(settings)}")
    request = job.spec["request"]
    scenario = job.scenario
    assert scenario is not None  # a decision job always has its scenario
    taken = set(Scenario.objects.filter(product_id=scenario.product_id).values_list("name", flat=True))
    base = name or f"{scenario.name} ({_settings_words(values)})"
    new_name, n = base[:200], 1
    while new_name in taken:
        n += 1
        new_name = f"{base[:190]} {n}"
    with transaction.atomic():
        new = scenario_duplicate(scenario=scenario, name=new_name)
        names = [request["tier"]] if request["tier"] is not None else job.spec["state"]["paying"]
        levers = [dict(lever) for lever in new.levers]
        for tier in scenario_tiers(new).filter(name__in=names):
            data: dict[str, Any] = {}
            for setting, value in values.items():
                if setting in ("fee", "seat_fee"):
                    monthly = value * (tier.seats or 1) if setting == "seat_fee" else value
                    data |= _fee_in_billing_field(tier, monthly)
                elif setting in TIER_FIELD_OF_SETTING:
                    data[TIER_FIELD_OF_SETTING[setting]] = value
            if data:
                tier_update(tier=tier, data=data)
        for setting, value in values.items():
            if setting not in TIER_FIELD_OF_SETTING and setting not in ("fee", "seat_fee"):
                key = next(v.get("lever") for v in request["vary"] if v.get("lever"))
                for lever in levers:
                    if lever["key"] == key:
                        lever[setting] = value
        if levers != new.levers:
            scenario_update(scenario=new, data={"levers": levers})
    return new
