"""A lever's figures for one tier: what the tier looks like under the lever and how much each
figure changed against the baseline, with paired errors.

Every lever is evaluated on the baseline's simulated users (common random numbers), so a
change's error is the batch-means error of the per-batch *differences*
(:func:`planner.engine.figures.difference`), much smaller than either figure's own error;
share changes take theirs from the users whose status changed. A
plan-only lever gives exactly the figures a separate run of the changed plan with the same
seed gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.engine import stats
from planner.engine.blocks import (
    CAPPED,
    CAPPED_FLIPS,
    COGS,
    LOSS,
    MARGIN,
    REVENUE,
    UNDERWATER,
    UNDERWATER_FLIPS,
    BlockAggregate,
)
from planner.engine.breakeven import break_even, break_even_cogs
from planner.engine.figures import difference, finite, mean, ratio_difference, survival, users, value
from planner.engine.prepare import PreparedRun
from planner.engine.types import Tier, TierChange


def plan_change_json(change: TierChange | None) -> dict[str, float] | None:
    """The fields a lever changes on one tier (``None`` when it leaves the tier's plan alone)."""
    if change is None:
        return None
    fields = ("fee_scale", "monthly_price", "included_credits", "overage_price", "hard_cap")
    return {name: float(getattr(change, name)) for name in fields if getattr(change, name) is not None}


def leaves_tier_alone(prepared: PreparedRun, v: int, t: int) -> bool:
    """Whether lever ``v`` leaves tier ``t`` exactly as the baseline (same plan, same costs)."""
    variant, baseline = prepared.variants[v], prepared.variants[0]
    return variant.tiers[t] is baseline.tiers[t] and all(
        a is b for a, b in zip(variant.tables, baseline.tables, strict=True)
    )


def _share_change(
    prepared: PreparedRun, agg: BlockAggregate, v: int, t: int, k: int, flips: int
) -> tuple[float, float]:
    """Change of share ``k`` (users underwater, users capped) with the error from the users
    whose status changed (:func:`planner.engine.stats.share_change_error`); exactly 0 with no
    error when the lever leaves the tier alone (or, for the capped share, its plan)."""
    n = float(agg.users[t])
    same_plan = prepared.variants[v].tiers[t] is prepared.variants[0].tiers[t]
    if n == 0 or leaves_tier_alone(prepared, v, t) or (k == CAPPED and same_plan):
        return 0.0, 0.0  # the cap depends on the plan alone
    change = float((agg.moments[v, k, t, 0] - agg.moments[0, k, t, 0]).sum()) / n
    return change, stats.share_change_error(change, float(agg.moments[v, flips, t, 0].sum()), n)


def horizon_totals(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier, v: int) -> dict[str, Any]:
    """Variant ``v``'s totals of tier ``t`` over the horizon, for the subscribers of month 1 as
    they churn (``survivors`` per month; new cohorts are not in them): revenue, margin and the
    loss on underwater users (money), the gross margin (percent), and the shares of
    subscriber-months underwater and at the cap, each with its batch-means error (the months
    of a batch's users are summed before the batches are compared, so a user's months count
    together)."""
    months = prepared.inputs.horizon_months
    survivors = tier.subscribers * survival(tier, months)

    def weighted(k: int) -> np.ndarray:
        return np.tensordot(survivors, agg.moments[v, k, t, :months], axes=1)

    batch_users = users(agg, t)
    revenue, revenue_se = stats.ratio_mean_and_error(weighted(REVENUE), batch_users)
    margin, margin_se = stats.ratio_mean_and_error(weighted(MARGIN), batch_users)
    loss, loss_se = stats.ratio_mean_and_error(weighted(LOSS), batch_users)
    gm, gm_se = stats.ratio_mean_and_error(weighted(MARGIN), weighted(REVENUE)) if revenue > 0 else (0.0, 0.0)
    months_of_users = float(survivors.sum()) * batch_users
    under, under_se = stats.ratio_mean_and_error(weighted(UNDERWATER), months_of_users)
    capped, capped_se = stats.ratio_mean_and_error(weighted(CAPPED), months_of_users)
    return {
        "months": months,
        "revenue": value(revenue, revenue_se),
        "margin": value(margin, margin_se),
        "loss": value(loss, loss_se),
        "gross_margin_pct": value(gm * 100, gm_se * 100),
        "underwater_share": value(under, under_se),
        "capped_share": value(capped, capped_se),
    }


def lever_result(
    prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier, v: int, cost_per_credit: float
) -> dict[str, Any]:
    """Lever ``v``'s month-1 figures for tier ``t`` (``tier`` is the baseline's), its changes
    against the baseline with paired errors, and its horizon margin change."""
    variant = prepared.variants[v]
    lever = variant.lever
    assert lever is not None
    plan = variant.tiers[t]
    simulated = float(agg.users[t])
    revenue, revenue_se = mean(agg, v, REVENUE, t, 0)
    cogs, cogs_se = mean(agg, v, COGS, t, 0)
    margin, margin_se = mean(agg, v, MARGIN, t, 0)
    loss, loss_se = mean(agg, v, LOSS, t, 0)
    d_revenue, d_revenue_se = difference(agg, v, REVENUE, t, 0)
    d_cogs, d_cogs_se = difference(agg, v, COGS, t, 0)
    d_margin, d_margin_se = difference(agg, v, MARGIN, t, 0)
    d_under = _share_change(prepared, agg, v, t, UNDERWATER, UNDERWATER_FLIPS)
    d_capped = _share_change(prepared, agg, v, t, CAPPED, CAPPED_FLIPS)
    d_loss, d_loss_se = difference(agg, v, LOSS, t, 0)
    d_gm, d_gm_se = ratio_difference(agg, v, MARGIN, REVENUE, t, 0)
    revenue_sum = float(agg.moments[v, REVENUE, t, 0].sum())
    gm, gm_se = stats.ratio_mean_and_error(agg.moments[v, MARGIN, t, 0], agg.moments[v, REVENUE, t, 0])
    under = float(agg.moments[v, UNDERWATER, t, 0].sum())
    capped = float(agg.moments[v, CAPPED, t, 0].sum())
    base_under = float(agg.moments[0, UNDERWATER, t, 0].sum())
    survivors = tier.subscribers * survival(tier, prepared.inputs.horizon_months)
    horizon_delta = 0.0
    for m in range(prepared.inputs.horizon_months):
        horizon_delta += difference(agg, v, MARGIN, t, m)[0] * survivors[m]
    subscribers = tier.subscribers
    change = next((c for c in lever.plan if c.tier == tier.key), None)
    return {
        "key": lever.key,
        "label": lever.label,
        "plan": plan_change_json(change),
        "monthly_price": finite(plan.monthly_price),
        "revenue_per_user": value(revenue, revenue_se),
        "revenue_change_per_user": value(d_revenue, d_revenue_se),
        "cogs_per_user": finite(cogs),
        "cogs_per_user_error": finite(cogs_se),
        "cogs_change_per_user": value(d_cogs, d_cogs_se),
        "margin_per_user": value(margin, margin_se),
        "margin_change_per_user": value(d_margin, d_margin_se),
        "gross_margin_pct": finite(gm * 100) if revenue_sum > 0 else 0.0,
        "gross_margin_pct_error": finite(gm_se * 100) if revenue_sum > 0 else 0.0,
        "gross_margin_pct_change": value(d_gm * 100, d_gm_se * 100),
        "underwater_share": finite(under / simulated) if simulated else 0.0,
        "underwater_interval": list(stats.wilson_interval(under, simulated)),
        "underwater_share_change": finite((under - base_under) / simulated) if simulated else 0.0,
        "underwater_share_change_error": finite(d_under[1]),
        "monthly_loss": value(loss * subscribers, loss_se * subscribers),
        "monthly_loss_change": value(d_loss * subscribers, d_loss_se * subscribers),
        "capped_share": {
            "share": finite(capped / simulated) if simulated else 0.0,
            "interval": list(stats.wilson_interval(capped, simulated)),
            "change": value(*d_capped),
        },
        "horizon_margin_change": finite(horizon_delta),
        "horizon_totals": horizon_totals(prepared, agg, t, tier, v),
        "break_even": break_even(plan, cost_per_credit).as_dict(),
        "break_even_cogs": break_even_cogs(plan),
    }
