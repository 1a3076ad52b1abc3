"""Which engine inputs can be simulated.

Contract: :func:`validate_inputs` returns None for inputs the engine can simulate; otherwise it
raises ``ValueError`` with a message a person can act on, naming the tier or workload at fault:
at least one tier and one workload, a horizon of 1..600 months, every number finite and in its
range (rates above -100%, prices and fees >= 0, payment fees below 100%, churn at most 100%),
model shares summing to 1, workload fractions in [0, 1], token and call distributions with
0 <= median <= p90, one valid usage distribution per tier and workload, and a correlation
matrix with one row per workload that is symmetric, positive semi-definite and has a unit
diagonal; segments with shares summing to 1 and one valid usage distribution per workload each;
levers whose plan changes name existing tiers (at most once) with finite values >= 0; new
subscribers, their growth (above -100%), acquisition, model and fixed costs finite and >= 0,
model costs in month 1 or later repeating every month or more. It never changes its input.
"""

from __future__ import annotations

import numpy as np

from planner.engine.types import WORKLOAD_FRACTIONS, EngineInput, Lever, Tier, Workload
from planner.engine.usage import copula_factor, validate_usage


def validate_inputs(inputs: EngineInput) -> None:
    """Raise ``ValueError`` with a readable message when inputs cannot be simulated."""
    if not inputs.tiers:
        raise ValueError("a scenario needs at least one tier")
    if not inputs.workloads:
        raise ValueError("a scenario needs at least one workload")
    if not 1 <= inputs.horizon_months <= 600:
        raise ValueError("horizon_months must be between 1 and 600")
    numbers = [
        inputs.price_trend_yearly,
        inputs.usage_growth_monthly,
        inputs.discount_rate_yearly,
        inputs.target_margin,
    ]
    if not all(np.isfinite(numbers)):
        raise ValueError("trend, growth, discount rate and target margin must be finite")
    if (
        inputs.price_trend_yearly <= -1
        or inputs.usage_growth_monthly <= -1
        or inputs.discount_rate_yearly <= -1
    ):
        raise ValueError("price trend, usage growth and discount rate must be above -100%")
    for workload in inputs.workloads:
        _validate_workload(workload)
    for tier in inputs.tiers:
        _validate_tier(tier, len(inputs.workloads))
    _validate_costs(inputs)
    keys = {tier.key for tier in inputs.tiers}
    for lever in inputs.levers:
        _validate_plan_changes(lever, keys)
    copula_factor(np.asarray(inputs.correlation, dtype=np.float64))
    if len(inputs.correlation) != len(inputs.workloads):
        raise ValueError("the correlation matrix must have one row per workload")


def _validate_costs(inputs: EngineInput) -> None:
    """Model costs: a month >= 1, an amount finite and >= 0, a repeat of >= 1 month; fixed
    monthly costs finite and >= 0."""
    if not np.isfinite(inputs.fixed_costs_monthly) or inputs.fixed_costs_monthly < 0:
        raise ValueError("fixed monthly costs must be finite and >= 0")
    for cost in inputs.model_costs:
        where = f"model cost {cost.label!r}"
        if cost.month < 1:
            raise ValueError(f"{where}: the month must be 1 or later")
        if not np.isfinite(cost.amount) or cost.amount < 0:
            raise ValueError(f"{where}: the amount must be finite and >= 0")
        if cost.every_months is not None and cost.every_months < 1:
            raise ValueError(f"{where}: a repeat must be every 1 month or more")


def _validate_workload(w: Workload) -> None:
    where = f"workload {w.key!r}"
    if not w.models:
        raise ValueError(f"{where}: needs at least one model")
    shares = [m.share for m in w.models]
    if any(not np.isfinite(s) or s < 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"{where}: model shares must be >= 0 and sum to 1")
    for name in WORKLOAD_FRACTIONS:
        value = getattr(w, name)
        if not np.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}: {name} must be between 0 and 1")
    if w.prompt_cache_share + w.prompt_cache_write_share > 1.0 + 1e-9:
        raise ValueError(f"{where}: prompt cache read and write shares cannot exceed 1 together")
    if not np.isfinite(w.credits_per_request) or w.credits_per_request < 0:
        raise ValueError(f"{where}: credits_per_request must be >= 0")
    specs = [w.input_tokens, w.output_tokens, w.reasoning_tokens, w.calls_per_request]
    for spec in specs:
        if spec is None:
            continue
        if (
            not (np.isfinite(spec.median) and np.isfinite(spec.p90))
            or spec.median < 0
            or spec.p90 < spec.median
        ):
            raise ValueError(f"{where}: token and call distributions need 0 <= median <= p90")


def _validate_tier(tier: Tier, workloads: int) -> None:
    where = f"tier {tier.key!r}"
    numbers = [tier.monthly_price, tier.payment_fee_pct, tier.payment_fee_fixed, tier.churn_monthly]
    numbers += [x for x in (tier.included_credits, tier.overage_price, tier.hard_cap) if x is not None]
    if not all(np.isfinite(numbers)) or min(numbers) < 0:
        raise ValueError(f"{where}: prices, fees, credits and churn must be finite and >= 0")
    if tier.payment_fee_pct >= 1 or tier.churn_monthly > 1:
        raise ValueError(f"{where}: payment fee % must be below 100% and churn at most 100%")
    if tier.subscribers < 0:
        raise ValueError(f"{where}: subscribers must be >= 0")
    acquisition = [tier.new_subscribers_monthly, tier.new_subscribers_growth_monthly, tier.cac]
    if not all(np.isfinite(acquisition)) or tier.new_subscribers_monthly < 0 or tier.cac < 0:
        raise ValueError(f"{where}: new subscribers and acquisition cost must be finite and >= 0")
    if tier.new_subscribers_growth_monthly <= -1:
        raise ValueError(f"{where}: the growth of new subscribers must be above -100%")
    if len(tier.usage) != workloads:
        raise ValueError(f"{where}: needs one usage distribution per workload")
    for index, dist in enumerate(tier.usage):
        validate_usage(dist, f"{where}, usage {index + 1}")
    if tier.segments:
        shares = [segment.share for segment in tier.segments]
        if any(not np.isfinite(s) or s <= 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"{where}: segment shares must be > 0 and sum to 1")
        if len({segment.key for segment in tier.segments}) != len(tier.segments):
            raise ValueError(f"{where}: segment names must be unique")
    for segment in tier.segments:
        if len(segment.usage) != workloads:
            raise ValueError(f"{where}, segment {segment.key!r}: needs one usage distribution per workload")
        for index, dist in enumerate(segment.usage):
            validate_usage(dist, f"{where}, segment {segment.key!r}, usage {index + 1}")


def _validate_plan_changes(lever: Lever, tier_keys: set[str]) -> None:
    where = f"lever {lever.label!r}"
    named = [change.tier for change in lever.plan]
    if len(set(named)) != len(named):
        raise ValueError(f"{where}: changes a tier twice")
    for change in lever.plan:
        if change.tier not in tier_keys:
            raise ValueError(f"{where}: no tier {change.tier!r} in the plan")
        values = [
            v
            for v in (
                change.fee_scale,
                change.monthly_price,
                change.included_credits,
                change.overage_price,
                change.hard_cap,
            )
            if v is not None
        ]
        if not all(np.isfinite(values)) or (values and min(values) < 0):
            raise ValueError(
                f"{where}, tier {change.tier!r}: fee, credits, overage and cap must be finite and >= 0"
            )
