"""Reading figures out of a merged aggregate: means per simulated user with their batch-means
errors, paired differences against the baseline, and JSON-safe numbers.

Shared by :mod:`planner.engine.summary` and :mod:`planner.engine.lever_results`.
"""

from __future__ import annotations

import numpy as np

from planner.engine import stats
from planner.engine.blocks import BlockAggregate
from planner.engine.types import FloatArray, Tier


def finite(x: float) -> float:
    """Results never contain NaN or infinities: an undefined figure is reported as 0."""
    return float(x) if np.isfinite(x) else 0.0


def value(mean: float, error: float) -> dict[str, float]:
    """A figure and its Monte Carlo standard error, as the results document writes them."""
    return {"value": finite(mean), "mc_error": finite(error)}


def users(agg: BlockAggregate, t: int) -> FloatArray:
    """Simulated users of tier ``t`` per batch."""
    return agg.batch_users[t].astype(np.float64)


def mean(agg: BlockAggregate, v: int, k: int, t: int, m: int) -> tuple[float, float]:
    """Variant ``v``'s quantity ``k`` per simulated user of tier ``t`` in month ``m``, with its error."""
    return stats.ratio_mean_and_error(agg.moments[v, k, t, m], users(agg, t))


def difference(agg: BlockAggregate, v: int, k: int, t: int, m: int) -> tuple[float, float]:
    """Lever minus baseline per user, with the batch-means error of the paired difference."""
    diff = agg.moments[v, k, t, m] - agg.moments[0, k, t, m]
    return stats.ratio_mean_and_error(diff, users(agg, t))


def ratio_difference(agg: BlockAggregate, v: int, num: int, den: int, t: int, m: int) -> tuple[float, float]:
    """``sum(num)/sum(den)`` of variant ``v`` minus the baseline's, with the paired error
    (e.g. gross margin = margin / revenue)."""
    a_num, a_den = agg.moments[v, num, t, m], agg.moments[v, den, t, m]
    b_num, b_den = agg.moments[0, num, t, m], agg.moments[0, den, t, m]
    if a_den.sum() <= 0 or b_den.sum() <= 0:
        return 0.0, 0.0
    change = float(a_num.sum() / a_den.sum() - b_num.sum() / b_den.sum())
    influence = stats.ratio_influence(a_num, a_den) - stats.ratio_influence(b_num, b_den)
    return change, stats.paired_error(influence)


def survival(tier: Tier, months: int) -> FloatArray:
    """Share of the tier's month-1 subscribers still subscribed in each month."""
    return np.power(1.0 - tier.churn_monthly, np.arange(months), dtype=np.float64)
