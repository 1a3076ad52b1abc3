"""Jobs as passes of simulations: what each kind of job simulates, and what it makes of it.

A plain run is one pass: the scenario's frozen plan. A decision job (an optimization, a
sensitivity analysis) is a sequence of passes, each one simulation of the frozen plan with
changes (candidates as plan levers, an input moved), on the same users and seed. The run
machinery (``planner.simulation.runs``) executes every pass the same way: the blocks of pass
``p`` are numbered ``p x blocks_per_pass + b``, stored by upsert, counted, merged by the task
the last one enqueues and recovered by the reaper. After a pass is merged, :func:`pass_advance`
records its results in the job's state and plans the next pass, if any; :func:`job_answer`
turns the finished state into the job's results.

A sensitivity job's passes are all known at the start (the baseline, then each moved input
that needs its own simulation), but run one after the other like a search's, so that one
mechanism serves both. A job's ``spec``: ``{"request": ..., "mode": "seek" | "grid" | "sensitivity",
"state": <the engine's state>, "blocks_per_pass": B, "blocks_expected": B x max passes}``.
The engine states are JSON (``planner.engine.decisions``), so a job survives any worker.
"""

from __future__ import annotations

from typing import Any

from planner import engine
from planner.engine import decisions, frontier, sensitivity
from planner.engine.types import EngineInput
from planner.simulation.adapter import engine_input_from_snapshot

RUN = "run"


def blocks_per_pass(users: int) -> int:
    """Blocks of one pass: those of one simulation of ``users`` users."""
    return engine.block_count(users)


def pass_of_block(block: int, users: int) -> tuple[int, int]:
    """``(pass, block within the pass)`` of a job's block number."""
    return divmod(block, blocks_per_pass(users))


def _variants(inputs: EngineInput, request: dict[str, Any]) -> list[sensitivity.Variant]:
    """A sensitivity job's moved inputs: each input's two ends (a tornado), or one input's
    points (a sweep: ``request["sweep"]``)."""
    sweep = request.get("sweep")
    if sweep:
        return sensitivity.sweep_variants(
            inputs, input=sweep["input"], points=sweep["points"], ranges=request.get("ranges")
        )
    return sensitivity.sensitivity_variants(inputs, request.get("ranges"))


def _sensitivity_passes(inputs: EngineInput, spec: dict[str, Any]) -> list[EngineInput]:
    """A sensitivity job's passes: the baseline, then each variant that needs its own pass."""
    variants = _variants(inputs, spec["request"])
    return [sensitivity.baseline_input(inputs), *(v.inputs for v in variants if v.needs_pass)]


def pass_input(*, kind: str, snapshot: dict[str, Any], spec: dict[str, Any]) -> EngineInput:
    """The simulation of the job's current pass (the one ``spec``'s state plans)."""
    inputs = engine_input_from_snapshot(snapshot)
    if kind == RUN:
        return inputs
    mode, state = spec["mode"], spec["state"]
    if mode == "seek":
        return decisions.seek_pass_input(inputs, state)
    if mode == "grid":
        return frontier.grid_pass_input(inputs, state)
    return _sensitivity_passes(inputs, spec)[state["passes"]]


def current_pass(spec: dict[str, Any]) -> int:
    """Index of the pass the state plans next (passes done so far)."""
    return int(spec["state"]["passes"])


def pass_advance(
    *, spec: dict[str, Any], prepared: engine.PreparedRun, merged: engine.BlockAggregate
) -> dict[str, Any]:
    """The spec after the current pass, given its merged blocks; :func:`has_next_pass` says
    whether another pass is planned."""
    mode, state = spec["mode"], spec["state"]
    if mode == "sensitivity":
        figures = [*state["figures"], sensitivity.pass_figures(prepared, merged).to_json()]
        passes = state["passes"] + 1
        return spec | {
            "state": state | {"passes": passes, "figures": figures, "next": passes < state["total"]}
        }
    advance = decisions.seek_advance if mode == "seek" else frontier.grid_advance
    return spec | {"state": advance(state, engine.summarize(prepared, merged))}


def has_next_pass(spec: dict[str, Any]) -> bool:
    return bool(spec["state"]["next"])


def sensitivity_begin(inputs: EngineInput, *, request: dict[str, Any]) -> dict[str, Any]:
    """A sensitivity job's state before its first pass; ``ValueError`` naming the field for
    bad ranges or a sweep's input."""
    variants = _variants(inputs, request)
    total = 1 + sum(v.needs_pass for v in variants)
    return {"passes": 0, "total": total, "figures": [], "next": True}


def _sensitivity_answer(spec: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    inputs = engine_input_from_snapshot(snapshot)
    request = spec["request"]
    variants = _variants(inputs, request)
    figures = iter(sensitivity.PassFigures.from_json(f) for f in spec["state"]["figures"])
    baseline = next(figures)
    results = [next(figures) if v.needs_pass else None for v in variants]
    if request.get("sweep"):
        return {"sweep": True} | sensitivity.sweep_result(
            baseline, variants, results, tier=request.get("tier")
        )
    return sensitivity.sensitivity_tornado(
        baseline,
        variants,
        results,
        tier=request.get("tier"),
        metric=request.get("metric", "gross_margin"),
        skipped=sensitivity.skipped_inputs(inputs, request.get("ranges")),
    )


def _per_seat(answer: dict[str, Any], seats: int) -> dict[str, Any]:
    """A goal seek of a seat fee searched as the fee it bills, answered per seat."""

    def seat(point: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if point is None else point | {"value": round(point["value"] / seats, 10)}

    points: dict[str, Any] = {
        key: seat(answer.get(key)) for key in ("figures", "adjacent", "closest") if key in answer
    }
    return (
        answer
        | points
        | {
            "setting": "seat_fee",
            "seats": seats,
            "current": None if answer["current"] is None else answer["current"] / seats,
            "value": None if answer["value"] is None else round(answer["value"] / seats, 10),
        }
    )


def job_answer(*, spec: dict[str, Any], snapshot: dict[str, Any], users: int, seed: int) -> dict[str, Any]:
    """The results of a finished decision job: for an optimization, the engine's answer with
    ``value`` keyed by setting (``{"hard_cap": 455}``, None when infeasible); for a sensitivity
    analysis, the tornado (``planner.engine.sensitivity``)."""
    state = spec["state"]
    if spec["mode"] == "sensitivity":
        return _sensitivity_answer(spec, snapshot)
    if spec["mode"] == "seek":
        answer = decisions.seek_answer(state, users=users, seed=seed)
        if spec.get("seats"):
            answer = _per_seat(answer, spec["seats"])
        value = answer["value"]
        return answer | {"value": None if value is None else {answer["setting"]: value}}
    answer = frontier.grid_answer(state, users=users, seed=seed)
    best = answer["frontier"][0] if answer["frontier"] else None
    names = answer["settings"]
    return answer | {
        "feasible": best is not None,
        "value": None if best is None else {name: best[name] for name in names},
        "figures": best,
        "adjacent": None,
    }
