"""The cost calculator's conventions, validation, JSON round trip, vectorised form and price trend."""

from __future__ import annotations

import json
import pickle
import time
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from genai_prices import data as genai_data

from pricing.calculator import (
    CONSTANT_QUALITY_PRICE_TREND,
    DEFAULT_PRICE_TREND,
    PriceSchedule,
    VectorPricer,
    project_price_factor,
    request_cost,
    schedule_for,
)
from pricing.catalog import price_rows_from_genai
from tests.pricing.support import Batch, FloatArray

M = 1_000_000
TIERED = PriceSchedule.from_structure(
    {
        "input_mtok": {"base": "3", "tiers": [{"start": 200000, "price": "6"}]},
        "output_mtok": {"base": "15", "tiers": [{"start": 200000, "price": "22.5"}]},
        "cache_read_mtok": {"base": "0.3", "tiers": [{"start": 200000, "price": "0.6"}]},
    }
)
CACHED = PriceSchedule.from_structure(
    {
        "input_mtok": "3",
        "cache_read_mtok": "0.3",
        "cache_write_mtok": "3.75",
        "cache_write_1h_mtok": "6",
        "output_mtok": "15",
    }
)


def batch(**columns: list[float] | FloatArray) -> Batch:
    names = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
    size = len(next(iter(columns.values())))
    return Batch(**{name: np.asarray(columns.get(name, [0.0] * size), dtype=np.float64) for name in names})


def test_a_tier_applies_to_every_token_of_a_request_past_its_threshold() -> None:
    at_threshold = request_cost(TIERED, input_tokens=200_000, output_tokens=1000)
    past_threshold = request_cost(TIERED, input_tokens=200_001, output_tokens=1000)

    assert at_threshold == Decimal(200_000 * 3 + 1000 * 15) / M
    assert past_threshold == Decimal(200_001 * 6) / M + Decimal(1000) * Decimal("22.5") / M


def test_the_tier_threshold_counts_cached_input_too() -> None:
    cost = request_cost(TIERED, input_tokens=250_000, cache_read_tokens=200_000, output_tokens=0)

    assert cost == Decimal(50_000 * 6) / M + Decimal(200_000) * Decimal("0.6") / M


def test_input_tokens_include_cache_reads_and_writes_billed_at_their_own_rates() -> None:
    cost = request_cost(
        CACHED, input_tokens=10_000, cache_read_tokens=4_000, cache_write_tokens=3_000, output_tokens=0
    )

    assert cost == (3_000 * Decimal(3) + 4_000 * Decimal("0.3") + 3_000 * Decimal("3.75")) / M


def test_one_hour_cache_writes_are_part_of_cache_writes() -> None:
    cost = request_cost(
        CACHED, input_tokens=3_000, cache_write_tokens=3_000, cache_write_1h_tokens=1_000, output_tokens=0
    )

    assert cost == (2_000 * Decimal("3.75") + 1_000 * Decimal(6)) / M


def test_cache_reads_pay_the_input_rate_when_the_price_has_no_cache_rate() -> None:
    plain = PriceSchedule.from_structure({"input_mtok": "2", "output_mtok": "8"})

    assert request_cost(plain, input_tokens=1000, cache_read_tokens=600, output_tokens=0) == Decimal(2000) / M


def test_reasoning_tokens_are_part_of_output_and_pay_the_reasoning_rate_only_where_priced() -> None:
    with_rate = PriceSchedule.from_structure(
        {"input_mtok": "2", "output_mtok": "8", "output_reasoning_mtok": "3"}
    )
    without_rate = PriceSchedule.from_structure({"input_mtok": "2", "output_mtok": "8"})

    assert (
        request_cost(with_rate, input_tokens=0, output_tokens=1000, reasoning_tokens=400)
        == Decimal(600 * 8 + 400 * 3) / M
    )
    assert (
        request_cost(without_rate, input_tokens=0, output_tokens=1000, reasoning_tokens=400)
        == Decimal(8000) / M
    )


def test_a_per_request_price_is_charged_once_per_call() -> None:
    sonar = PriceSchedule.from_structure({"input_mtok": "1", "output_mtok": "1", "requests_kcount": "12"})

    assert request_cost(sonar, input_tokens=0, output_tokens=0) == Decimal("0.012")


def test_other_usage_keys_such_as_web_searches_are_priced() -> None:
    searching = PriceSchedule.from_structure(
        {"input_mtok": "3", "output_mtok": "15", "web_searches_kcount": "10"}
    )

    assert request_cost(
        searching, input_tokens=0, output_tokens=0, other_usage={"web_searches": 3}
    ) == Decimal("0.03")
    with pytest.raises(ValueError, match="not an extra genai-prices usage key"):
        request_cost(searching, input_tokens=0, output_tokens=0, other_usage={"input_tokens": 3})


def test_parts_above_their_total_are_rejected() -> None:
    with pytest.raises(ValueError, match="exceed"):
        request_cost(CACHED, input_tokens=100, cache_read_tokens=200, output_tokens=0)


@pytest.mark.parametrize("bad", [1.5, True, "10"])
def test_token_counts_must_be_int_or_decimal(bad: object) -> None:
    with pytest.raises(TypeError, match="input_tokens"):
        request_cost(CACHED, input_tokens=bad, output_tokens=0)  # type: ignore[arg-type]


def test_token_counts_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="output_tokens"):
        request_cost(CACHED, input_tokens=0, output_tokens=-1)


@pytest.mark.parametrize(
    ("structure", "message"),
    [
        ({"input_mtok": "1", "vibes_mtok": "2"}, "Unknown price key 'vibes_mtok'"),
        ({"input_mtok": "-1"}, "non-negative"),
        ({"input_mtok": 0.1}, "decimal string"),
        ({"input_mtok": "abc"}, "not a decimal"),
        ({"input_mtok": {"base": "1", "tiers": [{"start": -5, "price": "2"}]}}, "start"),
        ({"cache_read_mtok": "1"}, "Inconsistent price"),
    ],
)
def test_invalid_structures_are_rejected_with_the_reason(structure: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PriceSchedule.from_structure(structure)


def test_every_catalog_price_survives_the_json_round_trip() -> None:
    structures = [
        row.structure
        for provider in genai_data.providers
        for model in provider.models
        for row in price_rows_from_genai(model)
    ]
    for structure in structures:
        schedule = PriceSchedule.from_structure(structure)
        assert schedule.to_json() == structure
        assert PriceSchedule.from_json(schedule.to_json()) == schedule
        assert PriceSchedule.from_json(json.dumps(schedule.to_json())) == schedule


def test_schedule_for_reads_a_loaded_row_without_querying() -> None:
    row = SimpleNamespace(structure={"input_mtok": "2", "output_mtok": "8"})

    assert schedule_for(row) == PriceSchedule.from_structure(row.structure)
    assert not schedule_for(row).has_tiers and TIERED.has_tiers


def test_vector_pricer_takes_the_engine_convention_input_without_cache() -> None:
    tokens = batch(
        input_tokens=[6_000.0, 0.0, 199_000.0],
        cache_read_tokens=[4_000.0, 0.0, 2_000.0],
        output_tokens=[500.0, 0.0, 10.0],
        reasoning_tokens=[100.0, 0.0, 0.0],
    )

    costs = VectorPricer(TIERED)(tokens)

    expected = [
        request_cost(
            TIERED, input_tokens=10_000, cache_read_tokens=4_000, output_tokens=600, reasoning_tokens=100
        ),
        Decimal(0),
        request_cost(TIERED, input_tokens=201_000, cache_read_tokens=2_000, output_tokens=10),
    ]
    assert costs.dtype == np.float64
    np.testing.assert_allclose(costs, [float(value) for value in expected], rtol=1e-12, atol=0)


def test_vector_pricer_bills_reasoning_at_the_reasoning_rate_where_priced() -> None:
    with_rate = PriceSchedule.from_structure(
        {"input_mtok": "2", "output_mtok": "8", "output_reasoning_mtok": "3"}
    )
    tokens = batch(output_tokens=[600.0], reasoning_tokens=[400.0])

    np.testing.assert_allclose(VectorPricer(with_rate)(tokens), [(600 * 8 + 400 * 3) / M], rtol=1e-12)


def test_vector_pricer_prices_a_million_requests_quickly() -> None:
    rng = np.random.default_rng(7)
    n = 1_000_000
    tokens = batch(
        input_tokens=rng.integers(0, 300_000, n).astype(float),
        cache_read_tokens=rng.integers(0, 50_000, n).astype(float),
        cache_write_tokens=rng.integers(0, 5_000, n).astype(float),
        output_tokens=rng.integers(0, 4_000, n).astype(float),
        reasoning_tokens=rng.integers(0, 4_000, n).astype(float),
    )
    pricer = VectorPricer(CACHED)

    started = time.perf_counter()
    costs = pricer(tokens)
    elapsed = time.perf_counter() - started

    assert costs.shape == (n,) and np.all(costs >= 0)
    assert elapsed < 2.0, f"{elapsed:.2f} s for a million requests"


def test_vector_pricer_rebuilds_from_a_snapshot_in_a_worker() -> None:
    snapshot = json.dumps(TIERED.to_json())
    rebuilt = VectorPricer(PriceSchedule.from_json(snapshot))
    tokens = batch(input_tokens=[250_000.0], output_tokens=[100.0])

    assert rebuilt == VectorPricer(TIERED)
    np.testing.assert_array_equal(rebuilt(tokens), VectorPricer(TIERED)(tokens))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rebuilt))(tokens), rebuilt(tokens))


def test_price_factor_compounds_the_yearly_trend() -> None:
    assert project_price_factor(months=0, yearly_trend=DEFAULT_PRICE_TREND) == 1.0
    assert project_price_factor(months=12, yearly_trend=-0.30) == pytest.approx(0.70, rel=1e-12)
    assert project_price_factor(months=6, yearly_trend=-0.30) == pytest.approx(0.70**0.5, rel=1e-12)
    factors = project_price_factor(months=np.array([0, 12, 24]), yearly_trend=-0.30)
    np.testing.assert_allclose(factors, [1.0, 0.7, 0.49], rtol=1e-12)


def test_constant_quality_trend_is_280x_cheaper_over_two_years() -> None:
    assert project_price_factor(months=24, yearly_trend=CONSTANT_QUALITY_PRICE_TREND) == pytest.approx(
        1 / 280
    )
    assert round(CONSTANT_QUALITY_PRICE_TREND, 3) == -0.940


@pytest.mark.parametrize("trend", [-1.0, -1.5, float("nan")])
def test_price_factor_rejects_a_trend_that_would_make_prices_vanish(trend: float) -> None:
    with pytest.raises(ValueError, match="yearly_trend"):
        project_price_factor(months=12, yearly_trend=trend)
