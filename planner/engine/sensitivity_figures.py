"""Sensitivity's figures: what one pass keeps (:class:`PassFigures`), and the tornado and the
sweep built from the baseline pass and the variants' passes (see :mod:`planner.engine.sensitivity`
for the variants and the pass contract).

Every pass of a sensitivity splits the same users into the same batches (same users, seed and
tier allocation), so the change of a figure between a variant and the baseline has the
batch-means error of the difference of their per-batch influences
(:func:`planner.engine.stats.ratio_influence`, :func:`~planner.engine.stats.paired_error`), as
``planner.simulation.compare`` does for two runs: common random numbers show up as a small error.
A bar is ``within_noise`` when its swing's own 95% interval (the paired error of high minus
low) contains 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from planner.engine import stats
from planner.engine.blocks import LOSS, MARGIN, REVENUE, UNDERWATER, BlockAggregate
from planner.engine.prepare import PreparedRun
from planner.engine.types import EngineInput, FloatArray

#: The metrics of a tornado: key -> (label, unit).
METRICS = {
    "gross_margin": ("Gross margin", "percent"),
    "underwater_share": ("Underwater share", "share"),
    "underwater_loss": ("Monthly loss on underwater users", "money"),
    "horizon_margin": ("Margin over the horizon", "money"),
}
Z95 = stats.Z95


@dataclass(frozen=True)
class Variant:
    """One end of one input's range (or one sweep point) applied to the baseline inputs.

    ``key`` is ``"<input>:<side>"`` (a sweep point: ``"<input>:<index>"``); ``input`` the input's
    key (``"usage_median"``, ``"model_price:<model>"``, ``"subscribers:<tier>"``...); ``side``
    ``"low"``, ``"high"`` or ``"point"``; ``value`` the range coordinate (a relative change, a
    share shift, or the absolute price trend); ``label`` the input's ``name`` with the moved
    value in plain words; ``inputs`` the modified engine inputs (levers removed). ``needs_pass``
    is False when the figures follow from re-weighting the baseline pass (churn, subscriber mix,
    or inputs equal to the baseline). ``tier``: the tier the input
    belongs to (its bars appear only in that tier's tornado), or None for all tiers.
    """

    key: str
    input: str
    label: str
    side: str
    value: float
    inputs: EngineInput = field(repr=False)
    needs_pass: bool = True
    tier: str | None = None
    name: str = ""


@dataclass(frozen=True)
class PassFigures:
    """What one pass must keep for sensitivity: per tier and batch (in merge order) of the
    baseline variant, the simulated users and the month-1 sums of revenue, margin, underwater
    users and loss, the margin sums of every month, and the pass's subscribers and churn."""

    users: int
    seed: int
    tiers: tuple[str, ...]
    subscribers: tuple[int, ...]
    churn: tuple[float, ...]
    batch_users: FloatArray  # (tiers, batches)
    revenue: FloatArray  # (tiers, batches), month 1
    margin: FloatArray
    underwater: FloatArray
    loss: FloatArray
    margin_by_month: FloatArray  # (tiers, months, batches)

    def to_json(self) -> dict[str, Any]:
        """JSON types only (lists of floats); :meth:`from_json` restores it exactly."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassFigures:
        arrays = [np.asarray(data[name], dtype=np.float64) for name in _ARRAYS]
        return cls(
            int(data["users"]),
            int(data["seed"]),
            tuple(str(t) for t in data["tiers"]),
            tuple(int(s) for s in data["subscribers"]),
            tuple(float(c) for c in data["churn"]),
            *arrays,
        )


_ARRAYS = ("batch_users", "revenue", "margin", "underwater", "loss", "margin_by_month")


def _plain(value: Any) -> Any:
    return (
        value.tolist()
        if isinstance(value, np.ndarray)
        else list(value)
        if isinstance(value, tuple)
        else value
    )


def pass_figures(prepared: PreparedRun, merged: BlockAggregate) -> PassFigures:
    """The :class:`PassFigures` of a merged pass (its baseline variant)."""
    moments = merged.moments[0]
    tiers = prepared.inputs.tiers
    return PassFigures(
        users=prepared.users,
        seed=prepared.seed,
        tiers=tuple(t.key for t in tiers),
        subscribers=tuple(t.subscribers for t in tiers),
        churn=tuple(t.churn_monthly for t in tiers),
        batch_users=merged.batch_users.astype(np.float64),
        revenue=moments[REVENUE, :, 0].copy(),
        margin=moments[MARGIN, :, 0].copy(),
        underwater=moments[UNDERWATER, :, 0].copy(),
        loss=moments[LOSS, :, 0].copy(),
        margin_by_month=moments[MARGIN].copy(),
    )


Figure = tuple[float, FloatArray]


def tier_figures(figures: PassFigures, t: int, subscribers: float, churn: float) -> dict[str, Figure]:
    """Tier ``t``'s metrics (``METRICS``) with their per-batch influences, weighted by the given
    subscribers and churn. Values equal the results document's (``gross_margin_pct``,
    ``underwater.share``, ``underwater.monthly_loss``, ``horizon.total_margin``) for a pass run
    with those subscribers and churn."""
    users = figures.batch_users[t]
    revenue, margin = figures.revenue[t], figures.margin[t]
    paying = revenue.sum() > 0
    gm = stats.ratio_mean_and_error(margin, revenue)[0] * 100 if paying else 0.0
    gm_influence = stats.ratio_influence(margin, revenue) * 100 if paying else np.zeros_like(users)
    simulated = users.sum()
    share = float(figures.underwater[t].sum()) / simulated if simulated else 0.0
    loss = stats.ratio_mean_and_error(figures.loss[t], users)[0] * subscribers
    months = figures.margin_by_month.shape[1]
    survivors = subscribers * np.power(1.0 - churn, np.arange(months), dtype=np.float64)
    horizon = np.zeros(months)
    horizon_influence = np.zeros_like(users)
    for m in range(months):
        sums = figures.margin_by_month[t, m]
        horizon[m] = stats.ratio_mean_and_error(sums, users)[0] * survivors[m]
        horizon_influence = horizon_influence + stats.ratio_influence(sums, users) * survivors[m]
    return {
        "gross_margin": (float(gm), gm_influence),
        "underwater_share": (share, stats.ratio_influence(figures.underwater[t], users)),
        "underwater_loss": (float(loss), stats.ratio_influence(figures.loss[t], users) * subscribers),
        "horizon_margin": (float(horizon.sum()), horizon_influence),
    }


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def _interval(value: float, error: float) -> list[float]:
    return [_finite(value - Z95 * error), _finite(value + Z95 * error)]


def _resolve(
    baseline: PassFigures, variants: Sequence[Variant], results: Sequence[PassFigures | None]
) -> list[PassFigures]:
    """Each variant's figures: its pass, or the baseline's for a re-weighting variant."""
    if len(results) != len(variants):
        raise ValueError("variant_results: give one entry (or None) per variant")
    resolved = []
    for variant, result in zip(variants, results, strict=True):
        if result is None:
            if variant.needs_pass:
                raise ValueError(f"variant_results: {variant.key!r} needs the figures of its pass")
            result = baseline
        same = result.tiers == baseline.tiers and result.seed == baseline.seed
        if not same or not np.array_equal(result.batch_users, baseline.batch_users):
            raise ValueError(f"variant_results: {variant.key!r} was not run on the baseline's users")
        resolved.append(result)
    return resolved


def _variant_figures(figures: PassFigures, variant: Variant, t: int) -> dict[str, Figure]:
    tier = variant.inputs.tiers[t]
    return tier_figures(figures, t, tier.subscribers, tier.churn_monthly)


def _point(base: dict[str, Figure], moved: dict[str, Figure]) -> dict[str, dict[str, Any]]:
    """Each metric at a moved input: value, its own 95% interval, the change against the
    baseline with its paired error and 95% interval, and the unpaired error for reference."""
    out = {}
    for name, (value, influence) in moved.items():
        base_value, base_influence = base[name]
        delta = value - base_value
        paired = stats.paired_error(influence - base_influence)
        own = stats.paired_error(influence)
        out[name] = {
            "value": _finite(value),
            "interval": _interval(value, own),
            "delta": _finite(delta),
            "delta_error": _finite(paired),
            "delta_interval": _interval(delta, paired),
            "unpaired_error": _finite(math.hypot(own, stats.paired_error(base_influence))),
        }
    return out


def _baseline_block(base: dict[str, Figure]) -> dict[str, dict[str, Any]]:
    return {
        name: {"value": _finite(v), "interval": _interval(v, stats.paired_error(i))}
        for name, (v, i) in base.items()
    }


def _tier_indices(baseline: PassFigures, tier: str | None) -> list[int]:
    if tier is None:
        return list(range(len(baseline.tiers)))
    if tier not in baseline.tiers:
        raise ValueError(f"tier: the scenario's plan has no tier named {tier!r}")
    return [baseline.tiers.index(tier)]


def sensitivity_tornado(
    baseline: PassFigures,
    variants: Sequence[Variant],
    variant_results: Sequence[PassFigures | None],
    *,
    tier: str | None = None,
    metric: str = "gross_margin",
    skipped: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """The JSON-ready tornado from the baseline pass and each variant's (aligned with
    ``variants``; None for a variant without ``needs_pass``).

    ``tiers``: one entry per tier (or only ``tier``) with its ``baseline`` figures and ``bars``
    sorted by ``swing`` (``|high - low|`` of ``metric``) descending, ties in input order. A bar:
    ``input``, ``label``, ``low``/``high`` (coordinate, label, every metric's value, change,
    paired error and 95% intervals), ``swing``, ``swing_error`` (paired error of high - low),
    ``swing_interval`` and ``within_noise`` (the swing's interval contains 0). Raises
    ``ValueError`` naming ``metric``, ``tier`` or ``variant_results`` when they do not fit."""
    if metric not in METRICS:
        raise ValueError(f"metric: unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    results = _resolve(baseline, variants, variant_results)
    ends: dict[str, dict[str, tuple[Variant, PassFigures]]] = {}
    for variant, result in zip(variants, results, strict=True):
        ends.setdefault(variant.input, {})[variant.side] = (variant, result)
    if any(set(pair) != {"low", "high"} for pair in ends.values()):
        raise ValueError("variants: every input needs its low and its high end")
    tiers = []
    for t in _tier_indices(baseline, tier):
        base = tier_figures(baseline, t, baseline.subscribers[t], baseline.churn[t])
        bars = [
            _bar(base, pair, t, metric)
            for pair in ends.values()
            if pair["low"][0].tier in (None, baseline.tiers[t])
        ]
        bars.sort(key=lambda bar: -bar["swing"])
        tiers.append({"key": baseline.tiers[t], "baseline": _baseline_block(base), "bars": bars})
    return {
        "metric": metric,
        "metrics": {k: {"label": label, "unit": unit} for k, (label, unit) in METRICS.items()},
        "users": baseline.users,
        "seed": baseline.seed,
        "confidence": 0.95,
        "tiers": tiers,
        "skipped": list(skipped),
    }


def _bar(
    base: dict[str, Figure], pair: dict[str, tuple[Variant, PassFigures]], t: int, metric: str
) -> dict[str, Any]:
    (low_variant, low_result), (high_variant, high_result) = pair["low"], pair["high"]
    low = _variant_figures(low_result, low_variant, t)
    high = _variant_figures(high_result, high_variant, t)
    swings = {name: _swing(low[name], high[name]) for name in METRICS}
    return {
        "input": low_variant.input,
        "label": low_variant.name,
        "low": {"value": low_variant.value, "label": low_variant.label, "figures": _point(base, low)},
        "high": {"value": high_variant.value, "label": high_variant.label, "figures": _point(base, high)},
        **swings[metric],
        "swings": swings,
    }


def _swing(low: Figure, high: Figure) -> dict[str, Any]:
    """``|high - low|`` of one metric with the paired error of ``high - low``, its 95% interval
    and whether that interval holds 0 (the bar is within simulation noise)."""
    swing = high[0] - low[0]
    error = stats.paired_error(high[1] - low[1])
    return {
        "swing": _finite(abs(swing)),
        "swing_error": _finite(error),
        "swing_interval": _interval(swing, error),
        "within_noise": bool(abs(swing) <= Z95 * error),
    }


def sweep_result(
    baseline: PassFigures,
    variants: Sequence[Variant],
    variant_results: Sequence[PassFigures | None],
    *,
    tier: str | None = None,
) -> dict[str, Any]:
    """The JSON-ready sweep of one input (``variants`` from :func:`sweep_variants`): per tier the
    baseline figures and one point per value, each metric with its value, its own 95% interval
    (the band) and the paired change against the baseline with its 95% interval."""
    results = _resolve(baseline, variants, variant_results)
    tiers = []
    for t in _tier_indices(baseline, tier):
        base = tier_figures(baseline, t, baseline.subscribers[t], baseline.churn[t])
        points = [
            {"value": v.value, "label": v.label, "figures": _point(base, _variant_figures(r, v, t))}
            for v, r in zip(variants, results, strict=True)
        ]
        tiers.append({"key": baseline.tiers[t], "baseline": _baseline_block(base), "points": points})
    first = variants[0] if variants else None
    return {
        "input": first.input if first else None,
        "label": first.name if first else None,
        "users": baseline.users,
        "seed": baseline.seed,
        "confidence": 0.95,
        "tiers": tiers,
    }
