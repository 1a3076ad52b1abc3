"""Break-even usage and the price that reaches a target margin, for one tier.

For a user who requests ``c`` credits a month (at the tier's expected workload mix, so one
credit costs ``cost_per_credit`` on average), the expected margin is piecewise linear in ``c``:

    revenue(c) = fee + overage_price * max(0, min(c, cap) - included)   (overage tiers only)
    margin(c)  = revenue(c) * (1 - fee_pct) - fee_fixed * [revenue(c) > 0] - cost_per_credit * min(c, cap)

with breakpoints at the included credits and at the effective cap. Break-even is the least
``c`` with ``margin(c) <= 0``. Overage priced above cost makes margin rise again after the
quota, so the loss region can be a bounded range; a cap makes margin flat beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.engine.types import Tier


@dataclass(frozen=True)
class BreakEven:
    """``kind``: "none" (never negative), "from" (negative from ``credits`` on), "range"
    (negative between ``credits`` and ``until``), or "free" (a free tier: every user costs)."""

    kind: str
    credits: float | None = None
    until: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "credits": self.credits, "until": self.until}


def margin_at(tier: Tier, credits: float, cost_per_credit: float) -> float:
    """Expected monthly margin of a user of ``tier`` requesting ``credits`` credits."""
    cap = tier.effective_cap
    billable = min(credits, cap) if cap is not None else credits
    revenue = tier.monthly_price
    if tier.included_credits is not None and tier.overage_price is not None:
        revenue += tier.overage_price * max(0.0, billable - tier.included_credits)
    fees = revenue * tier.payment_fee_pct + (tier.payment_fee_fixed if revenue > 0 else 0.0)
    return revenue - fees - cost_per_credit * billable


def break_even(tier: Tier, cost_per_credit: float) -> BreakEven:
    """Solve ``margin(c) <= 0`` exactly on each linear segment (see the module docstring)."""
    if not tier.is_paying:
        return BreakEven("free")
    cap = tier.effective_cap
    points = sorted({0.0, *(p for p in (tier.included_credits, cap) if p is not None)})
    far = (points[-1] + 1.0) * 1e6
    points.append(far)
    start: float | None = None
    for a, b in zip(points[:-1], points[1:], strict=True):
        ma, mb = margin_at(tier, a, cost_per_credit), margin_at(tier, b, cost_per_credit)
        if start is None:
            if ma <= 0:
                start = a
            elif mb <= 0:
                start = a + (b - a) * ma / (ma - mb)
        if start is not None and mb > 0:
            # Margin turns positive again inside this segment: a bounded loss range.
            ma_now = margin_at(tier, max(a, start), cost_per_credit)
            until = max(a, start) + (b - max(a, start)) * (-ma_now) / (mb - ma_now) if mb != ma_now else b
            return BreakEven("range", float(start), float(until))
    if start is None:
        return BreakEven("none")
    return BreakEven("from", float(start))


def fee_for_target_margin(
    *, target: float, fee_pct: float, fee_fixed: float, mean_cogs: float, mean_overage: float
) -> float | None:
    """Monthly fee at which the tier's gross margin (margin / gross revenue) equals ``target``.

    From ``(fee + O)(1 - pct) - fixed - K = target (fee + O)``. ``None`` when no fee can reach
    the target (``pct + target >= 1``).
    """
    denominator = 1.0 - fee_pct - target
    if denominator <= 0:
        return None
    fee = (fee_fixed + mean_cogs) / denominator - mean_overage
    return float(max(fee, 0.0)) if np.isfinite(fee) else None


def net_revenue(tier: Tier, revenue: float) -> float:
    """What a user paying ``revenue`` leaves after payment fees: ``revenue (1 - pct) - fixed``."""
    return revenue * (1.0 - tier.payment_fee_pct) - (tier.payment_fee_fixed if revenue > 0 else 0.0)


def break_even_cogs(tier: Tier) -> dict[str, Any]:
    """The monthly COGS at which a user of ``tier`` turns negative: ``(fee + overage(C)) (1 -
    pct) - fixed``, which needs no assumption about the user's workload mix.

    - ``"free"``: a free tier (any cost is a loss; ``cogs`` 0);
    - ``"flat"``: no overage, one number ``cogs``;
    - ``"line"``: overage tiers, a line in the credits ``C`` a user consumes: ``cogs`` up to the
      quota (``at_quota``), rising by ``per_credit`` per credit beyond it, up to ``at_cap``
      (``None`` without a cap).
    """
    if not tier.is_paying:
        return {"kind": "free", "cogs": 0.0}
    fee = net_revenue(tier, tier.monthly_price)
    cap = tier.effective_cap
    if (
        tier.included_credits is None
        or tier.overage_price is None
        or (cap is not None and cap <= tier.included_credits)
    ):
        return {"kind": "flat", "cogs": float(fee)}
    quota = float(tier.included_credits)
    at_cap = None
    if cap is not None:
        at_cap = {
            "credits": float(cap),
            "cogs": float(net_revenue(tier, tier.monthly_price + tier.overage_price * (cap - quota))),
        }
    return {
        "kind": "line",
        "cogs": float(fee),
        "at_quota": {"credits": quota, "cogs": float(fee)},
        "per_credit": float(tier.overage_price * (1.0 - tier.payment_fee_pct)),
        "at_cap": at_cap,
    }
