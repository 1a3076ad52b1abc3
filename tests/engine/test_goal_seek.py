"""Goal seek (``planner.engine.decisions``) on an analytic case: one tier, one workload, one
model, constant tokens (every request costs exactly ``COST``), lognormal intensity and Poisson
counts, no payment fees, so the exact figures are 1-D integrals over the intensity:

- underwater share at fee f: ``P(COST x N > f) = E[P(N > floor(f / COST))]``;
- gross margin with a cap (or a quota without overage) q: ``1 - COST x E[min(N, q)] / fee``.

For the fee, the cap and the included credits: (a) on the optimizer's own users the bound meets
every constraint at the answer and violates one at the adjacent lattice step; (b) the exact
figure at the answer meets the constraint and is not over-conservative (within 3 reported
standard errors of the target); (c) an independent run with 4x the users and another seed has
its point estimate within the constraint.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from planner.engine import simulate
from planner.engine.decisions import Constraint, Vary, goal_seek
from planner.engine.frontier import grid_search, pareto_frontier
from planner.engine.reference import LinearPricer
from planner.engine.types import EngineInput, Lever, LogNormalSpec, ModelOption, Tier, UsageDist, Workload

COST = 0.025  # 1,000 input tokens at $10/M + 500 output tokens at $30/M
FEE = 20.0
MEDIAN, P90 = 400.0, 2_000.0
SIGMA = math.log(P90 / MEDIAN) / sps.norm.ppf(0.9)
USERS, SEED = 20_000, 7


def analytic_inputs() -> EngineInput:
    workload = Workload(
        key="chat",
        credits_per_request=1,
        models=(ModelOption(key="m", share=1.0, pricer=LinearPricer(10.0, 30.0)),),
        input_tokens=LogNormalSpec(1_000, 1_000),
        output_tokens=LogNormalSpec(500, 500),
    )
    tier = Tier(
        "pro", FEE, None, None, None, 0.0, 0.0, 1_000, (UsageDist(kind="lognormal", median=MEDIAN, p90=P90),)
    )
    return EngineInput(tiers=(tier,), workloads=(workload,), correlation=((1.0,),), horizon_months=1)


def _over_intensity(f: Any) -> float:
    """E[f(lambda)] for the lognormal intensity."""
    value, _ = integrate.quad(
        lambda z: f(MEDIAN * math.exp(SIGMA * z)) * sps.norm.pdf(z), -9, 9, limit=400, epsabs=1e-11
    )
    return float(value)


def exact_underwater(fee: float) -> float:
    m = math.floor(fee / COST + 1e-9)
    return _over_intensity(lambda lam: sps.poisson.sf(m, lam))


def exact_gross_margin_pct(cap: float) -> float:
    j = np.arange(int(cap))
    served = _over_intensity(lambda lam: float(sps.poisson.sf(j, lam).sum()))
    return 100.0 * (1.0 - COST * served / FEE)


def test_the_least_fee_that_keeps_the_underwater_share_at_5_percent() -> None:
    u = 0.05
    answer = goal_seek(
        analytic_inputs(),
        tier="pro",
        vary=Vary("fee", 20.0, 200.0, 0.01),
        constraints=[Constraint("underwater_share", maximum=u)],
        users=USERS,
        seed=SEED,
    )
    assert answer["feasible"] and answer["passes"] <= 3
    value, adjacent = answer["value"], answer["adjacent"]
    # (a) The bound meets the target at the answer and not one cent lower.
    assert answer["figures"]["bounds"]["underwater_share"] <= u
    assert adjacent is not None and adjacent["value"] == pytest.approx(value - 0.01)
    assert adjacent["bounds"]["underwater_share"] > u
    # (b) The exact share meets it and is within 3 standard errors of it.
    share = answer["figures"]["underwater_share"]["value"]
    se = math.sqrt(share * (1 - share) / USERS)
    exact = exact_underwater(value)
    print(f"fee {value:.2f}: exact {exact:.4f}, estimate {share:.4f} +- {se:.4f}")
    assert u - 3 * se <= exact <= u
    # (c) An independent, 4x larger run agrees.
    tier = dataclasses.replace(analytic_inputs().tiers[0], monthly_price=value)
    check = simulate(dataclasses.replace(analytic_inputs(), tiers=(tier,)), users=4 * USERS, seed=SEED + 1)
    assert check["tiers"][0]["underwater"]["share"] <= u


@pytest.mark.parametrize("setting", ["hard_cap", "included_credits"])
def test_the_largest_cap_that_keeps_gross_margin_at_60_percent(setting: str) -> None:
    g = 60.0
    answer = goal_seek(
        analytic_inputs(),
        tier="pro",
        vary=Vary(setting, 0.0, 5_000.0, 1.0),
        constraints=[Constraint("gross_margin", minimum=g)],
        users=USERS,
        seed=SEED,
    )
    assert answer["feasible"] and answer["current"] is None and answer["passes"] <= 3
    value, adjacent = answer["value"], answer["adjacent"]
    # (a) An uncapped tier: the largest cap that meets the target; one credit more does not.
    assert answer["figures"]["bounds"]["gross_margin"] >= g
    assert adjacent is not None and adjacent["value"] == value + 1
    assert adjacent["bounds"]["gross_margin"] < g
    # (b) The exact margin meets it and is within 3 standard errors of it.
    se = answer["figures"]["gross_margin_pct"]["mc_error"]
    exact = exact_gross_margin_pct(value)
    print(f"{setting} {value:.0f}: exact {exact:.3f}%, estimate {answer['figures']['gross_margin_pct']}")
    assert g <= exact <= g + 3 * se
    # (c) An independent, 4x larger run agrees.
    field = {"hard_cap": "hard_cap", "included_credits": "included_credits"}[setting]
    tier = dataclasses.replace(analytic_inputs().tiers[0], **{field: value})
    check = simulate(dataclasses.replace(analytic_inputs(), tiers=(tier,)), users=4 * USERS, seed=SEED + 1)
    assert check["tiers"][0]["gross_margin_pct"]["value"] >= g


def test_an_infeasible_target_reports_the_closest_candidate_checked_by_a_plain_run() -> None:
    answer = goal_seek(
        analytic_inputs(),
        tier="pro",
        vary=Vary("fee", 20.0, 30.0, 0.01),
        constraints=[Constraint("underwater_share", maximum=0.01)],
        users=USERS,
        seed=SEED,
    )
    assert not answer["feasible"] and answer["value"] is None
    closest = answer["closest"]
    assert closest["value"] == pytest.approx(30.0)  # the highest fee is closest to the target
    tier = dataclasses.replace(analytic_inputs().tiers[0], monthly_price=closest["value"])
    plain = simulate(dataclasses.replace(analytic_inputs(), tiers=(tier,)), users=USERS, seed=SEED)
    assert plain["tiers"][0]["underwater"]["share"] == pytest.approx(
        closest["underwater_share"]["value"], abs=1e-12
    )


@pytest.mark.parametrize(
    ("vary", "constraints", "message"),
    [
        (
            Vary("fee", 0, 100, 1),
            [Constraint("underwater_share", maximum=1.5)],
            r"constraints\[0\]\.max: a share",
        ),
        (Vary("hard_cap", -5, 100, 1), [Constraint("gross_margin", minimum=50)], "vary.min: must be at"),
        (Vary("overage_price", 0, 1, 0.01), [Constraint("gross_margin", minimum=50)], "no overage"),
        (Vary("seats", 0, 1, 1), [Constraint("gross_margin", minimum=50)], "vary.setting"),
        (Vary("fee", 0, 100, 1), [Constraint("churn", maximum=0.1)], r"constraints\[0\].metric"),
        (Vary("fee", 0, 100, 1), [], "constraints: give at least one"),
        (Vary("fee", 10, 5, 1), [Constraint("gross_margin", minimum=50)], "vary.max"),
    ],
)
def test_bad_requests_name_the_field(vary: Vary, constraints: list[Constraint], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        goal_seek(analytic_inputs(), tier="pro", vary=vary, constraints=constraints, users=1_000, seed=1)
    with pytest.raises(ValueError, match="tier: no tier named"):
        goal_seek(analytic_inputs(), tier="max", vary=vary, constraints=constraints, users=1_000, seed=1)


def test_a_grid_point_equals_a_plain_run_of_its_plan_and_the_frontier_is_not_dominated() -> None:
    answer = grid_search(
        analytic_inputs(),
        tier="pro",
        vary=(Vary("fee", 20.0, 60.0, 0.01), Vary("hard_cap", 200.0, 1_200.0, 1.0)),
        constraints=[Constraint("underwater_share", maximum=0.1)],
        users=4_000,
        seed=SEED,
        points=4,
    )
    assert len(answer["grid"]) == 16
    point = answer["grid"][5]
    tier = dataclasses.replace(
        analytic_inputs().tiers[0], monthly_price=point["fee"], hard_cap=point["hard_cap"]
    )
    plain = simulate(dataclasses.replace(analytic_inputs(), tiers=(tier,)), users=4_000, seed=SEED)
    figures = plain["tiers"][0]
    assert point["underwater_share"]["value"] == pytest.approx(
        figures["underwater"]["share"], rel=1e-12, abs=1e-15
    )
    assert point["gross_margin_pct"]["value"] == pytest.approx(
        figures["gross_margin_pct"]["value"], rel=1e-12
    )
    feasible = [p for p in answer["grid"] if p["feasible"]]
    assert answer["frontier"] == pareto_frontier(feasible) and answer["frontier"]


def test_pareto_frontier_keeps_only_undominated_points() -> None:
    def point(margin: float, under: float, capped: float) -> dict[str, Any]:
        return {
            "margin_per_user": {"value": margin},
            "underwater_share": {"value": under},
            "cap_hit_share": {"value": capped},
        }

    a, b, c, d = point(5, 0.1, 0.0), point(4, 0.05, 0.0), point(4, 0.1, 0.0), point(6, 0.2, 0.3)
    assert pareto_frontier([a, b, c, d]) == [d, a, b]  # c is beaten by a; by margin, best first
    assert pareto_frontier([a, a]) == [a, a]  # equal points do not dominate each other


def test_the_least_response_cache_hit_rate_for_a_target_margin() -> None:
    """Cache hits use quota but cost nothing, so without a cap the exact gross margin is
    ``1 - (1 - h) x COST x E[N] / fee`` with ``E[N] = median x exp(sigma^2 / 2)``."""
    g = 60.0
    cache = Lever(key="cache", label="Response cache", response_cache_hit_rate=0.3)
    inputs = dataclasses.replace(analytic_inputs(), levers=(cache,))
    answer = goal_seek(
        inputs,
        tier="pro",
        vary=Vary("response_cache_hit_rate", 0.0, 1.0, 0.005, lever="cache"),
        constraints=[Constraint("gross_margin", minimum=g)],
        users=USERS,
        seed=SEED,
    )
    assert answer["feasible"] and answer["current"] == 0.0
    value, adjacent = answer["value"], answer["adjacent"]
    assert answer["figures"]["bounds"]["gross_margin"] >= g
    assert adjacent is not None and adjacent["value"] == pytest.approx(value - 0.005)
    assert adjacent["bounds"]["gross_margin"] < g
    mean_requests = MEDIAN * math.exp(SIGMA**2 / 2)

    def exact(h: float) -> float:
        return 100.0 * (1.0 - (1.0 - h) * COST * mean_requests / FEE)

    se = answer["figures"]["gross_margin_pct"]["mc_error"]
    print(f"cache hit rate {value:.3f}: exact {exact(value):.3f}%, estimate ± {se:.3f}")
    # Not over-conservative: within 3 standard errors plus one lattice step's change (0.55
    # points here, coarser than the error) of the target.
    assert g <= exact(value) <= g + 3 * se + (exact(value) - exact(value - 0.005))
    with pytest.raises(ValueError, match="vary.lever: the scenario has no lever 'nope'"):
        goal_seek(
            inputs,
            tier="pro",
            vary=Vary("response_cache_hit_rate", 0.0, 1.0, 0.005, lever="nope"),
            constraints=[Constraint("gross_margin", minimum=g)],
            users=1_000,
            seed=1,
        )
