"""Compare runs by their inputs: what differs between the snapshots the runs were made from,
and each tier's figures side by side with their change against the first run.

Inputs come from the runs' frozen snapshots, never from the scenarios' current inputs: a
scenario edited after its run would otherwise show changes its figures do not reflect. Tiers
are matched across runs by the live tier they stand for (``snapshot.tiers[].live_tier``), then
by name (snapshots made before scenarios had their own plans name no live tier).

Significance of a change
------------------------
Each change against the first run carries a standard error, and is *significant* when its 95%
interval excludes 0: ``|delta| > 1.96 x error`` with ``error > 0`` (a change of exactly 0, or a
figure without error, is never significant). The error is

- **paired** when both runs simulated the same users: the same engine version (a new version
  may draw other users for a seed: version 4 did, docs/ENGINE.md), the same seed, the same number of
  simulated users, the same workload keys in the same order, the same number of tiers and, for
  the matched tier, the same position and identical ``batch_users`` (the same allocation of
  simulated users to tiers and batches); and both runs still have their per-batch aggregates
  (:class:`RunBatches`, read by ``planner.simulation.selectors.run_batches``). The figure is
  read as a ratio of per-batch month-1 baseline sums: gross margin = margin / revenue (x 100,
  points), underwater users = underwater / users, monthly loss = loss / users x the run's tier
  subscribers (from its snapshot). Each run's per-batch influences
  (:func:`planner.engine.stats.ratio_influence`) are differenced batch by batch and the error is
  :func:`planner.engine.stats.paired_error` of that difference. Common random numbers make this
  error small: a change of plan shows against the noise of the change, not of the figures;
- **unpaired** otherwise: ``sqrt(se1**2 + se2**2)`` with each run's standard error from its
  results document: ``gross_margin_pct.mc_error``, ``sqrt(p (1 - p) / simulated_users)`` for
  the underwater share, ``underwater.monthly_loss.mc_error``.

"COGS per user, p95" is a quantile read from binned counts, which have no per-batch form: it is
always unpaired, with each run's standard error taken from its 95% rank interval,
``(high - low) / (2 x 1.96)`` of ``cogs_per_user.p95.interval``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

import numpy as np

from planner.engine import stats
from planner.engine.blocks import LOSS, MARGIN, REVENUE, UNDERWATER
from planner.engine.types import FloatArray

Snapshot = Mapping[str, Any]

#: Scenario settings shown when they differ: snapshot key -> label.
SETTINGS = {
    "horizon_months": "Horizon (months)",
    "price_trend_yearly": "Price trend per year",
    "usage_growth_monthly": "Usage growth per month",
    "discount_rate_yearly": "Discount rate per year",
    "target_margin": "Target margin",
    "fixed_costs_monthly": "Fixed costs per month",
}
#: What a setting was before snapshots carried it (schema 4 added fixed costs), so an older
#: run and a newer one without fixed costs do not differ.
SETTING_DEFAULTS = {"fixed_costs_monthly": "0"}
#: A tier's acquisition inputs (snapshot schema 4, ``tier["acquisition"]``): key -> label.
ACQUISITION_INPUTS = {
    "new_subscribers_monthly": "New subscribers per month",
    "new_subscribers_growth_monthly": "Growth of new subscribers",
    "cac": "Acquisition cost (CAC)",
}
#: A tier's plan inputs: snapshot key -> label.
TIER_INPUTS = {
    "monthly_price": "Monthly price",
    "included_credits": "Included credits",
    "overage_price": "Overage price per credit",
    "hard_cap": "Hard cap (credits)",
    "payment_fee_pct": "Payment fee (share)",
    "payment_fee_fixed": "Payment fee (fixed)",
    "subscribers": "Subscribers",
    "churn_monthly": "Churn per month",
}
#: A workload's inputs: snapshot key -> label.
WORKLOAD_INPUTS = {
    "credits_per_request": "Credits per request",
    "input_tokens": "Input tokens (median, p90)",
    "output_tokens": "Output tokens (median, p90)",
    "reasoning_tokens": "Reasoning tokens (median, p90)",
    "calls_per_request": "Calls per request (median, p90)",
    "prompt_cache_share": "Prompt-cache share",
    "prompt_cache_write_share": "Prompt-cache write share",
    "response_cache_hit_rate": "Response-cache hit rate",
    "batch_share": "Batch share",
    "distillation": "Distillation",
}


class TierBatches(TypedDict):
    """One tier's month-1 baseline sums per batch of simulated users (blocks in block order)."""

    users: FloatArray
    revenue: FloatArray
    margin: FloatArray
    underwater: FloatArray
    loss: FloatArray


class RunBatches(TypedDict):
    """A run's per-batch sums by tier (in the order of its snapshot's tiers), its seed and its
    simulated users: what a paired error needs."""

    seed: int
    users: int
    tiers: list[TierBatches]


def run_batches_from_arrays(
    *, seed: int, users: int, month_one: np.ndarray, batch_users: np.ndarray
) -> RunBatches:
    """:class:`RunBatches` from a merged aggregate's arrays: ``month_one[k, t, b]``, the
    baseline's month-1 sums of quantity ``k`` (``planner.engine.blocks.REVENUE``...), tier
    ``t`` and batch ``b`` (``moments[0, :, :, 0, :]``), and ``batch_users[t, b]``."""
    return {
        "seed": int(seed),
        "users": int(users),
        "tiers": [
            {
                "users": np.asarray(batch_users[t], dtype=np.float64),
                "revenue": np.asarray(month_one[REVENUE, t], dtype=np.float64),
                "margin": np.asarray(month_one[MARGIN, t], dtype=np.float64),
                "underwater": np.asarray(month_one[UNDERWATER, t], dtype=np.float64),
                "loss": np.asarray(month_one[LOSS, t], dtype=np.float64),
            }
            for t in range(batch_users.shape[0])
        ],
    }


@dataclass(frozen=True)
class FigureReading:
    """How to read one tier figure: its ``unit`` (``points`` of percent, a ``share`` 0..1 or
    ``money``), its ``value`` and unpaired standard ``error`` in a results tier, and its
    per-batch ``influence`` given the tier's batches and subscribers (None: a quantile, never
    paired)."""

    unit: str
    value: Callable[[Mapping[str, Any]], float]
    error: Callable[[Mapping[str, Any]], float]
    influence: Callable[[TierBatches, float], FloatArray] | None
    #: The figure's own 95% interval in a results tier, where the results hold one.
    interval: Callable[[Mapping[str, Any]], Sequence[float]] | None = None


def _share_error(tier: Mapping[str, Any]) -> float:
    p, n = tier["underwater"]["share"], tier["simulated_users"]
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else 0.0


def _pair(interval: Sequence[float]) -> tuple[float, float]:
    return float(interval[0]), float(interval[1])


def _interval_error(interval: Sequence[float]) -> float:
    low, high = interval
    return max(high - low, 0.0) / (2 * stats.Z95)


#: A tier's month-1 figures in the results, by label.
TIER_FIGURES: dict[str, FigureReading] = {
    "Gross margin": FigureReading(
        "points",
        lambda t: t["gross_margin_pct"]["value"],
        lambda t: t["gross_margin_pct"]["mc_error"],
        lambda b, _: stats.ratio_influence(b["margin"], b["revenue"]) * 100,
    ),
    "Underwater users": FigureReading(
        "share",
        lambda t: t["underwater"]["share"],
        _share_error,
        lambda b, _: stats.ratio_influence(b["underwater"], b["users"]),
        lambda t: t["underwater"]["interval"],
    ),
    "Monthly loss on them": FigureReading(
        "money",
        lambda t: t["underwater"]["monthly_loss"]["value"],
        lambda t: t["underwater"]["monthly_loss"]["mc_error"],
        lambda b, subscribers: stats.ratio_influence(b["loss"], b["users"]) * subscribers,
    ),
    "COGS per user, p95": FigureReading(
        "unit_cost",
        lambda t: t["cogs_per_user"]["p95"]["value"],
        lambda t: _interval_error(t["cogs_per_user"]["p95"]["interval"]),
        None,
    ),
}
ABSENT = "—"


@dataclass(frozen=True)
class InputChange:
    """One input that differs between the runs: where (``Scenario``, a tier or a workload),
    which input, and its value in each run (``—`` where the run has no such tier)."""

    where: str
    input: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DeltaCell:
    """One run's cell of a :class:`TierFigure`, for a template."""

    value: float | None
    delta: float | None
    error: float | None
    paired: bool | None
    significant: bool
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class TierFigure:
    """One figure of one tier in each run, and its change against the first run (None where
    either is missing) with the change's standard error (None for the first run or a missing
    tier) and whether that error is paired (see the module docstring)."""

    tier: str
    figure: str
    unit: str
    values: tuple[float | None, ...]
    deltas: tuple[float | None, ...]
    errors: tuple[float | None, ...]
    paired: tuple[bool | None, ...]
    #: Each run's 95% interval of the figure (None where the results hold none).
    intervals: tuple[tuple[float, float] | None, ...] = ()

    @property
    def significant(self) -> tuple[bool, ...]:
        """Per run: whether the change's 95% interval excludes 0 (never for the first run)."""
        return tuple(
            delta is not None and error is not None and error > 0 and abs(delta) > stats.Z95 * error
            for delta, error in zip(self.deltas, self.errors, strict=True)
        )

    @property
    def cells(self) -> list[tuple[float | None, float | None]]:
        """(value, change against the first run) per run, for a template."""
        return list(zip(self.values, self.deltas, strict=True))

    @property
    def cells_marked(self) -> list[DeltaCell]:
        """Each run's value, change, error, pairing and significance, for a template."""
        intervals = self.intervals or (None,) * len(self.values)
        return [
            DeltaCell(*cell)
            for cell in zip(
                self.values, self.deltas, self.errors, self.paired, self.significant, intervals, strict=True
            )
        ]


def _model_costs_text(snapshot: Snapshot) -> str:
    """A snapshot's model costs in words ("none" before snapshot schema 4 or without any)."""
    costs = snapshot.get("scenario", {}).get("model_costs") or []
    return (
        "; ".join(
            f"{c['label']} {c['amount']:g} in month {c['month']}"
            + (f", every {c['every_months']} months" if c.get("every_months") else "")
            for c in costs
        )
        or "none"
    )


def tier_slots(snapshots: Sequence[Snapshot]) -> list[tuple[int | None, ...]]:
    """Tiers matched across snapshots: each slot holds the tier's index in each snapshot (None
    where the snapshot has no such tier). A tier matches another that stands for the same live
    tier, else one of the same name; unmatched tiers get slots of their own, in order."""
    slots: list[list[int | None]] = []
    for s, snapshot in enumerate(snapshots):
        for i, tier in enumerate(snapshot.get("tiers", [])):
            slot = _matching_slot(slots, snapshots, s, tier)
            if slot is None:
                slot = [None] * len(snapshots)
                slots.append(slot)
            slot[s] = i
    return [tuple(slot) for slot in slots]


def _matching_slot(
    slots: list[list[int | None]], snapshots: Sequence[Snapshot], s: int, tier: Mapping[str, Any]
) -> list[int | None] | None:
    """The first slot without a tier of snapshot ``s`` whose tier stands for the same live tier
    as ``tier``; else the first whose tier has ``tier``'s name."""
    free = [slot for slot in slots if slot[s] is None]
    live = (tier.get("live_tier") or {}).get("id")
    for same in (
        lambda other: live is not None and (other.get("live_tier") or {}).get("id") == live,
        lambda other: other["key"] == tier["key"],
    ):
        for slot in free:
            first = next(j for j, index in enumerate(slot) if index is not None)
            if same(snapshots[first]["tiers"][slot[first]]):
                return slot
    return None


def _text(value: Any) -> str:
    """An input as a short text: numbers without trailing zeros (money is stored as decimal
    strings, ``"20.0000"`` reads ``20``), lists comma-separated, None as ``none``."""
    if value is None:
        return "none"
    if isinstance(value, str):
        try:
            return f"{Decimal(value).normalize():f}"
        except InvalidOperation:
            return value
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _usage_text(usage: Mapping[str, Any]) -> str:
    kind = usage.get("kind", "lognormal")
    parameters = {
        "lognormal": ("median", "p90"),
        "gamma": ("mean", "shape"),
        "pareto": ("scale", "alpha", "upper"),
    }.get(kind, ())
    shown = ", ".join(
        f"{name} {_text(usage.get(name))}" for name in parameters if usage.get(name) is not None
    )
    if kind == "empirical":
        shown = f"{len(usage.get('values') or [])} values"
    if usage.get("overdispersion") is not None:
        shown += f", overdispersion {_text(usage['overdispersion'])}"
    return f"{kind}: {shown}"


def _changed(where: str, label: str, values: Sequence[str]) -> list[InputChange]:
    return [InputChange(where, label, tuple(values))] if len(set(values)) > 1 else []


def inputs_diff(snapshots: Sequence[Snapshot]) -> list[InputChange]:
    """Every input that differs between the snapshots: scenario settings and price date,
    levers, then tier by tier (plan fields and usage per workload), then workloads."""
    changes: list[InputChange] = []
    for key, label in SETTINGS.items():
        default = SETTING_DEFAULTS.get(key)  # a setting older snapshots lack
        values = [_text(s.get("scenario", {}).get(key, default)) for s in snapshots]
        changes += _changed("Scenario", label, values)
    changes += _changed("Scenario", "Price date", [_text(s.get("price_date")) for s in snapshots])
    changes += _changed(
        "Scenario",
        "Levers",
        [", ".join(lever["label"] for lever in s.get("levers", [])) or "none" for s in snapshots],
    )
    changes += _changed("Scenario", "Model costs", [_model_costs_text(s) for s in snapshots])
    for slot in tier_slots(snapshots):
        tiers = [None if i is None else s["tiers"][i] for s, i in zip(snapshots, slot, strict=True)]
        names = list(dict.fromkeys(t["key"] for t in tiers if t is not None))
        where = " / ".join(names)
        if any(t is None for t in tiers):
            changes.append(
                InputChange(where, "In the plan", tuple("no" if t is None else "yes" for t in tiers))
            )
        for key, label in TIER_INPUTS.items():
            changes += _changed(where, label, [ABSENT if t is None else _text(t.get(key)) for t in tiers])
        for key, label in ACQUISITION_INPUTS.items():
            values = [ABSENT if t is None else _text((t.get("acquisition") or {}).get(key, 0)) for t in tiers]
            changes += _changed(where, label, values)
        if len(names) > 1:
            changes.append(
                InputChange(where, "Name", tuple(ABSENT if t is None else t["key"] for t in tiers))
            )
        workload_names = [w["key"] for w in snapshots[0].get("workloads", [])]
        for w, workload in enumerate(workload_names):
            changes += _changed(
                where,
                f"Usage · {workload}",
                [
                    ABSENT if t is None or w >= len(t.get("usage", [])) else _usage_text(t["usage"][w])
                    for t in tiers
                ],
            )
    changes += _workloads_diff(snapshots)
    return changes


def _workloads_diff(snapshots: Sequence[Snapshot]) -> list[InputChange]:
    changes: list[InputChange] = []
    names = list(dict.fromkeys(w["key"] for s in snapshots for w in s.get("workloads", [])))
    for name in names:
        workloads = [next((w for w in s.get("workloads", []) if w["key"] == name), None) for s in snapshots]
        where = f"Workload {name}"
        for key, label in WORKLOAD_INPUTS.items():
            changes += _changed(where, label, [ABSENT if w is None else _text(w.get(key)) for w in workloads])
        changes += _changed(
            where,
            "Model mix",
            [
                ABSENT
                if w is None
                else ", ".join(f"{m['key']} {m['share']:.0%}" for m in w.get("models", []))
                for w in workloads
            ],
        )
    return changes


def tier_figures(
    snapshots: Sequence[Snapshot],
    results: Sequence[Mapping[str, Any]],
    batches: Sequence[RunBatches | None] | None = None,
) -> list[TierFigure]:
    """Each matched tier's month-1 figures in every run, with the change against the first run
    and its standard error. ``results[k]["tiers"]`` are in the order of ``snapshots[k]["tiers"]``;
    ``batches[k]`` is run k's :class:`RunBatches`, or None (then its changes are unpaired)."""
    per_run: Sequence[RunBatches | None] = [None] * len(results) if batches is None else batches
    rows: list[TierFigure] = []
    for slot in tier_slots(snapshots):
        tiers = [None if i is None else r["tiers"][i] for r, i in zip(results, slot, strict=True)]
        names = [s["tiers"][i]["key"] for s, i in zip(snapshots, slot, strict=True) if i is not None]
        pairable = [k > 0 and _pairable(snapshots, per_run, slot, k) for k in range(len(results))]
        for label, reading in TIER_FIGURES.items():
            values = tuple(None if t is None else reading.value(t) for t in tiers)
            base = values[0]
            deltas = tuple(None if base is None or v is None else v - base for v in values)
            errors: list[float | None] = [None]
            paired: list[bool | None] = [None]
            for k in range(1, len(tiers)):
                error, is_paired = _delta_error(reading, snapshots, tiers, per_run, slot, k, pairable[k])
                errors.append(error)
                paired.append(is_paired)
            name = " / ".join(dict.fromkeys(names))
            intervals = tuple(
                None if t is None or reading.interval is None else _pair(reading.interval(t)) for t in tiers
            )
            rows.append(
                TierFigure(name, label, reading.unit, values, deltas, tuple(errors), tuple(paired), intervals)
            )
    return rows


def _delta_error(
    reading: FigureReading,
    snapshots: Sequence[Snapshot],
    tiers: Sequence[Mapping[str, Any] | None],
    batches: Sequence[RunBatches | None],
    slot: tuple[int | None, ...],
    k: int,
    pairable: bool,
) -> tuple[float | None, bool | None]:
    """The standard error of run ``k``'s change against the first run, and whether it is paired
    (both None when either run lacks the tier)."""
    first, other = tiers[0], tiers[k]
    if first is None or other is None:
        return None, None
    if pairable and reading.influence is not None:
        influences = [_influence(reading, snapshots, batches, slot, j) for j in (0, k)]
        return stats.paired_error(influences[1] - influences[0]), True
    return math.hypot(reading.error(first), reading.error(other)), False


def _pairable(
    snapshots: Sequence[Snapshot], batches: Sequence[RunBatches | None], slot: tuple[int | None, ...], k: int
) -> bool:
    """Whether run ``k``'s tier in ``slot`` simulated the same users as the first run's: same
    engine version, seed, users, workload keys (in order), tier count, tier position and
    ``batch_users``."""
    first, other = batches[0], batches[k]
    i, j = slot[0], slot[k]
    if first is None or other is None or i is None or i != j:
        return False
    tier_count = len(snapshots[0]["tiers"])
    return (
        _engine_version(snapshots[0]) == _engine_version(snapshots[k])
        and first["seed"] == other["seed"]
        and first["users"] == other["users"]
        and _workload_keys(snapshots[0]) == _workload_keys(snapshots[k])
        and len(first["tiers"]) == len(other["tiers"]) == len(snapshots[k]["tiers"]) == tier_count
        and np.array_equal(first["tiers"][i]["users"], other["tiers"][j]["users"])
    )


def _engine_version(snapshot: Snapshot) -> str | None:
    """The engine version a run's snapshot recorded (``package_versions.engine``), if any."""
    versions = snapshot.get("package_versions")
    return versions.get("engine") if isinstance(versions, dict) else None


def _workload_keys(snapshot: Snapshot) -> list[str]:
    return [w["key"] for w in snapshot.get("workloads", [])]


def _influence(
    reading: FigureReading,
    snapshots: Sequence[Snapshot],
    batches: Sequence[RunBatches | None],
    slot: tuple[int | None, ...],
    k: int,
) -> FloatArray:
    """Run ``k``'s per-batch influences on ``reading`` for its tier in ``slot`` (pairable)."""
    run, index = batches[k], slot[k]
    assert run is not None and index is not None and reading.influence is not None
    subscribers = float(snapshots[k]["tiers"][index].get("subscribers") or 0)
    return reading.influence(run["tiers"][index], subscribers)
