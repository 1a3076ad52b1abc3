"""The all-paying-tiers total of a decision (issue #14): a setting applied to every paying tier
at once, and the candidates' month-1 figures summed over those tiers.

Every tier is simulated on users of its own, so tiers are independent and their errors add in
quadrature. With ``s`` a tier's subscribers, ``r``, ``m`` its revenue and margin per user:

- revenue and margin per paying subscriber: ``sum(s r) / S``, ``sum(s m) / S``;
- gross margin: ``sum(s m) / sum(s r)``, the revenue-weighted mean of the tiers' margins, with
  error ``sqrt(sum((s r / R)^2 e^2))`` (exact when revenue per user does not vary: no overage);
- the underwater and cap-hit shares: subscriber-weighted means, with the binomial variances of
  the tiers weighted the same way; the Wilson bound uses the effective number of users
  ``p (1 - p) / variance`` (all simulated users when no one is underwater);
- the monthly loss: the sum of the tiers', errors in quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from planner.engine import stats
from planner.engine.types import EngineInput, Tier

#: What a figure reading needs next to the figures: the simulated users its shares rest on.
LeverReading = tuple[dict[str, Any], float, float]


def paying_tiers(inputs: EngineInput) -> list[Tier]:
    """The plan's tiers that charge a subscription (a total is of those)."""
    return [tier for tier in inputs.tiers if tier.is_paying]


def _weighted_share(parts: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(share, effective users, variance) of a subscriber-weighted mean of shares, from
    (weight, share, simulated users) per tier."""
    share = sum(w * p for w, p, _ in parts)
    variance = sum(w * w * p * (1 - p) / n for w, p, n in parts if n > 0)
    users = sum(n for _, _, n in parts)
    effective = share * (1 - share) / variance if variance > 0 else users
    return share, effective, variance


def total_figures(tier_results: Sequence[dict[str, Any]], j: int) -> LeverReading:
    """Lever ``j``'s month-1 figures summed over ``tier_results`` (the paying tiers' results),
    in the shape of one tier's lever figures, with the effective users of the underwater and
    the cap-hit share."""
    levers = [t["levers"][j] for t in tier_results]
    weights = [float(t["subscribers"]) for t in tier_results]
    total = sum(weights) or 1.0
    revenue = sum(w * f["revenue_per_user"]["value"] for w, f in zip(weights, levers, strict=True))
    margin = sum(w * f["margin_per_user"]["value"] for w, f in zip(weights, levers, strict=True))
    shares = [w / total for w in weights]
    revenue_weights = [
        w * f["revenue_per_user"]["value"] / revenue if revenue else 0.0
        for w, f in zip(weights, levers, strict=True)
    ]
    users = [float(t["simulated_users"]) for t in tier_results]
    under, n_under, _ = _weighted_share(
        [(w, f["underwater_share"], n) for w, f, n in zip(shares, levers, users, strict=True)]
    )
    capped, n_capped, _ = _weighted_share(
        [(w, f["capped_share"]["share"], n) for w, f, n in zip(shares, levers, users, strict=True)]
    )
    figures = {
        "revenue_per_user": {"value": revenue / total},
        "margin_per_user": {
            "value": margin / total,
            "mc_error": math.sqrt(
                sum((w * f["margin_per_user"]["mc_error"]) ** 2 for w, f in zip(shares, levers, strict=True))
            ),
        },
        "gross_margin_pct": 100.0 * margin / revenue if revenue else 0.0,
        "gross_margin_pct_error": math.sqrt(
            sum((w * f["gross_margin_pct_error"]) ** 2 for w, f in zip(revenue_weights, levers, strict=True))
        ),
        "underwater_share": under,
        "underwater_interval": list(stats.wilson_interval(under * n_under, n_under, stats.Z95)),
        "monthly_loss": {
            "value": sum(f["monthly_loss"]["value"] for f in levers),
            "mc_error": math.sqrt(sum(f["monthly_loss"]["mc_error"] ** 2 for f in levers)),
        },
        "capped_share": {
            "share": capped,
            "interval": list(stats.wilson_interval(capped * n_capped, n_capped, stats.Z95)),
        },
    }
    return figures, n_under, n_capped


def _effective_users(share: dict[str, float], fallback: float) -> float:
    """The users a binomial share with ``share``'s value and error would rest on (for a Wilson
    bound of a share whose error comes from batch means); ``fallback`` without an error."""
    p, se = share["value"], share["mc_error"]
    return p * (1 - p) / se**2 if se > 0 and 0 < p < 1 else fallback


def horizon_reading(lever: dict[str, Any], subscribers: float, n: float) -> LeverReading:
    """A lever's horizon totals (``lever_results.horizon_totals``) in the shape of its month-1
    figures: per month-1 subscriber for revenue and margin, the loss over the horizon, shares of
    subscriber-months; with the effective users of each share."""
    h = lever["horizon_totals"]
    per = subscribers or 1.0
    figures = {
        "revenue_per_user": {
            "value": h["revenue"]["value"] / per,
            "mc_error": h["revenue"]["mc_error"] / per,
        },
        "margin_per_user": {"value": h["margin"]["value"] / per, "mc_error": h["margin"]["mc_error"] / per},
        "gross_margin_pct": h["gross_margin_pct"]["value"],
        "gross_margin_pct_error": h["gross_margin_pct"]["mc_error"],
        "underwater_share": h["underwater_share"]["value"],
        "underwater_interval": _interval(h["underwater_share"]),
        "monthly_loss": h["loss"],
        "capped_share": {"share": h["capped_share"]["value"], "interval": _interval(h["capped_share"])},
    }
    return figures, _effective_users(h["underwater_share"], n), _effective_users(h["capped_share"], n)


def _interval(share: dict[str, float]) -> list[float]:
    low = share["value"] - stats.Z95 * share["mc_error"]
    return [max(low, 0.0), min(share["value"] + stats.Z95 * share["mc_error"], 1.0)]


def lever_readings(
    results: dict[str, Any], tier: str | None, paying: Sequence[str], month: int | str = 1
) -> list[LeverReading]:
    """Every lever's month-1 figures of ``tier`` in a results document (horizon totals for
    ``month`` "horizon"), or, for ``tier`` None, month 1 summed over the ``paying`` tiers; each
    with the users its shares rest on."""
    if tier is not None:
        found = next(t for t in results["tiers"] if t["key"] == tier)
        n = float(found["simulated_users"])
        if month == "horizon":
            return [horizon_reading(figures, float(found["subscribers"]), n) for figures in found["levers"]]
        return [(figures, n, n) for figures in found["levers"]]
    tiers = [t for t in results["tiers"] if t["key"] in paying]
    return [total_figures(tiers, j) for j in range(len(tiers[0]["levers"]))]
