"""Engine behaviour: closed forms, reproducibility, monotonicity, degenerate inputs, purity.

Pure tests: no database. Statistical checks use fixed seeds and tolerances of 4 of the
engine's own standard errors.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import integrate
from scipy import stats as sps

from planner.engine import block_count, merge, prepare, simulate, simulate_block, summarize
from planner.engine.reference import LinearPricer, standard_scenario_linear
from planner.engine.types import EngineInput, Lever, LogNormalSpec, ModelOption, Tier, UsageDist, Workload

ENGINE_DIR = Path(__file__).resolve().parents[2] / "planner" / "engine"


def one_workload_input(
    *,
    fee: float = 20.0,
    median: float = 40.0,
    p90: float = 240.0,
    tokens: tuple[float, float] = (1000.0, 1000.0),
    price: LinearPricer | None = None,
    included: float | None = None,
    overage: float | None = None,
    cap: float | None = None,
    subscribers: int = 1000,
    hit_rate: float = 0.0,
    fee_pct: float = 0.0,
    levers: tuple[Lever, ...] = (),
) -> EngineInput:
    """One tier, one workload with constant tokens (so a fixed cost per request by default)."""
    price = price or LinearPricer(input=10.0, output=0.0)
    workload = Workload(
        key="chat",
        credits_per_request=1.0,
        models=(ModelOption("m", 1.0, price),),
        input_tokens=LogNormalSpec(*tokens),
        output_tokens=LogNormalSpec(0.0, 0.0),
        response_cache_hit_rate=hit_rate,
    )
    tier = Tier(
        key="pro",
        monthly_price=fee,
        included_credits=included,
        overage_price=overage,
        hard_cap=cap,
        payment_fee_pct=fee_pct,
        payment_fee_fixed=0.0,
        subscribers=subscribers,
        usage=(UsageDist(kind="lognormal", median=median, p90=p90),),
    )
    return EngineInput(
        tiers=(tier,), workloads=(workload,), correlation=((1.0,),), horizon_months=2, levers=levers
    )


def walk_numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from walk_numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk_numbers(item)
    elif isinstance(value, float | int) and not isinstance(value, bool):
        yield value


def test_closed_form_mean_cogs_and_underwater_share():
    # Cost per request is exactly 1000 tokens * $10/Mtok = $0.01; fee $20 -> underwater when N > 2000.
    median, p90, cost = 400.0, 2400.0, 0.01
    result = simulate(one_workload_input(median=median, p90=p90), users=300_000, seed=5)
    tier = result["tiers"][0]
    sigma = math.log(p90 / median) / 1.2815515655446004
    exact_mean = cost * median * math.exp(sigma**2 / 2)
    mean = tier["cogs_per_user"]["mean"]
    assert mean["mc_error"] > 0
    assert abs(mean["value"] - exact_mean) < 4 * mean["mc_error"]

    # P(Poisson(lambda) > 2000) integrated over the lognormal intensity; adaptive quadrature in
    # z with a breakpoint where lambda = 2000 (the integrand is a steep step there).
    def integrand(z: float) -> float:
        return float(sps.poisson.sf(2000, median * math.exp(sigma * z)) * sps.norm.pdf(z))

    step = math.log(2000 / median) / sigma
    exact_share, _ = integrate.quad(integrand, -12, 12, points=[step], limit=200, epsabs=1e-12)
    n = tier["simulated_users"]
    share = tier["underwater"]["share"]
    assert abs(share - exact_share) < 4 * math.sqrt(exact_share * (1 - exact_share) / n)


def test_same_seed_and_inputs_give_identical_results():
    inputs = standard_scenario_linear(horizon_months=3)
    assert simulate(inputs, users=70_000, seed=9) == simulate(inputs, users=70_000, seed=9)


def test_results_do_not_depend_on_block_order_or_grouping():
    inputs = standard_scenario_linear(horizon_months=2)
    prepared = prepare(inputs, users=150_000, seed=3)
    assert prepared.blocks == block_count(150_000) == 3
    in_order = [simulate_block(prepared, b) for b in range(prepared.blocks)]
    reversed_run = [simulate_block(prepared, b) for b in reversed(range(prepared.blocks))]
    other_process = prepare(inputs, users=150_000, seed=3)
    one_block_elsewhere = [simulate_block(other_process, 1)]
    mixed = [reversed_run[0], one_block_elsewhere[0], in_order[0]]
    baseline = summarize(prepared, merge(prepared, in_order))
    assert summarize(prepared, merge(prepared, reversed_run)) == baseline
    assert summarize(prepared, merge(prepared, mixed)) == baseline


def test_a_block_given_twice_is_rejected():
    prepared = prepare(one_workload_input(), users=70_000, seed=1)
    block = simulate_block(prepared, 0)
    with pytest.raises(ValueError, match="twice"):
        merge(prepared, [block, block])


def test_different_seeds_give_different_draws():
    inputs = one_workload_input()
    a = simulate(inputs, users=10_000, seed=1)["tiers"][0]["cogs_per_user"]["mean"]["value"]
    b = simulate(inputs, users=10_000, seed=2)["tiers"][0]["cogs_per_user"]["mean"]["value"]
    assert a != b


@pytest.mark.parametrize("fees", [(10.0, 20.0), (20.0, 25.0)])
def test_higher_fee_never_lowers_margin(fees):
    low, high = (simulate(one_workload_input(fee=f), users=20_000, seed=4)["tiers"][0] for f in fees)
    assert high["margin_per_user"]["value"] > low["margin_per_user"]["value"]
    assert high["underwater"]["share"] <= low["underwater"]["share"]


def test_higher_response_cache_hit_rate_never_raises_cogs():
    price = LinearPricer(input=2.5, output=10.0)
    means = []
    per_credit = []
    for rate in (0.0, 0.2, 0.5, 0.9):
        inputs = one_workload_input(tokens=(800.0, 3000.0), price=price, hit_rate=rate)
        tier = simulate(inputs, users=20_000, seed=4)["tiers"][0]
        means.append(tier["cogs_per_user"]["mean"]["value"])
        per_credit.append(tier["cost_per_credit"])
    assert means == sorted(means, reverse=True)
    assert per_credit == sorted(per_credit, reverse=True)


def test_lever_effects_are_measured_on_the_same_users():
    lever = Lever(key="cache", label="Response cache 50%", response_cache_hit_rate=0.5)
    inputs = one_workload_input(tokens=(800.0, 3000.0), levers=(lever,))
    tier = simulate(inputs, users=20_000, seed=4)["tiers"][0]
    effect = tier["levers"][0]
    baseline = tier["cogs_per_user"]["mean"]["value"]
    # Half the requests are served from cache: expected COGS halves. The paired difference's
    # error is far smaller than the baseline's own error (common random numbers).
    change = effect["cogs_change_per_user"]
    assert abs(change["value"] + baseline / 2) < 4 * (
        change["mc_error"] + tier["cogs_per_user"]["mean"]["mc_error"] / 2
    )
    assert change["mc_error"] < tier["cogs_per_user"]["mean"]["mc_error"]


def test_hard_cap_of_zero_serves_nothing_and_costs_nothing():
    tier = simulate(one_workload_input(included=0.0, cap=0.0), users=10_000, seed=1)["tiers"][0]
    assert tier["cogs_per_user"]["mean"]["value"] == 0.0
    assert tier["underwater"]["share"] == 0.0


def test_overage_is_billed_beyond_the_quota_up_to_the_cap():
    inputs = one_workload_input(median=3000, p90=3000.001, included=1000.0, overage=0.02, cap=2000.0)
    tier = simulate(inputs, users=10_000, seed=1)["tiers"][0]
    # Everyone requests ~3000 credits: billed 1000 overage credits at $0.02, served 2000 requests.
    assert tier["revenue_per_user"]["value"] == pytest.approx(20.0 + 20.0, rel=1e-3)
    assert tier["cogs_per_user"]["mean"]["value"] == pytest.approx(2000 * 0.01, rel=1e-3)


def test_degenerate_inputs_give_defined_results():
    no_subscribers = one_workload_input(subscribers=0)
    free_prices = one_workload_input(price=LinearPricer(0.0, 0.0))
    no_usage = one_workload_input(median=0.0, p90=0.0)
    free_tier = one_workload_input(fee=0.0)
    for inputs in (no_subscribers, free_prices, no_usage, free_tier):
        result = simulate(inputs, users=5_000, seed=1)
        assert all(math.isfinite(x) for x in walk_numbers(result))
    assert simulate(free_prices, users=5_000, seed=1)["tiers"][0]["cogs_per_user"]["mean"]["value"] == 0.0
    assert simulate(no_subscribers, users=5_000, seed=1)["total"]["revenue"] == 0.0
    free = simulate(free_tier, users=5_000, seed=1)["tiers"][0]
    assert free["break_even"]["kind"] == "free"
    assert free["acquisition_cost_per_user"]["value"] > 0


def test_break_even_is_where_expected_margin_turns_negative():
    tier = simulate(one_workload_input(), users=5_000, seed=1)["tiers"][0]
    assert tier["break_even"] == {"kind": "from", "credits": pytest.approx(2000.0), "until": None}
    overage = simulate(one_workload_input(included=1000.0, overage=0.02, fee=5.0), users=5_000, seed=1)
    # Margin 5 - 0.01c falls to zero at c=500, then rises by 0.01 per credit past 1000: back at 1500.
    assert overage["tiers"][0]["break_even"] == {
        "kind": "range",
        "credits": pytest.approx(500.0),
        "until": pytest.approx(1500.0),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"monthly_price": float("nan")}, "finite"),
        ({"payment_fee_pct": 1.5}, "payment fee"),
        ({"usage": (UsageDist(kind="lognormal", median=10, p90=5),)}, "median <= p90"),
        ({"usage": (UsageDist(kind="pareto", scale=1, alpha=1.5),)}, "alpha > 2"),
        ({"subscribers": -1}, "subscribers"),
    ],
)
def test_invalid_inputs_raise_readable_errors(change, message):
    inputs = one_workload_input()
    broken = dataclasses.replace(inputs, tiers=(dataclasses.replace(inputs.tiers[0], **change),))
    with pytest.raises(ValueError, match=message):
        prepare(broken, users=1000, seed=1)


def test_non_psd_correlation_is_rejected():
    inputs = standard_scenario_linear()
    bad = ((1.0, 0.9, -0.9), (0.9, 1.0, 0.9), (-0.9, 0.9, 1.0))
    with pytest.raises(ValueError, match="positive semi-definite"):
        prepare(dataclasses.replace(inputs, correlation=bad), users=1000, seed=1)


@pytest.mark.parametrize(
    "dist",
    [
        UsageDist(kind="gamma", mean=40.0, shape=0.5),
        UsageDist(kind="pareto", scale=10.0, alpha=2.5),
        UsageDist(kind="pareto", scale=10.0, alpha=1.2, upper=5000.0),
        UsageDist(kind="empirical", values=(1.0, 5.0, 20.0, 80.0, 300.0)),
        UsageDist(kind="lognormal", median=40.0, p90=240.0, overdispersion=2.0),
    ],
)
def test_every_usage_kind_matches_its_mean(dist):
    inputs = one_workload_input()
    inputs = dataclasses.replace(inputs, tiers=(dataclasses.replace(inputs.tiers[0], usage=(dist,)),))
    tier = simulate(inputs, users=200_000, seed=8)["tiers"][0]
    from planner.engine.usage import mean_intensity

    expected = mean_intensity(dist) * 0.01
    mean = tier["cogs_per_user"]["mean"]
    assert abs(mean["value"] - expected) < 4 * mean["mc_error"]


def test_engine_package_imports_no_django_celery_or_orm():
    forbidden = (
        "django",
        "rest_framework",
        "celery",
        "kombu",
        "pricing",
        "api",
        "planner.models",
        "planner.services",
    )
    for path in ENGINE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
    code = (
        "import sys, planner.engine, planner.engine.reference;"
        "roots=('django','celery','kombu','rest_framework','pricing');"
        "bad=[m for m in sys.modules if m.split('.')[0] in roots];"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ENGINE_DIR.parents[1]
    )
    assert out.stdout.strip() == ""
