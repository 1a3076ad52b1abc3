"""Sensitivity (issue #14, item 3): a tornado per tier and one-setting sweeps, on common random
numbers.

Each main **input** moves over its range (the low end, then the high end, all else at the
baseline) and the tier's headline figures are re-read: gross margin (percent), underwater share,
monthly loss on underwater users (money: the tier's total) and the margin over the horizon (the
tier's total margin over the scenario's horizon, as ``tiers[i].horizon.total_margin``). Bars are
ranked by swing, ``|high - low|`` of one metric (gross margin by default).

Computation as **passes**: one pass is one full engine simulation (``prepare``, every block,
``merge``) of the baseline or of one variant, all with the same users and seed. The contract:

1. ``base = baseline_input(inputs)`` (the scenario without its levers: sensitivity reads the
   baseline variant only) and ``variants = sensitivity_variants(inputs, ranges)`` (deterministic:
   a worker may rebuild them and pick one by ``key``).
2. Run the baseline pass on ``base`` and one pass per variant with ``variant.needs_pass`` on
   ``variant.inputs``; after each merge, keep ``pass_figures(prepared, merged)`` (a small
   :class:`PassFigures`, JSON via ``to_json``/``from_json``). Variants without ``needs_pass``
   (churn, subscriber mix, an end equal to the baseline) re-weight the baseline pass: give
   ``None`` (or the baseline's figures) for them.
3. ``sensitivity_tornado(baseline_figures, variants, variant_figures, tier=, metric=,
   skipped=skipped_inputs(inputs, ranges))``; a sweep: ``sweep_variants`` then ``sweep_result``.

Figures, paired intervals and ``within_noise``: :mod:`planner.engine.sensitivity_figures`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from planner.engine.blocks import merge, simulate_block
from planner.engine.prepare import prepare
from planner.engine.sensitivity_figures import (
    METRICS,
    PassFigures,
    Variant,
    pass_figures,
    sensitivity_tornado,
    sweep_result,
)
from planner.engine.types import (
    EngineInput,
    FloatArray,
    ModelOption,
    RequestPricer,
    Tier,
    TokenBatch,
    UsageDist,
    Workload,
)

__all__ = [
    "DEFAULT_RANGES",
    "KINDS",
    "METRICS",
    "PassFigures",
    "ScaledPricer",
    "Variant",
    "baseline_input",
    "pass_figures",
    "resolve_ranges",
    "run_pass",
    "sensitivity",
    "sensitivity_tornado",
    "sensitivity_variants",
    "shift_main_share",
    "skipped_inputs",
    "sweep",
    "sweep_result",
    "sweep_variants",
]

#: Default ranges per input family: (low, high) in the family's coordinate (see ``KINDS``).
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "usage_median": (-0.25, 0.25),
    "usage_spread": (-0.25, 0.25),
    "model_price": (-0.30, 0.30),
    "model_mix": (-0.10, 0.10),
    "prompt_cache": (-0.10, 0.10),
    "response_cache": (-0.10, 0.10),
    "churn": (-0.50, 0.50),
    "price_trend": (-0.50, 0.0),
    "subscribers": (-0.20, 0.20),
}
#: How a family's coordinate moves its input: ``relative`` multiplies by ``1 + x``, ``shift``
#: adds ``x`` to a share, ``absolute`` sets the value.
KINDS = (
    dict.fromkeys(("usage_median", "usage_spread", "model_price", "churn", "subscribers"), "relative")
    | dict.fromkeys(("model_mix", "prompt_cache", "response_cache"), "shift")
    | {"price_trend": "absolute"}
)
#: The workload field each cache input moves.
CACHE_FIELDS = {"prompt_cache": "prompt_cache_share", "response_cache": "response_cache_hit_rate"}
MINUS = "\u2212"


@dataclass(frozen=True)
class _Input:
    """An input of the scenario that can move: its family, plain name, and the model, workload or
    tier it moves (``target``; empty for scenario-wide inputs)."""

    key: str
    family: str
    name: str
    target: str = ""

    @property
    def tier(self) -> str | None:
        return self.target if self.family == "subscribers" else None


@dataclass(frozen=True)
class ScaledPricer:
    """A pricer whose every price is ``factor`` times ``pricer``'s (a model's token prices)."""

    pricer: RequestPricer
    factor: float

    def __call__(self, tokens: TokenBatch) -> FloatArray:
        return np.asarray(self.pricer(tokens), dtype=np.float64) * self.factor


# --- ranges and inputs -----------------------------------------------------------------------


def resolve_ranges(ranges: dict[str, Any] | None) -> dict[str, tuple[float, float] | None]:
    """``DEFAULT_RANGES`` overridden by ``ranges`` (family -> ``[low, high]``, or None to leave the
    family out). Raises ``ValueError`` naming the field (``ranges.<family>``) when a family is
    unknown, a range is not two finite numbers with low <= high, a relative change is at or below
    -100%, a share shift is outside [-1, 1], or a price trend is at or below -100%/year."""
    resolved: dict[str, tuple[float, float] | None] = dict(DEFAULT_RANGES)
    for name, given in (ranges or {}).items():
        if name not in DEFAULT_RANGES:
            raise ValueError(f"ranges: unknown input {name!r}; use one of {', '.join(DEFAULT_RANGES)}")
        if given is None:
            resolved[name] = None
            continue
        try:
            low, high = (float(x) for x in given)
        except (TypeError, ValueError) as error:
            raise ValueError(f"ranges.{name}: give [low, high] as two numbers") from error
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"ranges.{name}: low and high must be finite with low <= high")
        kind = KINDS[name]
        if kind in ("relative", "absolute") and low <= -1:
            raise ValueError(f"ranges.{name}: low must be above -1 (-100%)")
        if kind == "shift" and not (low >= -1 and high <= 1):
            raise ValueError(f"ranges.{name}: a share shift must lie within [-1, 1]")
        resolved[name] = (low, high)
    return resolved


def baseline_input(inputs: EngineInput) -> EngineInput:
    """The baseline pass's inputs: ``inputs`` without levers (sensitivity reads variant 0 only,
    and levers do not change the baseline's draws)."""
    return replace(inputs, levers=())


def _tiers_map(inputs: EngineInput, change: Callable[[Tier], Tier]) -> EngineInput:
    return replace(inputs, tiers=tuple(change(tier) for tier in inputs.tiers))


def _usage_map(inputs: EngineInput, change: Callable[[UsageDist], UsageDist]) -> EngineInput:
    """Every usage distribution of every tier and segment changed by ``change``."""

    def tier(t: Tier) -> Tier:
        segments = tuple(replace(s, usage=tuple(change(d) for d in s.usage)) for s in t.segments)
        return replace(t, usage=tuple(change(d) for d in t.usage), segments=segments)

    return _tiers_map(inputs, tier)


def _scale_usage(dist: UsageDist, factor: float) -> UsageDist:
    """The intensity scaled by ``factor`` (every kind is a scale family)."""
    if dist.kind == "lognormal":
        return replace(dist, median=dist.median * factor, p90=dist.p90 * factor)
    if dist.kind == "gamma":
        return replace(dist, mean=dist.mean * factor)
    if dist.kind == "pareto":
        upper = None if dist.upper is None else dist.upper * factor
        return replace(dist, scale=dist.scale * factor, upper=upper)
    return replace(dist, values=tuple(v * factor for v in dist.values))


def _spread_usage(dist: UsageDist, factor: float) -> UsageDist:
    """A lognormal's p90/median ratio times ``factor`` (at least 1), median kept; other kinds
    unchanged."""
    if dist.kind != "lognormal" or dist.median <= 0:
        return dist
    return replace(dist, p90=dist.median * max(dist.p90 / dist.median * factor, 1.0))


def _workloads_map(inputs: EngineInput, change: Callable[[Workload], Workload]) -> EngineInput:
    return replace(inputs, workloads=tuple(change(w) for w in inputs.workloads))


def _price_model(workload: Workload, key: str, factor: float) -> Workload:
    def option(m: ModelOption) -> ModelOption:
        if m.key != key:
            return m
        batch = None if m.batch_pricer is None else ScaledPricer(m.batch_pricer, factor)
        return replace(m, pricer=ScaledPricer(m.pricer, factor), batch_pricer=batch)

    return replace(workload, models=tuple(option(m) for m in workload.models))


def shift_main_share(models: tuple[ModelOption, ...], shift: float) -> tuple[ModelOption, ...]:
    """The first (main) model's share moved by ``shift`` (clipped to [0, 1]); the other models
    share the rest in their current proportions (equally when they had none). Order is kept so
    the pool's uniforms pick the same model where the mix does not change. Sums to 1."""
    main = min(max(models[0].share + shift, 0.0), 1.0)
    others = sum(m.share for m in models[1:])
    rest = [(m.share / others if others > 0 else 1.0 / (len(models) - 1)) * (1.0 - main) for m in models[1:]]
    shares = np.asarray([main, *rest])
    shares = shares / shares.sum()
    return tuple(replace(m, share=float(s)) for m, s in zip(models, shares, strict=True))


def _shift_cache(workload: Workload, name: str, shift: float) -> Workload:
    """A cache rate moved by ``shift`` where the workload has one (> 0), clipped to its range."""
    value = getattr(workload, name)
    if value <= 0:
        return workload
    ceiling = 1.0 - workload.prompt_cache_write_share if name == "prompt_cache_share" else 1.0
    return replace(workload, **{name: min(max(value + shift, 0.0), ceiling)})


def _shift_subscribers(inputs: EngineInput, key: str, factor: float) -> EngineInput:
    """Tier ``key``'s subscribers times ``factor`` (rounded); the other tiers' scaled so the total
    stays the same."""
    total = sum(t.subscribers for t in inputs.tiers)
    own = next(t.subscribers for t in inputs.tiers if t.key == key)
    moved = min(round(own * factor), total)
    scale = (total - moved) / (total - own)
    return _tiers_map(
        inputs,
        lambda t: replace(t, subscribers=moved if t.key == key else round(t.subscribers * scale)),
    )


def _model_keys(inputs: EngineInput) -> list[str]:
    keys: list[str] = []
    for workload in inputs.workloads:
        keys += [m.key for m in workload.models if m.key not in keys and m.share > 0]
    return keys


def scenario_inputs(
    inputs: EngineInput, ranges: dict[str, tuple[float, float] | None]
) -> tuple[list[_Input], list[dict[str, str]]]:
    """The inputs that can move in this scenario (deterministic order: usage median and spread,
    each model's prices, each workload's mix, caches, churn, price trend, each tier's
    subscribers) and the skipped ones, each ``{"input": key, "reason": words}``."""
    found: list[_Input] = []
    skipped: list[dict[str, str]] = []
    for item, reason in _candidates(baseline_input(inputs)):
        if ranges[item.family] is None:
            reason = "left out by the request"
        if reason is None:
            found.append(item)
        else:
            skipped.append({"input": item.key, "reason": reason})
    return found, skipped


def skipped_inputs(inputs: EngineInput, ranges: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The inputs left out of the tornado, each ``{"input": key, "reason": words}``."""
    return scenario_inputs(inputs, resolve_ranges(ranges))[1]


def _candidates(base: EngineInput) -> list[tuple[_Input, str | None]]:
    """Every input with the reason to skip it (None: it can move)."""
    lognormal = any(
        d.kind == "lognormal" and d.p90 > d.median > 0 for t in base.tiers for p in t.mixture for d in p.usage
    )
    total = sum(t.subscribers for t in base.tiers)
    items: list[tuple[_Input, str | None]] = [
        (_Input("usage_median", "usage_median", "Usage median"), None),
        (
            _Input("usage_spread", "usage_spread", "Usage spread (p90/median)"),
            None if lognormal else "no lognormal usage with a p90 above its median",
        ),
    ]
    items += [
        (_Input(f"model_price:{k}", "model_price", f"Token prices of {k}", k), None)
        for k in _model_keys(base)
    ]
    items += [
        (
            _Input(f"model_mix:{w.key}", "model_mix", f"{w.key}: share of {w.models[0].key}", w.key),
            None if len(w.models) > 1 else "one model only",
        )
        for w in base.workloads
    ]
    for family, words in (
        ("prompt_cache", "Prompt-cache shares"),
        ("response_cache", "Response-cache hit rates"),
    ):
        present = any(getattr(w, CACHE_FIELDS[family]) > 0 for w in base.workloads)
        items.append(
            (_Input(family, family, words), None if present else f"no workload has a {CACHE_FIELDS[family]}")
        )
    has_churn = any(t.churn_monthly > 0 for t in base.tiers)
    items.append((_Input("churn", "churn", "Churn"), None if has_churn else "no tier has churn"))
    items.append((_Input("price_trend", "price_trend", "Price trend"), None))
    items += [
        (
            _Input(f"subscribers:{t.key}", "subscribers", f"{t.key} subscribers (total fixed)", t.key),
            None if 0 < t.subscribers < total else "no other tier's subscribers to shift",
        )
        for t in base.tiers
    ]
    return items


def _apply(base: EngineInput, item: _Input, x: float) -> EngineInput:
    """``base`` with ``item`` moved to the coordinate ``x`` of its family (``KINDS``)."""
    family, target = item.family, item.target
    if family == "usage_median":
        return _usage_map(base, lambda d: _scale_usage(d, 1 + x))
    if family == "usage_spread":
        return _usage_map(base, lambda d: _spread_usage(d, 1 + x))
    if family == "model_price":
        return _workloads_map(base, lambda w: _price_model(w, target, 1 + x))
    if family == "model_mix":
        return _workloads_map(
            base, lambda w: replace(w, models=shift_main_share(w.models, x)) if w.key == target else w
        )
    if family in CACHE_FIELDS:
        return _workloads_map(base, lambda w: _shift_cache(w, CACHE_FIELDS[family], x))
    if family == "churn":
        return _tiers_map(base, lambda t: replace(t, churn_monthly=min(t.churn_monthly * (1 + x), 1.0)))
    if family == "price_trend":
        return replace(base, price_trend_yearly=x)
    return _shift_subscribers(base, target, 1 + x)


def _label(item: _Input, value: float) -> str:
    """``"Usage median \u221225%"``, ``"Price trend \u221250%/year"``, ``"chat: share of m +0.10"``."""
    kind = KINDS[item.family]
    if kind == "relative":
        moved = f"{value * 100:+.0f}%"
    elif kind == "absolute":
        moved = f"{value * 100:+.0f}%/year"
    else:
        moved = f"{value:+.2f}"
    return f"{item.name} {moved.replace('-', MINUS)}"


def _variant(item: _Input, side: str, value: float, key: str, base: EngineInput) -> Variant:
    changed = _apply(base, item, value)
    return Variant(
        key=key,
        input=item.key,
        label=_label(item, value),
        side=side,
        value=value,
        inputs=changed,
        needs_pass=item.family not in ("churn", "subscribers") and changed != base,
        tier=item.tier,
        name=item.name,
    )


def sensitivity_variants(inputs: EngineInput, ranges: dict[str, Any] | None = None) -> list[Variant]:
    """The low and high end of every input of the scenario, in a deterministic order (inputs as
    :func:`scenario_inputs` lists them, low before high). Raises ``ValueError`` naming the field
    for bad ``ranges`` (see :func:`resolve_ranges`)."""
    resolved = resolve_ranges(ranges)
    base = baseline_input(inputs)
    found, _ = scenario_inputs(inputs, resolved)
    variants = []
    for item in found:
        low, high = resolved[item.family] or (0.0, 0.0)
        variants.append(_variant(item, "low", low, f"{item.key}:low", base))
        variants.append(_variant(item, "high", high, f"{item.key}:high", base))
    return variants


def sweep_variants(
    inputs: EngineInput, *, input: str, points: int, ranges: dict[str, Any] | None = None
) -> list[Variant]:
    """``points`` (>= 2) evenly spaced values of one input over its range, low to high. Raises
    ``ValueError`` naming ``input`` or ``points`` when the input does not exist in the scenario
    or fewer than 2 points are asked for."""
    if points < 2:
        raise ValueError("points: a sweep needs at least 2 points")
    resolved = resolve_ranges(ranges)
    found, skipped = scenario_inputs(inputs, resolved)
    item = next((i for i in found if i.key == input), None)
    if item is None:
        known = ", ".join(i.key for i in found)
        reason = next((s["reason"] for s in skipped if s["input"] == input), "unknown input")
        raise ValueError(f"input: {input!r} cannot be swept ({reason}); use one of {known}")
    low, high = resolved[item.family] or (0.0, 0.0)
    base = baseline_input(inputs)
    return [
        _variant(item, "point", float(value), f"{item.key}:{i}", base)
        for i, value in enumerate(np.linspace(low, high, points))
    ]


# --- in-process convenience ------------------------------------------------------------------


def run_pass(inputs: EngineInput, *, users: int, seed: int) -> PassFigures:
    """One pass in this process: prepare, every block, merge, :func:`pass_figures`."""
    prepared = prepare(inputs, users=users, seed=seed)
    merged = merge(prepared, [simulate_block(prepared, b) for b in range(prepared.blocks)])
    return pass_figures(prepared, merged)


def _run_all(
    inputs: EngineInput,
    variants: Sequence[Variant],
    *,
    users: int,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[PassFigures, list[PassFigures | None]]:
    """The baseline pass and each variant's that needs one, reporting ``progress(done, total)``."""
    report = progress or (lambda done, total: None)
    total = 1 + sum(v.needs_pass for v in variants)
    baseline = run_pass(baseline_input(inputs), users=users, seed=seed)
    report(1, total)
    results: list[PassFigures | None] = []
    for variant in variants:
        results.append(run_pass(variant.inputs, users=users, seed=seed) if variant.needs_pass else None)
        if variant.needs_pass:
            report(1 + sum(r is not None for r in results), total)
    return baseline, results


def sensitivity(
    inputs: EngineInput,
    *,
    users: int,
    seed: int,
    ranges: dict[str, Any] | None = None,
    tier: str | None = None,
    metric: str = "gross_margin",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The tornado in this process: the baseline and every variant on the same users and seed
    (``1 + #variants needing a pass`` simulations). Raises ``ValueError`` naming the field for
    bad ranges, an unknown tier or metric."""
    if metric not in METRICS:
        raise ValueError(f"metric: unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if tier is not None and tier not in {t.key for t in inputs.tiers}:
        raise ValueError(f"tier: the scenario's plan has no tier named {tier!r}")
    skipped = skipped_inputs(inputs, ranges)
    variants = sensitivity_variants(inputs, ranges)
    baseline, results = _run_all(inputs, variants, users=users, seed=seed, progress=progress)
    return sensitivity_tornado(baseline, variants, results, tier=tier, metric=metric, skipped=skipped)


def sweep(
    inputs: EngineInput,
    *,
    input: str,
    points: int,
    users: int,
    seed: int,
    ranges: dict[str, Any] | None = None,
    tier: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """One input at ``points`` values across its range (:func:`sweep_variants`), each with its
    figures, their 95% band and the paired change against the baseline (:func:`sweep_result`)."""
    if tier is not None and tier not in {t.key for t in inputs.tiers}:
        raise ValueError(f"tier: the scenario's plan has no tier named {tier!r}")
    variants = sweep_variants(inputs, input=input, points=points, ranges=ranges)
    baseline, results = _run_all(inputs, variants, users=users, seed=seed, progress=progress)
    return sweep_result(baseline, variants, results, tier=tier)
