"""Who is underwater in a tier and what drives their cost: per segment of the tier's users
(``Tier.mixture``), month 1, baseline.

A segment's figures are means over the simulated users who belong to it (their number is
random: each user is drawn into a segment with its share), with batch-means errors; its
underwater share carries a Wilson interval. The *driver* of a group's cost is the workload with
the largest share of that group's COGS: of its underwater users when it has any, else of all
its users. A segment's break-even in credits uses that segment's expected workload mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.engine import stats
from planner.engine.blocks import SEGMENT_FIGURES, BlockAggregate
from planner.engine.breakeven import break_even
from planner.engine.figures import finite, value
from planner.engine.prepare import PreparedRun
from planner.engine.types import Tier, UsageDist
from planner.engine.usage import mean_intensity

_USERS = SEGMENT_FIGURES.index("users")


def cost_per_credit(prepared: PreparedRun, usage: tuple[UsageDist, ...], variant: int = 0) -> float:
    """Expected COGS per requested credit at the workload mix of ``usage`` (month-1 prices)."""
    return _cost_per_credit(prepared, np.asarray([mean_intensity(d) for d in usage]), variant)


def _cost_per_credit(prepared: PreparedRun, means: np.ndarray, variant: int) -> float:
    v = prepared.variants[variant]
    credits = sum(means[w] * wl.credits_per_request for w, wl in enumerate(v.workloads))
    cost = sum(means[w] * v.pools[w].mean for w in range(len(v.workloads)))
    return float(cost / credits) if credits > 0 else 0.0


def cost_shares(prepared: PreparedRun, sums: np.ndarray) -> dict[str, float]:
    """Each workload's share of a COGS total (all 0 when the total is 0)."""
    total = float(sums.sum())
    keys = [w.key for w in prepared.inputs.workloads]
    return {key: finite(float(sums[w]) / total) if total > 0 else 0.0 for w, key in enumerate(keys)}


def driver(prepared: PreparedRun, underwater: np.ndarray, everyone: np.ndarray) -> str | None:
    """The workload that drives a group's cost: largest in its underwater users' COGS, else in
    all its users' COGS; ``None`` when the group cost nothing."""
    for sums in (underwater, everyone):
        if float(sums.sum()) > 0:
            return prepared.inputs.workloads[int(np.argmax(sums))].key
    return None


def segment_figure(agg: BlockAggregate, t: int, s: int, name: str) -> tuple[float, float]:
    """Mean of ``SEGMENT_FIGURES`` entry ``name`` per user of segment ``s``, with its error."""
    return stats.ratio_mean_and_error(
        agg.segment_moments[t, s, SEGMENT_FIGURES.index(name)], agg.segment_moments[t, s, _USERS]
    )


def segment_results(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier) -> list[dict[str, Any]]:
    """One entry per segment of the tier (an empty list for a tier without segments)."""
    if not tier.segments:
        return []
    results = []
    for s, segment in enumerate(tier.segments):
        simulated = float(agg.segment_moments[t, s, _USERS].sum())
        under = float(agg.segment_moments[t, s, SEGMENT_FIGURES.index("underwater")].sum())
        cogs, cogs_se = segment_figure(agg, t, s, "cogs")
        margin, margin_se = segment_figure(agg, t, s, "margin")
        loss, loss_se = segment_figure(agg, t, s, "loss")
        capped = float(agg.segment_moments[t, s, SEGMENT_FIGURES.index("capped")].sum())
        subscribers = tier.subscribers * segment.share
        share = under / simulated if simulated else 0.0
        results.append(
            {
                "key": segment.key,
                "share": segment.share,
                "subscribers": finite(subscribers),
                "simulated_users": int(simulated),
                "cogs_per_user": value(cogs, cogs_se),
                "margin_per_user": value(margin, margin_se),
                "underwater": {
                    "share": finite(share),
                    "interval": list(stats.wilson_interval(under, simulated)),
                    "users": finite(subscribers * share),
                    "monthly_loss": value(loss * subscribers, loss_se * subscribers),
                },
                "capped_share": finite(capped / simulated) if simulated else 0.0,
                "cogs_by_workload": cost_shares(prepared, agg.segment_cogs_by_workload[t, s]),
                "underwater_cogs_by_workload": cost_shares(prepared, agg.underwater_cogs_by_workload[t, s]),
                "driver": driver(
                    prepared, agg.underwater_cogs_by_workload[t, s], agg.segment_cogs_by_workload[t, s]
                ),
                "cost_per_credit": cost_per_credit(prepared, segment.usage),
                "break_even": break_even(tier, cost_per_credit(prepared, segment.usage)).as_dict(),
            }
        )
    return results


def mixture_cost_per_credit(prepared: PreparedRun, tier: Tier, variant: int = 0) -> float:
    """Expected COGS per requested credit at the tier's expected workload mix: its segments'
    mean intensities weighted by their shares (month-1 prices, variant ``variant``'s costs)."""
    means = np.zeros(len(prepared.inputs.workloads))
    for segment in tier.mixture:
        means += segment.share * np.asarray([mean_intensity(d) for d in segment.usage])
    return _cost_per_credit(prepared, means, variant)
