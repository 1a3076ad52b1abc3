"""Sensitivity (``planner.engine.sensitivity``): variants move exactly their input, the tornado's
changes are the engine's own differences on common random numbers, and the paired errors are
honest.

The exact case: one workload, one model, constant tokens (every request costs exactly ``COST``)
and no payment fees, so COGS is ``COST x served requests`` and scaling the model's prices by f
scales every user's COGS by f on the same users: the gross margin moves by exactly
``-(f - 1) x (100 - GM)`` and its paired error is 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from planner.engine import simulate
from planner.engine.reference import LinearPricer, standard_scenario_linear
from planner.engine.sensitivity import (
    DEFAULT_RANGES,
    PassFigures,
    ScaledPricer,
    baseline_input,
    run_pass,
    sensitivity,
    sensitivity_tornado,
    sensitivity_variants,
    shift_main_share,
    skipped_inputs,
    sweep,
)
from planner.engine.types import EngineInput, LogNormalSpec, ModelOption, Tier, UsageDist, Workload

COST = 0.025  # 1,000 input tokens at $10/M + 500 output tokens at $30/M
USERS, SEED = 4_000, 11
Z95 = 1.959963984540054


def exact_inputs(horizon_months: int = 1, churn: float = 0.05) -> EngineInput:
    """Two tiers, one workload, one model, constant tokens, no payment fees."""
    workload = Workload(
        key="chat",
        credits_per_request=1,
        models=(ModelOption(key="m", share=1.0, pricer=LinearPricer(10.0, 30.0)),),
        input_tokens=LogNormalSpec(1_000, 1_000),
        output_tokens=LogNormalSpec(500, 500),
    )

    def tier(key: str, fee: float, median: float, subscribers: int) -> Tier:
        usage = (UsageDist(kind="lognormal", median=median, p90=5 * median),)
        return Tier(key, fee, None, None, None, 0.0, 0.0, subscribers, usage, churn_monthly=churn)

    return EngineInput(
        tiers=(tier("pro", 20.0, 200.0, 1_000), tier("team", 60.0, 500.0, 250)),
        workloads=(workload,),
        correlation=((1.0,),),
        horizon_months=horizon_months,
    )


@pytest.fixture(scope="module")
def exact_tornado() -> dict[str, Any]:
    return sensitivity(exact_inputs(), users=USERS, seed=SEED)


def bar(answer: dict[str, Any], tier: str, key: str) -> dict[str, Any]:
    found = next(t for t in answer["tiers"] if t["key"] == tier)
    return next(b for b in found["bars"] if b["input"] == key)


# --- variants ---------------------------------------------------------------------------------


def _restore(moved: EngineInput, base: EngineInput, family: str) -> EngineInput:
    """``moved`` with the fields ``family`` may change copied back from ``base``."""
    if family in ("usage_median", "usage_spread", "churn", "subscribers"):
        return dataclasses.replace(moved, tiers=base.tiers)
    if family in ("model_price", "model_mix", "prompt_cache", "response_cache"):
        return dataclasses.replace(moved, workloads=base.workloads)
    return dataclasses.replace(moved, price_trend_yearly=base.price_trend_yearly)


def test_each_variant_moves_its_input_and_nothing_else() -> None:
    inputs = standard_scenario_linear(horizon_months=3)
    base = baseline_input(inputs)
    variants = sensitivity_variants(inputs)
    assert [v.key for v in variants] == [v.key for v in sensitivity_variants(inputs)]  # deterministic
    for variant in variants:
        family = variant.input.split(":")[0]
        assert _restore(variant.inputs, base, family) == base, variant.key
        assert variant.inputs != base or not variant.needs_pass, variant.key
    factor = {v.key: 1 + v.value for v in variants}
    by_key = {v.key: v.inputs for v in variants}
    low = by_key["usage_median:low"]
    for moved, tier in zip(low.tiers, base.tiers, strict=True):
        for d, b in zip(moved.usage, tier.usage, strict=True):
            assert (d.median, d.p90) == pytest.approx((0.75 * b.median, 0.75 * b.p90), rel=1e-15)
            assert dataclasses.replace(d, median=b.median, p90=b.p90) == b
    spread = by_key["usage_spread:high"]
    for moved, tier in zip(spread.tiers, base.tiers, strict=True):
        for d, b in zip(moved.usage, tier.usage, strict=True):
            assert d.median == b.median and d.p90 / d.median == pytest.approx(1.25 * b.p90 / b.median)
    price = by_key["model_price:openai/gpt-4o:high"]
    for moved_workload, workload in zip(price.workloads, base.workloads, strict=True):
        for option, original in zip(moved_workload.models, workload.models, strict=True):
            if option.key == "openai/gpt-4o":
                scaled = ScaledPricer(original.pricer, factor["model_price:openai/gpt-4o:high"])
                assert option.pricer == scaled
                assert dataclasses.replace(option, pricer=original.pricer) == original
            else:
                assert option == original
    churn = by_key["churn:low"]
    assert [t.churn_monthly for t in churn.tiers] == pytest.approx(
        [0.5 * t.churn_monthly for t in base.tiers]
    )
    assert by_key["price_trend:low"].price_trend_yearly == -0.5 and base.price_trend_yearly == -0.3
    cache = by_key["prompt_cache:high"]
    assert [w.prompt_cache_share for w in cache.workloads] == pytest.approx([0.0, 0.6, 0.0])


def test_the_model_mix_moves_the_main_model_and_renormalises() -> None:
    inputs = standard_scenario_linear(horizon_months=1)
    variants = {v.key: v.inputs for v in sensitivity_variants(inputs)}
    for side, shift in (("low", -0.1), ("high", 0.1)):
        chat = variants[f"model_mix:chat:{side}"].workloads[0]
        shares = [m.share for m in chat.models]
        assert sum(shares) == pytest.approx(1.0, abs=1e-15)
        assert shares[0] == pytest.approx(0.7 + shift, abs=1e-12)
        assert [m.key for m in chat.models] == [m.key for m in inputs.workloads[0].models]
        assert variants[f"model_mix:chat:{side}"].workloads[1:] == inputs.workloads[1:]
    three = (
        ModelOption("a", 0.5, LinearPricer(1, 1)),
        ModelOption("b", 0.3, LinearPricer(1, 1)),
        ModelOption("c", 0.2, LinearPricer(1, 1)),
    )
    moved = [m.share for m in shift_main_share(three, 0.1)]
    assert sum(moved) == pytest.approx(1.0) and moved == pytest.approx([0.6, 0.4 * 0.6, 0.4 * 0.4])
    assert [m.share for m in shift_main_share(three, 0.9)] == pytest.approx([1.0, 0.0, 0.0])


def test_inputs_the_scenario_lacks_are_skipped_with_a_reason() -> None:
    skipped = {s["input"]: s["reason"] for s in skipped_inputs(exact_inputs(), {"usage_spread": None})}
    assert set(skipped) == {"usage_spread", "model_mix:chat", "prompt_cache", "response_cache"}
    assert skipped["usage_spread"] == "left out by the request"
    assert skipped["model_mix:chat"] == "one model only"
    keys = {v.input for v in sensitivity_variants(exact_inputs(), {"usage_spread": None})}
    assert not keys & set(skipped)


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"usage_mean": [-0.1, 0.1]}, "ranges: unknown input 'usage_mean'"),
        ({"usage_median": [0.2, -0.2]}, r"ranges\.usage_median: low and high"),
        ({"churn": [-1.0, 0.5]}, r"ranges\.churn: low must be above -1"),
        ({"model_mix": [-0.1, 1.5]}, r"ranges\.model_mix: a share shift"),
        ({"price_trend": [-1.5, 0.0]}, r"ranges\.price_trend: low must be above -1"),
        ({"model_price": "wide"}, r"ranges\.model_price: give \[low, high\]"),
        ({"model_price": [float("nan"), 0.1]}, r"ranges\.model_price: low and high must be finite"),
    ],
)
def test_bad_ranges_are_errors_naming_the_field(ranges: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sensitivity_variants(exact_inputs(), ranges)


# --- the tornado on common random numbers -----------------------------------------------------


def test_the_only_models_price_moves_the_margin_by_the_exact_amount(exact_tornado: dict[str, Any]) -> None:
    # GM = 100 (1 - C/R) on the same users, so the change is -(f - 1)(100 - GM) exactly and its
    # only error is that of the estimated C/R: |f - 1| x the baseline's standard error.
    for tier in exact_tornado["tiers"]:
        gm = tier["baseline"]["gross_margin"]["value"]
        low, high = tier["baseline"]["gross_margin"]["interval"]
        base_error = (high - low) / (2 * Z95)
        price = bar(exact_tornado, tier["key"], "model_price:m")
        for side, factor in (("low", 0.7), ("high", 1.3)):
            figure = price[side]["figures"]["gross_margin"]
            assert figure["delta"] == pytest.approx(-(factor - 1) * (100 - gm), rel=1e-9, abs=1e-9)
            assert figure["delta_error"] == pytest.approx(abs(factor - 1) * base_error, rel=1e-6)
            # Unpaired, the same change would carry both runs' whole sampling error.
            unpaired = base_error * math.hypot(1.0, factor)
            assert figure["unpaired_error"] == pytest.approx(unpaired, rel=1e-6)
            assert figure["delta_error"] < unpaired / 4
        assert price["within_noise"] is False
        assert price["swing"] == pytest.approx(0.6 * abs(100 - gm), rel=1e-9)
        assert price["swing_error"] == pytest.approx(0.6 * base_error, rel=1e-6)


def test_a_mix_change_is_measured_far_more_precisely_paired() -> None:
    inputs = standard_scenario_linear(horizon_months=1)
    variants = [v for v in sensitivity_variants(inputs) if v.input == "model_mix:chat"]
    baseline = run_pass(baseline_input(inputs), users=USERS, seed=SEED)
    moved = [run_pass(v.inputs, users=USERS, seed=SEED) for v in variants]
    answer = sensitivity_tornado(baseline, variants, moved, tier="pro")
    mix = answer["tiers"][0]["bars"][0]
    for side, sign in (("low", -1), ("high", 1)):  # more of the small model: cheaper
        figure = mix[side]["figures"]["gross_margin"]
        assert sign * figure["delta"] > 0
        assert 0 < figure["delta_error"] < figure["unpaired_error"] / 10
    assert mix["within_noise"] is False


def test_the_usage_delta_is_the_difference_of_two_plain_runs(exact_tornado: dict[str, Any]) -> None:
    inputs = exact_inputs()
    variant = next(v for v in sensitivity_variants(inputs) if v.key == "usage_median:high")
    plain_base = simulate(baseline_input(inputs), users=USERS, seed=SEED)
    plain_high = simulate(variant.inputs, users=USERS, seed=SEED)
    for t, tier in enumerate(plain_base["tiers"]):
        high = bar(exact_tornado, tier["key"], "usage_median")["high"]["figures"]
        other = plain_high["tiers"][t]
        pairs = {
            "gross_margin": lambda r: r["gross_margin_pct"]["value"],
            "underwater_share": lambda r: r["underwater"]["share"],
            "underwater_loss": lambda r: r["underwater"]["monthly_loss"]["value"],
            "horizon_margin": lambda r: r["horizon"]["total_margin"],
        }
        for metric, read in pairs.items():
            assert high[metric]["value"] == read(other), metric
            assert high[metric]["delta"] == read(other) - read(tier), metric


def test_an_input_that_changes_nothing_is_within_noise(exact_tornado: dict[str, Any]) -> None:
    # A one-month horizon: churn weighs month 1 by (1 - churn) ** 0 = 1 and the price trend's
    # factor of month 1 is (1 + trend) ** 0 = 1, so neither changes any figure.
    for key in ("churn", "price_trend"):
        moved = bar(exact_tornado, "pro", key)
        assert moved["within_noise"] is True and moved["swing"] == 0.0
        for side in ("low", "high"):
            assert all(f["delta"] == 0.0 for f in moved[side]["figures"].values())
    assert bar(exact_tornado, "pro", "usage_median")["within_noise"] is False


def test_bars_are_ranked_by_swing_of_the_chosen_metric(exact_tornado: dict[str, Any]) -> None:
    for tier in exact_tornado["tiers"]:
        swings = [b["swing"] for b in tier["bars"]]
        assert swings == sorted(swings, reverse=True) and swings[0] > 0
        assert {b["input"] for b in tier["bars"]} == {
            "usage_median",
            "usage_spread",
            "model_price:m",
            "churn",
            "price_trend",
            f"subscribers:{tier['key']}",
        }
        for b in tier["bars"]:
            low, high = b["low"]["figures"]["gross_margin"], b["high"]["figures"]["gross_margin"]
            assert b["swing"] == pytest.approx(abs(high["value"] - low["value"]), abs=1e-12)
            assert b["within_noise"] == (b["swing"] <= Z95 * b["swing_error"])


def test_the_subscriber_mix_reweights_the_same_users(exact_tornado: dict[str, Any]) -> None:
    moved = bar(exact_tornado, "team", "subscribers:team")
    base = next(t for t in exact_tornado["tiers"] if t["key"] == "team")["baseline"]
    for side, factor in (("low", 0.8), ("high", 1.2)):
        figures = moved[side]["figures"]
        assert figures["gross_margin"]["delta"] == 0.0 and figures["underwater_share"]["delta"] == 0.0
        loss = base["underwater_loss"]["value"]
        assert figures["underwater_loss"]["delta"] == pytest.approx((factor - 1) * loss, rel=1e-12)
    variant = next(v for v in sensitivity_variants(exact_inputs()) if v.key == "subscribers:team:high")
    assert [t.subscribers for t in variant.inputs.tiers] == [950, 300] and not variant.needs_pass


def test_a_metric_ranks_the_bars_and_unknown_ones_are_errors() -> None:
    inputs = exact_inputs(horizon_months=3)
    ranges = {"usage_spread": None, "model_price": None, "usage_median": None}
    answer = sensitivity(inputs, users=2_000, seed=SEED, ranges=ranges, tier="pro", metric="horizon_margin")
    assert [t["key"] for t in answer["tiers"]] == ["pro"] and answer["metric"] == "horizon_margin"
    bars = answer["tiers"][0]["bars"]
    assert [b["input"] for b in bars][:2] == ["churn", "subscribers:pro"] or bars[0]["swing"] >= bars[1][
        "swing"
    ]
    churn = bar(answer, "pro", "churn")
    horizon = answer["tiers"][0]["baseline"]["horizon_margin"]["value"]
    assert churn["within_noise"] is False and horizon > 0  # more churn, fewer months of margin
    assert (
        churn["high"]["figures"]["horizon_margin"]["delta"]
        < 0
        < churn["low"]["figures"]["horizon_margin"]["delta"]
    )
    with pytest.raises(ValueError, match="metric: unknown metric 'margin'"):
        sensitivity(inputs, users=2_000, seed=SEED, metric="margin")
    with pytest.raises(ValueError, match="tier: the scenario's plan has no tier named 'max'"):
        sensitivity(inputs, users=2_000, seed=SEED, tier="max")


def test_pass_figures_survive_json_and_give_the_same_tornado() -> None:
    inputs = exact_inputs()
    ranges = {k: None for k in DEFAULT_RANGES if k not in ("model_price", "churn")}
    variants = sensitivity_variants(inputs, ranges)
    baseline = run_pass(baseline_input(inputs), users=2_000, seed=SEED)
    results = [run_pass(v.inputs, users=2_000, seed=SEED) if v.needs_pass else None for v in variants]
    stored = [None if r is None else PassFigures.from_json(r.to_json()) for r in results]
    again = PassFigures.from_json(baseline.to_json())
    assert np.array_equal(again.margin_by_month, baseline.margin_by_month) and again.tiers == baseline.tiers
    assert sensitivity_tornado(again, variants, stored) == sensitivity_tornado(baseline, variants, results)
    with pytest.raises(ValueError, match="variant_results: 'model_price:m:low' needs the figures"):
        sensitivity_tornado(baseline, variants, [None] * len(variants))
    other = run_pass(variants[0].inputs, users=2_000, seed=SEED + 1)
    with pytest.raises(ValueError, match="was not run on the baseline's users"):
        sensitivity_tornado(baseline, variants, [other, *results[1:]])


def test_a_sweep_is_a_line_through_the_tornados_ends(exact_tornado: dict[str, Any]) -> None:
    line = sweep(exact_inputs(), input="model_price:m", points=5, users=USERS, seed=SEED)
    assert line["input"] == "model_price:m"
    for tier in line["tiers"]:
        points = tier["points"]
        assert [p["value"] for p in points] == pytest.approx([-0.3, -0.15, 0.0, 0.15, 0.3])
        middle = points[2]["figures"]["gross_margin"]
        assert middle["delta"] == pytest.approx(0.0, abs=1e-9) and middle["delta_error"] < 1e-9
        ends = bar(exact_tornado, tier["key"], "model_price:m")
        assert (
            points[0]["figures"] == ends["low"]["figures"]
            and points[-1]["figures"] == ends["high"]["figures"]
        )
        margins = [p["figures"]["gross_margin"]["value"] for p in points]
        assert margins == sorted(margins, reverse=True)
        low, high = points[0]["figures"]["gross_margin"]["interval"]
        assert low < margins[0] < high and math.isclose(high - margins[0], margins[0] - low)
    with pytest.raises(ValueError, match=r"input: 'model_mix:chat' cannot be swept \(one model only\)"):
        sweep(exact_inputs(), input="model_mix:chat", points=3, users=USERS, seed=SEED)
    with pytest.raises(ValueError, match="points: a sweep needs at least 2 points"):
        sweep(exact_inputs(), input="usage_median", points=1, users=USERS, seed=SEED)
