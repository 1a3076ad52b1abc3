"""The results document of a run, built from the merged aggregate by :func:`summarize`.

Contract: the document holds JSON types only (dicts, lists, str, int, float, bool, None) and
never NaN or infinities: an undefined figure is reported as 0. Figures per simulated user are
re-weighted by each tier's real subscribers. Every ``mc_error`` is one Monte Carlo standard
error (batch means) and every ``interval`` a 95% interval: simulation error, not business
uncertainty. The document carries ``ENGINE_VERSION``, the run's users, seed and block count.

Horizon: a closed cohort; month m's figures weigh the tier's subscribers by the survival
``(1 - churn) ** m`` (churn independent of usage). NPVs discount at the monthly equivalent of
the yearly discount rate, month 1 undiscounted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy_financial as npf

from planner.engine import stats
from planner.engine.blocks import COGS, LOSS, MARGIN, OVERAGE, REVENUE, UNDERWATER, BlockAggregate
from planner.engine.breakeven import break_even, fee_for_target_margin
from planner.engine.prepare import PreparedRun
from planner.engine.types import FloatArray, Tier
from planner.engine.usage import mean_intensity

ENGINE_VERSION = "1"


def _value(mean: float, error: float) -> dict[str, float]:
    return {"value": _finite(mean), "mc_error": _finite(error)}


def _finite(x: float) -> float:
    """Results never contain NaN or infinities: an undefined figure is reported as 0."""
    return float(x) if np.isfinite(x) else 0.0


def _mean(agg: BlockAggregate, v: int, k: int, t: int, m: int) -> tuple[float, float]:
    return stats.ratio_mean_and_error(agg.moments[v, k, t, m], agg.batch_users[t].astype(np.float64))


def _difference(agg: BlockAggregate, v: int, k: int, t: int, m: int) -> tuple[float, float]:
    """Lever minus baseline per user, with the batch-means error of the paired difference."""
    diff = agg.moments[v, k, t, m] - agg.moments[0, k, t, m]
    return stats.ratio_mean_and_error(diff, agg.batch_users[t].astype(np.float64))


def summarize(prepared: PreparedRun, agg: BlockAggregate) -> dict[str, Any]:
    """Build the results document (JSON types only) from the merged aggregate."""
    inputs = prepared.inputs
    tiers = [_tier_result(prepared, agg, t, tier) for t, tier in enumerate(inputs.tiers)]
    return {
        "engine_version": ENGINE_VERSION,
        "users": prepared.users,
        "seed": prepared.seed,
        "blocks": prepared.blocks,
        "horizon_months": inputs.horizon_months,
        "error_note": (
            "mc_error figures are Monte Carlo simulation error (standard errors; intervals are 95%), "
            "not business uncertainty."
        ),
        "cogs_percentile_bin_error": stats.COGS_BIN_REL_WIDTH / 2,
        "tiers": tiers,
        "total": _total_result(prepared, agg, tiers),
    }


def _cost_per_credit(prepared: PreparedRun, tier: Tier, variant: int = 0) -> float:
    """Expected COGS per requested credit at the tier's expected workload mix (month-1 prices)."""
    v = prepared.variants[variant]
    means = np.asarray([mean_intensity(d) for d in tier.usage])
    credits = sum(means[w] * wl.credits_per_request for w, wl in enumerate(v.workloads))
    cost = sum(means[w] * v.pools[w].mean for w in range(len(v.workloads)))
    return float(cost / credits) if credits > 0 else 0.0


def _tier_result(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier) -> dict[str, Any]:
    inputs = prepared.inputs
    simulated = float(agg.users[t])
    revenue, revenue_se = _mean(agg, 0, REVENUE, t, 0)
    overage, _ = _mean(agg, 0, OVERAGE, t, 0)
    cogs, cogs_se = _mean(agg, 0, COGS, t, 0)
    margin, margin_se = _mean(agg, 0, MARGIN, t, 0)
    gm, gm_se = stats.ratio_mean_and_error(agg.moments[0, MARGIN, t, 0], agg.moments[0, REVENUE, t, 0])
    under = float(agg.moments[0, UNDERWATER, t, 0].sum())
    loss, loss_se = _mean(agg, 0, LOSS, t, 0)
    low, high = stats.wilson_interval(under, simulated)
    hist = agg.cogs_hist[t]
    percentiles = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        lo, hi = stats.cogs_quantile_interval(hist, q)
        percentiles[name] = {
            "value": _finite(stats.cogs_quantile(hist, q)),
            "interval": [_finite(lo), _finite(hi)],
        }
    workload_cogs = agg.cogs_by_workload[t, 0] / simulated if simulated else np.zeros(len(inputs.workloads))
    by_model: dict[str, float] = {}
    for w, pool in enumerate(prepared.variants[0].pools):
        for key, share in zip(pool.model_keys, pool.model_cost, strict=True):
            by_model[key] = by_model.get(key, 0.0) + float(workload_cogs[w] * share)
    cost_per_credit = _cost_per_credit(prepared, tier)
    result: dict[str, Any] = {
        "key": tier.key,
        "paying": tier.is_paying,
        "subscribers": tier.subscribers,
        "simulated_users": int(simulated),
        "revenue_per_user": _value(revenue, revenue_se),
        "cogs_per_user": {
            "mean": _value(cogs, cogs_se),
            **percentiles,
            "max": _finite(agg.cogs_max[t]),
        },
        "margin_per_user": _value(margin, margin_se),
        "gross_margin_pct": _value(gm * 100 if revenue > 0 else 0.0, gm_se * 100 if revenue > 0 else 0.0),
        "underwater": {
            "share": _finite(under / simulated) if simulated else 0.0,
            "interval": [low, high],
            "users": _finite(tier.subscribers * under / simulated) if simulated else 0.0,
            "monthly_loss": _value(loss * tier.subscribers, loss_se * tier.subscribers),
        },
        "top_1pct_cogs_share": stats.top_share(hist, agg.cogs_hist_sum[t], 0.01),
        "top_5pct_cogs_share": stats.top_share(hist, agg.cogs_hist_sum[t], 0.05),
        "cogs_by_workload": {wl.key: _finite(workload_cogs[w]) for w, wl in enumerate(inputs.workloads)},
        "cogs_by_model": {k: _finite(v) for k, v in by_model.items()},
        "cost_per_credit": cost_per_credit,
        "break_even": break_even(tier, cost_per_credit).as_dict(),
        "fee_for_target_margin": fee_for_target_margin(
            target=inputs.target_margin,
            fee_pct=tier.payment_fee_pct,
            fee_fixed=tier.payment_fee_fixed,
            mean_cogs=cogs,
            mean_overage=overage,
        )
        if tier.is_paying
        else None,
        "margin_histogram": _margin_histogram(agg.margin_hist[t]),
        "horizon": _horizon(prepared, agg, t, tier),
        "levers": [_lever_result(prepared, agg, t, tier, v) for v in range(1, len(prepared.variants))],
    }
    if not tier.is_paying:
        result["acquisition_cost_per_user"] = _value(cogs, cogs_se)
    return result


def _margin_histogram(counts: np.ndarray) -> dict[str, list[float]]:
    """The non-empty span of the margin histogram: bin edges and counts."""
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return {"edges": [], "counts": []}
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    edges = stats.margin_bin_edges()
    return {"edges": [float(e) for e in edges[lo : hi + 1]], "counts": [int(c) for c in counts[lo:hi]]}


def _survival(tier: Tier, months: int) -> FloatArray:
    return np.power(1.0 - tier.churn_monthly, np.arange(months), dtype=np.float64)


def _monthly_rate(prepared: PreparedRun) -> float:
    return float((1.0 + prepared.inputs.discount_rate_yearly) ** (1.0 / 12.0) - 1.0)


def _horizon(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier) -> dict[str, Any]:
    months = prepared.inputs.horizon_months
    subscribers = tier.subscribers * _survival(tier, months)
    rows: list[dict[str, Any]] = []
    margins = np.zeros(months)
    for m in range(months):
        revenue, _ = _mean(agg, 0, REVENUE, t, m)
        cogs, cogs_se = _mean(agg, 0, COGS, t, m)
        margin, margin_se = _mean(agg, 0, MARGIN, t, m)
        under = float(agg.moments[0, UNDERWATER, t, m].sum())
        margins[m] = margin * subscribers[m]
        rows.append(
            {
                "month": m + 1,
                "subscribers": _finite(subscribers[m]),
                "price_factor": _finite(prepared.price_factors[m]),
                "revenue": _finite(revenue * subscribers[m]),
                "cogs": _value(cogs * subscribers[m], cogs_se * subscribers[m]),
                "margin": _value(margin * subscribers[m], margin_se * subscribers[m]),
                "underwater_share": _finite(under / agg.users[t]) if agg.users[t] else 0.0,
            }
        )
    return {
        "months": rows,
        "total_revenue": _finite(sum(r["revenue"] for r in rows)),
        "total_cogs": _finite(sum(r["cogs"]["value"] for r in rows)),
        "total_margin": _finite(margins.sum()),
        "npv_margin": _finite(npf.npv(_monthly_rate(prepared), margins)),
    }


def _lever_result(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier, v: int) -> dict[str, Any]:
    lever = prepared.variants[v].lever
    assert lever is not None
    cogs, _ = _mean(agg, v, COGS, t, 0)
    d_cogs, d_cogs_se = _difference(agg, v, COGS, t, 0)
    d_margin, d_margin_se = _difference(agg, v, MARGIN, t, 0)
    revenue = float(agg.moments[v, REVENUE, t, 0].sum())
    margin = float(agg.moments[v, MARGIN, t, 0].sum())
    under = float(agg.moments[v, UNDERWATER, t, 0].sum())
    base_under = float(agg.moments[0, UNDERWATER, t, 0].sum())
    survival = tier.subscribers * _survival(tier, prepared.inputs.horizon_months)
    horizon_delta = 0.0
    for m in range(prepared.inputs.horizon_months):
        horizon_delta += _difference(agg, v, MARGIN, t, m)[0] * survival[m]
    simulated = float(agg.users[t])
    cost_per_credit = _cost_per_credit(prepared, tier, v)
    return {
        "key": lever.key,
        "label": lever.label,
        "cogs_per_user": _finite(cogs),
        "cogs_change_per_user": _value(d_cogs, d_cogs_se),
        "margin_change_per_user": _value(d_margin, d_margin_se),
        "gross_margin_pct": _finite(margin / revenue * 100) if revenue > 0 else 0.0,
        "underwater_share": _finite(under / simulated) if simulated else 0.0,
        "underwater_share_change": _finite((under - base_under) / simulated) if simulated else 0.0,
        "horizon_margin_change": _finite(horizon_delta),
        "break_even": break_even(tier, cost_per_credit).as_dict(),
    }


def _total_result(prepared: PreparedRun, agg: BlockAggregate, tiers: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals across tiers weighted by real subscribers (per month: by survivors)."""
    inputs = prepared.inputs
    subscribers = np.asarray([t.subscribers for t in inputs.tiers], dtype=np.float64)
    paying = np.asarray([t.is_paying for t in inputs.tiers])
    revenue = cogs = margin = 0.0
    cogs_var = 0.0
    for t in range(len(inputs.tiers)):
        r, _ = _mean(agg, 0, REVENUE, t, 0)
        c, c_se = _mean(agg, 0, COGS, t, 0)
        m, _ = _mean(agg, 0, MARGIN, t, 0)
        revenue += r * subscribers[t]
        cogs += c * subscribers[t]
        margin += m * subscribers[t]
        cogs_var += (c_se * subscribers[t]) ** 2
    # Underwater share among paying subscribers: a stratified estimate; its Wilson interval
    # uses the effective sample size p(1-p)/Var.
    paying_subscribers = float(subscribers[paying].sum())
    share = 0.0
    variance = 0.0
    for t in (int(i) for i in np.flatnonzero(paying)):
        n_t = float(agg.users[t])
        if n_t == 0 or paying_subscribers == 0:
            continue
        p_t = float(agg.moments[0, UNDERWATER, t, 0].sum()) / n_t
        weight = subscribers[t] / paying_subscribers
        share += weight * p_t
        variance += weight**2 * p_t * (1 - p_t) / n_t
    effective_n = share * (1 - share) / variance if variance > 0 else float(agg.users[paying].sum())
    low, high = stats.wilson_interval(share * effective_n, effective_n)
    free_cogs = sum(
        _mean(agg, 0, COGS, t, 0)[0] * subscribers[t] for t in range(len(inputs.tiers)) if not paying[t]
    )
    horizon_margin = np.zeros(inputs.horizon_months)
    for t, tier in enumerate(inputs.tiers):
        survivors = tier.subscribers * _survival(tier, inputs.horizon_months)
        for m in range(inputs.horizon_months):
            horizon_margin[m] += _mean(agg, 0, MARGIN, t, m)[0] * survivors[m]
    levers = []
    for v in range(1, len(prepared.variants)):
        lever = prepared.variants[v].lever
        assert lever is not None
        change = sum(_difference(agg, v, MARGIN, t, 0)[0] * subscribers[t] for t in range(len(inputs.tiers)))
        levers.append({"key": lever.key, "label": lever.label, "monthly_margin_change": _finite(change)})
    total_loss = sum(
        float(t["underwater"]["monthly_loss"]["value"]) for t, p in zip(tiers, paying, strict=True) if p
    )
    return {
        "subscribers": int(subscribers.sum()),
        "paying_subscribers": int(paying_subscribers),
        "revenue": _finite(revenue),
        "cogs": _value(cogs, np.sqrt(cogs_var)),
        "margin": _finite(margin),
        "gross_margin_pct": _finite(margin / revenue * 100) if revenue > 0 else 0.0,
        "underwater_paying": {
            "share": _finite(share),
            "interval": [low, high],
            "users": _finite(share * paying_subscribers),
            "monthly_loss": _finite(total_loss),
        },
        "free_cost_per_paying_user": _finite(free_cogs / paying_subscribers) if paying_subscribers else 0.0,
        "horizon": {
            "margin_by_month": [_finite(x) for x in horizon_margin],
            "total_margin": _finite(horizon_margin.sum()),
            "npv_margin": _finite(npf.npv(_monthly_rate(prepared), horizon_margin)),
            "discount_rate_yearly": inputs.discount_rate_yearly,
        },
        "levers": levers,
    }
