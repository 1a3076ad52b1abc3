"""What each non-neutral horizon assumption adds to the horizon's total margin.

The neutral horizon repeats month 1 (no price trend, no usage growth, no churn) for every month:
``N = H x month-1 margin`` per subscriber. The actual horizon differs from it by three effects,
taken in this order so that they add up exactly to ``actual - N``:

1. usage growth: ``sum_m (margin_m + cogs_m (1 - 1/f_m)) - N``, i.e. every month at month-1
   prices (``f_m`` is the month's price factor, which only scales COGS);
2. the price trend: ``sum_m cogs_m (1 / f_m - 1)`` ... with the sign that makes falling prices
   (``f_m < 1``) add margin: ``-sum_m cogs_m (1 - 1/f_m)``;
3. churn: ``sum_m (s_m - 1) margin_m`` with ``s_m`` the tier's survival.

Each effect is a fixed linear combination of per-batch sums, so its Monte Carlo error is the
ratio estimator's over the same batches; tiers are independent and weigh by subscribers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.engine import stats
from planner.engine.blocks import COGS, MARGIN, BlockAggregate
from planner.engine.figures import finite, survival, users, value
from planner.engine.prepare import PreparedRun
from planner.engine.types import FloatArray


def _effect_sums(prepared: PreparedRun, agg: BlockAggregate, t: int) -> dict[str, FloatArray]:
    """Per-batch sums (over the tier's simulated users) of the neutral total and each effect."""
    inputs = prepared.inputs
    months = inputs.horizon_months
    margin = agg.moments[0, MARGIN, t]  # (months, batches)
    cogs = agg.moments[0, COGS, t]
    rescale = (1.0 - 1.0 / prepared.price_factors)[:, None]
    alive = survival(inputs.tiers[t], months)[:, None]
    return {
        "neutral": months * margin[0],
        "usage_growth": (margin + cogs * rescale).sum(axis=0) - months * margin[0],
        "price_trend": -(cogs * rescale).sum(axis=0),
        "churn": ((alive - 1.0) * margin).sum(axis=0),
    }


def _combined(prepared: PreparedRun, agg: BlockAggregate, name: str) -> tuple[float, float]:
    """Total over tiers (weighted by subscribers) of one effect, with its error."""
    total, variance = 0.0, 0.0
    for t, tier in enumerate(prepared.inputs.tiers):
        sums = _effect_sums(prepared, agg, t)[name]
        mean, error = stats.ratio_mean_and_error(sums, users(agg, t))
        total += mean * tier.subscribers
        variance += (error * tier.subscribers) ** 2
    return total, float(np.sqrt(variance))


def assumption_effects(prepared: PreparedRun, agg: BlockAggregate) -> dict[str, Any]:
    """The neutral horizon total and one entry per non-neutral assumption (trend, growth,
    churn) with its setting and its effect on the horizon's total margin."""
    inputs = prepared.inputs
    effects = []
    churn = {tier.key: tier.churn_monthly for tier in inputs.tiers if tier.churn_monthly > 0}
    settings: list[tuple[str, Any, bool]] = [
        ("usage_growth", inputs.usage_growth_monthly, inputs.usage_growth_monthly != 0),
        ("price_trend", inputs.price_trend_yearly, inputs.price_trend_yearly != 0),
        ("churn", churn, bool(churn)),
    ]
    for name, setting, active in settings:
        if active and inputs.horizon_months > 1:
            effects.append(
                {"name": name, "setting": setting, "effect": value(*_combined(prepared, agg, name))}
            )
    neutral, neutral_se = _combined(prepared, agg, "neutral")
    return {
        "neutral_total_margin": {"value": finite(neutral), "mc_error": finite(neutral_se)},
        "effects": effects,
    }
