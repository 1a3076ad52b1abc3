"""The all-paying-tiers total of a goal seek (one cap on every paying tier, constraints on the
tiers' month-1 figures summed) and constraints on horizon totals, checked against exact values
(1-D integrals, as in tests/engine/test_goal_seek.py) and against plain runs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as sps

from planner.engine.decision_totals import total_figures
from planner.engine.decisions import Constraint, Vary, goal_seek
from planner.engine.prepare import tier_with_change
from planner.engine.simulate import simulate
from planner.engine.types import EngineInput, Lever, TierChange
from tests.engine.test_goal_seek import (
    COST,
    SEED,
    USERS,
    _over_intensity,
    analytic_inputs,
    exact_gross_margin_pct,
)

PRO, MAX = (20.0, 1_000), (40.0, 500)  # fee, subscribers


def two_tier_inputs() -> EngineInput:
    base = analytic_inputs()
    pro = dataclasses.replace(base.tiers[0], monthly_price=PRO[0], subscribers=PRO[1])
    top = dataclasses.replace(base.tiers[0], key="max", monthly_price=MAX[0], subscribers=MAX[1])
    return dataclasses.replace(base, tiers=(pro, top))


def exact_total_gross_margin_pct(cap: float) -> float:
    """Both tiers have the same usage, so the same served requests per user under one cap."""
    j = np.arange(int(cap))
    served = _over_intensity(lambda lam: float(sps.poisson.sf(j, lam).sum()))
    revenue = PRO[0] * PRO[1] + MAX[0] * MAX[1]
    return 100.0 * (1.0 - COST * served * (PRO[1] + MAX[1]) / revenue)


def test_total_figures_weigh_the_tiers_by_subscribers_and_revenue() -> None:
    def tier(subscribers: int, n: int, revenue: float, margin: float, gm_error: float, under: float) -> dict:
        lever = {
            "revenue_per_user": {"value": revenue},
            "margin_per_user": {"value": margin, "mc_error": 0.5},
            "gross_margin_pct": 100 * margin / revenue,
            "gross_margin_pct_error": gm_error,
            "underwater_share": under,
            "monthly_loss": {"value": 100.0, "mc_error": 3.0},
            "capped_share": {"share": 0.0, "interval": [0.0, 0.0]},
        }
        return {"subscribers": subscribers, "simulated_users": n, "levers": [lever]}

    figures, n_under, n_capped = total_figures(
        [tier(300, 9_000, 20, 10, 1.0, 0.1), tier(100, 3_000, 60, 45, 2.0, 0.0)], 0
    )
    assert figures["gross_margin_pct"] == pytest.approx(100 * (300 * 10 + 100 * 45) / (300 * 20 + 100 * 60))
    # revenue 300 x 20 = 100 x 60: each tier weighs one half
    assert figures["gross_margin_pct_error"] == pytest.approx(math.hypot(0.5 * 1.0, 0.5 * 2.0))
    assert figures["underwater_share"] == pytest.approx(0.75 * 0.1)
    variance = 0.75**2 * 0.1 * 0.9 / 9_000
    assert n_under == pytest.approx(0.075 * 0.925 / variance)
    assert n_capped == 12_000  # nobody capped: every simulated user
    assert figures["monthly_loss"] == pytest.approx({"value": 200.0, "mc_error": math.hypot(3.0, 3.0)})
    assert figures["margin_per_user"]["value"] == pytest.approx((300 * 10 + 100 * 45) / 400)


def test_the_largest_common_cap_for_a_70_percent_total_margin() -> None:
    inputs = two_tier_inputs()
    g = 70.0
    answer = goal_seek(
        inputs,
        tier=None,
        vary=Vary("hard_cap", 0, 3000, 1),
        constraints=[Constraint("gross_margin", minimum=g)],
        users=USERS,
        seed=SEED,
    )
    assert answer["feasible"] and answer["tier"] is None
    cap = answer["value"]
    figures, adjacent = answer["figures"], answer["adjacent"]
    # (a) on the search's own users: the bound meets the target at the answer, not one step beyond
    assert figures["bounds"]["gross_margin"] >= g and adjacent["value"] == cap + 1
    assert adjacent["bounds"]["gross_margin"] < g
    # (b) the exact total margin at the answer meets the target within 3 SE, and is not
    # over-cautious: above it by at most the one-sided margin (z = 1.645), 3 SE and one step
    se = figures["gross_margin_pct"]["mc_error"]
    exact = exact_total_gross_margin_pct(cap)
    step = exact - exact_total_gross_margin_pct(cap + 1)
    print(f"total cap {cap:.0f}: exact {exact:.3f}%, estimate {figures['gross_margin_pct']}, step {step:.3f}")
    assert g - 3 * se <= exact <= g + (1.645 + 3) * se + step
    # (c) a plain run of the plan with the cap on both tiers reads the same figures
    capped = tuple(tier_with_change(t, TierChange(t.key, hard_cap=cap)) for t in inputs.tiers)
    plain = simulate(dataclasses.replace(inputs, tiers=capped), users=USERS, seed=SEED)
    margin = sum(t["subscribers"] * t["margin_per_user"]["value"] for t in plain["tiers"])
    revenue = sum(t["subscribers"] * t["revenue_per_user"]["value"] for t in plain["tiers"])
    assert 100 * margin / revenue == pytest.approx(figures["gross_margin_pct"]["value"], abs=1e-9)
    # (d) an independent run with 4x the users and another seed meets the target
    check = simulate(dataclasses.replace(inputs, tiers=capped), users=4 * USERS, seed=SEED + 1)
    margin = sum(t["subscribers"] * t["margin_per_user"]["value"] for t in check["tiers"])
    revenue = sum(t["subscribers"] * t["revenue_per_user"]["value"] for t in check["tiers"])
    assert 100 * margin / revenue >= g


def test_a_fee_is_refused_for_the_total() -> None:
    with pytest.raises(ValueError, match="vary.setting: a fee is a tier's"):
        goal_seek(
            two_tier_inputs(),
            tier=None,
            vary=Vary("fee", 10, 50, 1),
            constraints=[Constraint("gross_margin", minimum=50)],
            users=1_000,
            seed=1,
        )


# --- Horizon totals ----------------------------------------------------------------------------


def horizon_inputs() -> EngineInput:
    """The analytic tier over three months with 10% monthly churn: every month's users have the
    same usage distribution, so the horizon's gross margin has month 1's exact value."""
    base = analytic_inputs()
    tier = dataclasses.replace(base.tiers[0], churn_monthly=0.1)
    return dataclasses.replace(base, tiers=(tier,), horizon_months=3)


def test_a_lever_that_changes_nothing_has_the_tier_s_horizon_totals() -> None:
    inputs = horizon_inputs()
    same = Lever(
        key="same", label="same fee", plan=(TierChange("pro", monthly_price=inputs.tiers[0].monthly_price),)
    )
    results = simulate(dataclasses.replace(inputs, levers=(same,)), users=USERS, seed=SEED)
    tier = results["tiers"][0]
    totals = tier["levers"][0]["horizon_totals"]
    assert totals["revenue"]["value"] == pytest.approx(tier["horizon"]["total_revenue"], rel=1e-9)
    assert totals["margin"]["value"] == pytest.approx(tier["horizon"]["total_margin"], rel=1e-9)
    subscriber_months = tier["subscribers"] * sum(0.9**m for m in range(3))
    underwater_months = sum(
        month["underwater_share"] * tier["subscribers"] * 0.9**m
        for m, month in enumerate(tier["horizon"]["months"])
    )
    assert totals["underwater_share"]["value"] == pytest.approx(
        underwater_months / subscriber_months, rel=1e-9
    )


def test_the_largest_cap_for_a_60_percent_margin_over_the_horizon() -> None:
    g = 60.0
    answer = goal_seek(
        horizon_inputs(),
        tier="pro",
        vary=Vary("hard_cap", 0, 3000, 1),
        constraints=[Constraint("gross_margin", minimum=g)],
        users=USERS,
        seed=SEED,
        month="horizon",
    )
    assert answer["feasible"]
    cap, figures, adjacent = answer["value"], answer["figures"], answer["adjacent"]
    assert figures["bounds"]["gross_margin"] >= g and adjacent["value"] == cap + 1
    assert adjacent["bounds"]["gross_margin"] < g
    se = figures["gross_margin_pct"]["mc_error"]
    exact = exact_gross_margin_pct(cap)
    step = exact - exact_gross_margin_pct(cap + 1)
    print(
        f"horizon cap {cap:.0f}: exact {exact:.3f}%, estimate {figures['gross_margin_pct']}, step {step:.3f}"
    )
    assert g - 3 * se <= exact <= g + (1.645 + 3) * se + step
    # an independent run with 4x the users and another seed meets the target over the horizon
    inputs = horizon_inputs()
    capped = (tier_with_change(inputs.tiers[0], TierChange("pro", hard_cap=cap)),)
    check = simulate(dataclasses.replace(inputs, tiers=capped), users=4 * USERS, seed=SEED + 1)["tiers"][0]
    assert 100 * check["horizon"]["total_margin"] / check["horizon"]["total_revenue"] >= g


def test_horizon_totals_are_for_one_tier() -> None:
    with pytest.raises(ValueError, match="month: horizon totals are for one tier"):
        goal_seek(
            two_tier_inputs(),
            tier=None,
            vary=Vary("hard_cap", 0, 100, 1),
            constraints=[Constraint("gross_margin", minimum=50)],
            users=1_000,
            seed=1,
            month="horizon",
        )
