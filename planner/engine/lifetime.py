"""Lifetime economics over the horizon: inference OpEx against model CapEx, acquisition, LTV,
CAC payback, NPV and IRR.

Cohorts. A tier's month-1 subscribers are one cohort; ``Tier.new_subscribers_monthly`` join at
the start of each month from month 2 on, growing by ``new_subscribers_growth_monthly`` a month.
Usage growth and the price trend are calendar-time effects, so every cohort has the same
per-user figures in calendar month m, and a tier's month-m total is ``active[m] x per-user(m)``
with ``active[m] = subscribers S(m) + sum_{s=2..m} new_s S(m - s)`` (S the tier's survival,
``(1 - churn) ** age``), all from the one simulation. With no new subscribers this is the
horizon's closed cohort, and the figures equal the horizon's exactly.

Money per month: revenue, inference COGS and contribution margin (revenue - payment fees -
COGS) come from the simulation; acquisition (``cac x new``), model costs
(``ModelCost.amounts``) and fixed costs are inputs. Cash flow = contribution - acquisition -
model costs - fixed costs. NPV discounts at the monthly equivalent of the yearly rate, month 1
undiscounted (as the horizon's NPV); IRR is the monthly rate at which the NPV is 0
(``numpy_financial.irr``), also given per year, and null with a reason when the cash flows never
change sign.

Errors. Each simulated figure is a fixed linear combination of a tier's per-batch sums, so its
Monte Carlo error is the batch-means error of the combination's per-batch numerators; tiers are
independent and their variances add. That covers monthly and cumulative figures, totals, LTV
and NPV. The inference share ``I / (I + K)`` (K the model costs, an input) takes the
delta-method error ``K / (I + K)^2 x se(I)``, the IRR ``se(NPV at the IRR) / |dNPV/dr|``. A
payback month comes with the months at which the 95% band of the cumulative curve first
reaches the target (``interval``: upper bound first, lower bound first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy_financial as npf

from planner.engine import stats
from planner.engine.blocks import COGS, MARGIN, REVENUE, BlockAggregate
from planner.engine.figures import finite, mean, survival, users, value
from planner.engine.prepare import PreparedRun
from planner.engine.types import FloatArray, Tier


def subscribers_by_month(tier: Tier, months: int) -> tuple[FloatArray, FloatArray]:
    """(active, new): ``tier``'s subscribers in each month of the horizon and those who joined
    at its start (none in month 1: they are ``tier.subscribers``)."""
    alive = survival(tier, months)
    new = np.zeros(months)
    if months > 1 and tier.new_subscribers_monthly > 0:
        growth = (1.0 + tier.new_subscribers_growth_monthly) ** np.arange(months - 1)
        new[1:] = tier.new_subscribers_monthly * growth
    active = tier.subscribers * alive
    for start in np.flatnonzero(new):
        active[start:] = active[start:] + new[start] * alive[: months - start]
    return active, new


def _numerators(agg: BlockAggregate, k: int, t: int, weights: FloatArray) -> FloatArray:
    """Per batch: ``sum_m weights[m] x`` the sum of quantity ``k`` over tier ``t``'s simulated
    users in month m (weights may be a matrix: one combination per row)."""
    return np.asarray(weights @ agg.moments[0, k, t, : weights.shape[-1]], dtype=np.float64)


def _errors(agg: BlockAggregate, k: int, t: int, weights: FloatArray) -> FloatArray:
    """Monte Carlo errors of ``sum_m weights[r, m] x`` (quantity ``k`` per user of tier ``t`` in
    month m), one per row ``r`` of ``weights``."""
    counts = users(agg, t)
    return np.asarray([stats.ratio_mean_and_error(row, counts)[1] for row in _numerators(agg, k, t, weights)])


def _error(agg: BlockAggregate, k: int, t: int, weights: FloatArray) -> float:
    """Monte Carlo error of ``sum_m weights[m] x`` (quantity ``k`` per user of tier ``t`` in m)."""
    return float(_errors(agg, k, t, weights[None, :])[0])


def _monthly(agg: BlockAggregate, k: int, t: int, active: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Tier ``t``'s month-by-month totals of quantity ``k`` and their errors."""
    pairs = [mean(agg, 0, k, t, m) for m in range(len(active))]
    return (
        np.asarray([p[0] for p in pairs]) * active,
        np.asarray([p[1] for p in pairs]) * active,
    )


def payback(cumulative: FloatArray, errors: FloatArray, target: float, *, what: str) -> dict[str, Any]:
    """The first month (1-based) in which ``cumulative`` reaches ``target``, with the months at
    which its 95% band does (``interval``: upper bound, lower bound; null when never), or null
    with the reason."""
    reached = np.flatnonzero(cumulative >= target)
    early = np.flatnonzero(cumulative + stats.Z95 * errors >= target)
    late = np.flatnonzero(cumulative - stats.Z95 * errors >= target)
    interval = [int(early[0]) + 1 if early.size else None, int(late[0]) + 1 if late.size else None]
    if not reached.size:
        return {"month": None, "interval": interval, "reason": f"{what} is not reached within the horizon"}
    return {"month": int(reached[0]) + 1, "interval": interval, "reason": None}


def cash_figures(cash: FloatArray, monthly_rate: float) -> dict[str, Any]:
    """NPV, IRR and the cash payback month of monthly ``cash`` flows (month 1 first and
    undiscounted), without errors: what a hand computation gives."""
    npv = float(npf.npv(monthly_rate, cash))
    figures: dict[str, Any] = {"npv": npv, "irr_monthly": None, "irr_yearly": None, "irr_reason": None}
    if not (np.any(cash < 0) and np.any(cash > 0)):
        figures["irr_reason"] = "the cash flows never change sign, so there is no internal rate of return"
    else:
        irr = float(npf.irr(cash))
        if np.isfinite(irr) and irr > -1:
            figures["irr_monthly"], figures["irr_yearly"] = irr, (1.0 + irr) ** 12 - 1.0
        else:
            figures["irr_reason"] = "no rate makes the NPV of these cash flows 0"
    cumulative = np.cumsum(cash)
    negative = np.flatnonzero(cumulative < 0)
    if not negative.size:
        figures["payback_month"], figures["payback_reason"] = None, "cumulative cash is never negative"
    else:
        recovered = np.flatnonzero(cumulative[negative[0] :] >= 0)
        figures["payback_month"] = int(negative[0] + recovered[0]) + 1 if recovered.size else None
        figures["payback_reason"] = (
            None if recovered.size else "cumulative cash stays negative over the horizon"
        )
    return figures


def _discounts(rate: float, months: int) -> FloatArray:
    return (1.0 + rate) ** -np.arange(months, dtype=np.float64)


def tier_lifetime(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier) -> dict[str, Any]:
    """Tier ``t``'s lifetime figures (see the module docstring)."""
    months = prepared.inputs.horizon_months
    active, new = subscribers_by_month(tier, months)
    revenue, _ = _monthly(agg, REVENUE, t, active)
    cogs, cogs_se = _monthly(agg, COGS, t, active)
    margin, margin_se = _monthly(agg, MARGIN, t, active)
    acquisition = tier.cac * new
    alive = survival(tier, months)
    per_subscriber = np.asarray([mean(agg, 0, MARGIN, t, m)[0] for m in range(months)]) * alive
    cumulative_weights = np.tril(np.ones((months, months))) * alive
    ltv_errors = _errors(agg, MARGIN, t, cumulative_weights)
    ltv = float(per_subscriber.sum())
    cac_payback = (
        payback(np.cumsum(per_subscriber), ltv_errors, tier.cac, what="the acquisition cost")
        if tier.cac > 0
        else {"month": None, "interval": [None, None], "reason": "the tier has no acquisition cost"}
    )
    return {
        "new_subscribers_monthly": finite(tier.new_subscribers_monthly),
        "new_subscribers_growth_monthly": finite(tier.new_subscribers_growth_monthly),
        "cac": finite(tier.cac),
        "months": [
            {
                "month": m + 1,
                "active_subscribers": finite(active[m]),
                "new_subscribers": finite(new[m]),
                "revenue": finite(revenue[m]),
                "inference_cogs": value(cogs[m], cogs_se[m]),
                "contribution_margin": value(margin[m], margin_se[m]),
                "acquisition": finite(acquisition[m]),
            }
            for m in range(months)
        ],
        "total_revenue": finite(revenue.sum()),
        "total_inference_cogs": value(cogs.sum(), _error(agg, COGS, t, active)),
        "total_contribution_margin": value(margin.sum(), _error(agg, MARGIN, t, active)),
        "total_acquisition": finite(acquisition.sum()),
        "ltv": value(ltv, ltv_errors[-1]),
        "ltv_to_cac": finite(ltv / tier.cac) if tier.cac > 0 else None,
        "cac_payback": cac_payback,
    }


def total_lifetime(prepared: PreparedRun, agg: BlockAggregate, tiers: list[dict[str, Any]]) -> dict[str, Any]:
    """The lifetime figures of the whole product: the tiers' sums, model and fixed costs, cash
    flow, inference share, NPV, IRR and cash payback (``tiers``: the tiers' ``lifetime``)."""
    inputs = prepared.inputs
    months = inputs.horizon_months
    rate = float((1.0 + inputs.discount_rate_yearly) ** (1.0 / 12.0) - 1.0)
    model_costs = np.zeros(months)
    for cost in inputs.model_costs:
        model_costs += cost.amounts(months)
    fixed = np.full(months, float(inputs.fixed_costs_monthly))
    actives = [subscribers_by_month(tier, months)[0] for tier in inputs.tiers]
    rows = {name: np.zeros(months) for name in ("active", "new", "revenue", "cogs", "margin", "acquisition")}
    cogs_var, margin_var = np.zeros(months), np.zeros(months)
    for lifetime in tiers:
        for m, month in enumerate(lifetime["months"]):
            rows["active"][m] += month["active_subscribers"]
            rows["new"][m] += month["new_subscribers"]
            rows["revenue"][m] += month["revenue"]
            rows["cogs"][m] += month["inference_cogs"]["value"]
            rows["margin"][m] += month["contribution_margin"]["value"]
            rows["acquisition"][m] += month["acquisition"]
            cogs_var[m] += month["inference_cogs"]["mc_error"] ** 2
            margin_var[m] += month["contribution_margin"]["mc_error"] ** 2
    cash = rows["margin"] - rows["acquisition"] - model_costs - fixed
    cumulative_weights = np.tril(np.ones((months, months)))
    cumulative_se = _combined(agg, MARGIN, actives, cumulative_weights)
    inference = float(rows["cogs"].sum())
    inference_se = _combined(agg, COGS, actives, np.ones((1, months)))[0]
    capex = float(model_costs.sum())
    figures = cash_figures(cash, rate)
    npv_se = _combined(agg, MARGIN, actives, _discounts(rate, months)[None, :])[0]
    return {
        "months": [
            {
                "month": m + 1,
                "active_subscribers": finite(rows["active"][m]),
                "new_subscribers": finite(rows["new"][m]),
                "revenue": finite(rows["revenue"][m]),
                "inference_cogs": value(rows["cogs"][m], np.sqrt(cogs_var[m])),
                "contribution_margin": value(rows["margin"][m], np.sqrt(margin_var[m])),
                "acquisition": finite(rows["acquisition"][m]),
                "model_costs": finite(model_costs[m]),
                "fixed_costs": finite(fixed[m]),
                "cash_flow": value(cash[m], np.sqrt(margin_var[m])),
                "cumulative_cash": value(float(np.cumsum(cash)[m]), cumulative_se[m]),
            }
            for m in range(months)
        ],
        "totals": {
            "revenue": finite(rows["revenue"].sum()),
            "inference_cogs": value(inference, inference_se),
            "model_costs": finite(capex),
            "acquisition": finite(rows["acquisition"].sum()),
            "fixed_costs": finite(fixed.sum()),
            "contribution_margin": value(rows["margin"].sum(), cumulative_se[-1]),
            "cash_flow": value(cash.sum(), cumulative_se[-1]),
        },
        "inference_share": _inference_share(inference, inference_se, capex),
        "inference_per_model_dollar": value(inference / capex, inference_se / capex) if capex > 0 else None,
        "npv": value(figures["npv"], npv_se),
        "discount_rate_yearly": inputs.discount_rate_yearly,
        "irr": _irr(figures, cash, agg, actives),
        "cash_payback": _cash_payback(figures, np.cumsum(cash), cumulative_se),
    }


def _combined(agg: BlockAggregate, k: int, actives: list[FloatArray], weights: FloatArray) -> FloatArray:
    """Errors of ``sum over tiers and months of weights[row, m] x active_t[m] x`` (quantity ``k``
    per user of tier t in month m), one per row of ``weights``; tiers' variances add."""
    variance = np.zeros(weights.shape[0])
    for t, active in enumerate(actives):
        variance += _errors(agg, k, t, weights * active) ** 2
    return np.sqrt(variance)


def _inference_share(inference: float, error: float, capex: float) -> dict[str, float] | None:
    total = inference + capex
    if total <= 0:
        return None
    return value(inference / total, capex / total**2 * error)


def _irr(
    figures: dict[str, Any], cash: FloatArray, agg: BlockAggregate, actives: list[FloatArray]
) -> dict[str, Any]:
    monthly = figures["irr_monthly"]
    if monthly is None:
        return {"monthly": None, "yearly": None, "mc_error_yearly": None, "reason": figures["irr_reason"]}
    months = np.arange(len(cash), dtype=np.float64)
    slope = float(np.sum(-months * cash * (1.0 + monthly) ** (-months - 1.0)))
    npv_se = _combined(agg, MARGIN, actives, _discounts(monthly, len(cash))[None, :])[0]
    monthly_se = npv_se / abs(slope) if slope else 0.0
    return {
        "monthly": finite(monthly),
        "yearly": finite(figures["irr_yearly"]),
        "mc_error_yearly": finite(12.0 * (1.0 + monthly) ** 11 * monthly_se),
        "reason": None,
    }


def _cash_payback(figures: dict[str, Any], cumulative: FloatArray, errors: FloatArray) -> dict[str, Any]:
    month = figures["payback_month"]
    if month is None:
        return {"month": None, "interval": [None, None], "reason": figures["payback_reason"]}
    start = int(np.flatnonzero(cumulative < 0)[0])
    band = payback(cumulative[start:], errors[start:], 0.0, what="break-even")
    interval = [None if m is None else m + start for m in band["interval"]]
    return {"month": month, "interval": interval, "reason": None}
