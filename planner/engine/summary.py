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
from planner.engine.assumptions import assumption_effects
from planner.engine.blocks import CAPPED, COGS, LOSS, MARGIN, OVERAGE, REVENUE, UNDERWATER, BlockAggregate
from planner.engine.breakeven import break_even, break_even_cogs, fee_for_target_margin
from planner.engine.figures import difference as _difference
from planner.engine.figures import finite as _finite
from planner.engine.figures import mean as _mean
from planner.engine.figures import survival as _survival
from planner.engine.figures import value as _value
from planner.engine.lever_results import lever_result
from planner.engine.lifetime import tier_lifetime, total_lifetime
from planner.engine.prepare import PreparedRun
from planner.engine.segment_results import cost_shares, driver, mixture_cost_per_credit, segment_results
from planner.engine.types import Tier

#: 2: plan levers, segments, capped shares, break-even in COGS, assumption effects (#13).
#: 3: lifetime economics (``tiers[i].lifetime``, ``total.lifetime``; #18).
#: 4: the copula factor is the correlation's principal square root, so a seed draws the same
#: users on every machine (``usage.copula_factor``). Runs of several workloads are a new draw:
#: their figures equal version 3's within their errors, not to the digit.
#: Every figure of an earlier version keeps its key.
ENGINE_VERSION = "4"


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
    cost_per_credit = mixture_cost_per_credit(prepared, tier)
    capped = float(agg.moments[0, CAPPED, t, 0].sum())
    underwater_cogs = agg.underwater_cogs_by_workload[t].sum(axis=0)
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
            "cogs_by_workload": cost_shares(prepared, underwater_cogs),
            "driver": driver(prepared, underwater_cogs, agg.cogs_by_workload[t, 0]),
        },
        "capped_share": {
            "share": _finite(capped / simulated) if simulated else 0.0,
            "interval": list(stats.wilson_interval(capped, simulated)),
        },
        "top_1pct_cogs_share": stats.top_share(hist, agg.cogs_hist_sum[t], 0.01),
        "top_5pct_cogs_share": stats.top_share(hist, agg.cogs_hist_sum[t], 0.05),
        "cogs_by_workload": {wl.key: _finite(workload_cogs[w]) for w, wl in enumerate(inputs.workloads)},
        "cogs_by_model": {k: _finite(v) for k, v in by_model.items()},
        "cost_per_credit": cost_per_credit,
        "break_even": break_even(tier, cost_per_credit).as_dict(),
        "break_even_cogs": break_even_cogs(tier),
        "segments": segment_results(prepared, agg, t, tier),
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
        "lifetime": tier_lifetime(prepared, agg, t, tier),
        "levers": [
            lever_result(prepared, agg, t, tier, v, mixture_cost_per_credit(prepared, tier, v))
            for v in range(1, len(prepared.variants))
        ],
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
            "assumptions": assumption_effects(prepared, agg),
        },
        "levers": levers,
        "lifetime": total_lifetime(prepared, agg, [t["lifetime"] for t in tiers]),
    }
