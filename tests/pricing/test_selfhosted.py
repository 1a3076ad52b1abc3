"""Self-hosted $/Mtok arithmetic and break-even volume, against hand-computed values."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from pricing.calculator import PriceSchedule, request_cost
from pricing.custom import discounted_structure, private_model_structure
from pricing.selfhosted import SelfHostedSpec, break_even_volume, self_hosted_cost

# $2.50/GPU-hour x 2 GPUs = $5/hour; 5,000 input and 1,000 output tokens/s at 60% utilisation.
SPEC = SelfHostedSpec(
    gpu_hourly_cost=Decimal("2.5"),
    gpus_per_replica=2,
    input_tokens_per_second=5000.0,
    output_tokens_per_second=1000.0,
    target_utilization=0.6,
)


def test_effective_price_per_million_tokens_matches_hand_computation() -> None:
    cost = self_hosted_cost(SPEC)
    # Input: 5,000 x 0.6 x 3600 = 10,800,000 tokens/hour; $5 / 10.8 Mtok = $0.4629629629...
    assert cost.replica_hourly_cost == Decimal("5.0")
    assert cost.input_tokens_per_hour == 10_800_000
    assert cost.input_mtok == Decimal("0.4629629630")
    # Output: 1,000 x 0.6 x 3600 = 2,160,000 tokens/hour; $5 / 2.16 Mtok = $2.3148148148...
    assert cost.output_tokens_per_hour == 2_160_000
    assert cost.output_mtok == Decimal("2.3148148148")
    assert cost.monthly_fixed_cost == Decimal("3650.0")  # $5 x 730 hours
    assert cost.structure() == {"input_mtok": "0.4629629630", "output_mtok": "2.3148148148"}


def test_steps_show_the_arithmetic() -> None:
    steps = self_hosted_cost(SPEC).steps
    assert steps[0] == "Replica cost: $2.5 per GPU-hour x 2 GPUs = $5 per hour"
    assert "5,000 tokens/s x 1 throughput multiplier x 0.6 target utilisation = 3,000 tokens/s" in steps[1]
    assert steps[2] == (
        "Input price: $5 per hour / 10,800,000 tokens per hour x 1,000,000 "
        "= $0.462963 per million input tokens"
    )
    assert steps[-1] == "Fixed monthly cost of one replica: $5 per hour x 730 hours = $3,650"


def test_throughput_multiplier_divides_the_price() -> None:
    faster = SelfHostedSpec(**{**SPEC.__dict__, "throughput_multiplier": 2.0, "quantization": "INT8"})
    cost = self_hosted_cost(faster)
    assert cost.input_mtok == Decimal("0.2314814815")
    assert "(INT8)" in cost.steps[1]


def test_break_even_volume_matches_hand_computation() -> None:
    # Mix 3:1 -> 75% input. API $3 in / $15 out -> 0.75 x 3 + 0.25 x 15 = $6/Mtok.
    # Break-even: $3,650 / $6 per Mtok = 608,333,333.33 tokens a month.
    result = break_even_volume(
        SPEC, api_input_mtok=Decimal(3), api_output_mtok=Decimal(15), input_tokens=3000, output_tokens=1000
    )
    assert result.input_share == Decimal("0.75")
    assert result.api_mtok == Decimal("6")
    assert result.volume_tokens is not None
    assert result.volume_tokens.quantize(Decimal("0.01")) == Decimal("608333333.33")
    # Capacity: 0.75 / 3,000 + 0.25 / 600 = 1/1,500 s per token -> 2,628,000 s x 1,500 = 3,942,000,000.
    assert result.replica_capacity_tokens.quantize(Decimal(1)) == 3_942_000_000
    assert "608,333,333 tokens per month" in result.steps[-1]


def test_no_break_even_when_a_full_replica_costs_more_than_the_api() -> None:
    # A full replica costs $3,650 / 3.942 Gtok = $0.926/Mtok at this mix; an API at $0.5/Mtok wins always.
    result = break_even_volume(
        SPEC, api_input_mtok=Decimal("0.5"), api_output_mtok=Decimal("0.5"), input_tokens=3, output_tokens=1
    )
    assert result.volume_tokens is None
    assert result.steps[-1].startswith("No break-even")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gpu_hourly_cost", Decimal(-1), "gpu_hourly_cost must be at least 0"),
        ("gpu_hourly_cost", Decimal("NaN"), "gpu_hourly_cost must be finite"),
        ("gpus_per_replica", 0, "gpus_per_replica must be at least 1"),
        ("input_tokens_per_second", 0.0, "input_tokens_per_second must be above 0"),
        ("output_tokens_per_second", float("inf"), "output_tokens_per_second must be finite"),
        ("target_utilization", 0.0, r"target_utilization must be in \(0, 1\]"),
        ("target_utilization", 1.5, r"target_utilization must be in \(0, 1\]"),
    ],
)
def test_invalid_specs_are_refused_with_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelfHostedSpec(**{**SPEC.__dict__, field: value})


def test_discount_scales_every_price_key_exactly_tiers_included() -> None:
    structure = {
        "input_mtok": {"base": "1.25", "tiers": [{"start": 200000, "price": "2.5"}]},
        "cache_read_mtok": "0.3125",
        "output_mtok": "10",
        "requests_kcount": "1",
    }
    discounted = discounted_structure(structure, discount=Decimal("0.2"))
    assert discounted == {
        "input_mtok": {"base": "1", "tiers": [{"start": 200000, "price": "2"}]},
        "cache_read_mtok": "0.25",
        "output_mtok": "8",
        "requests_kcount": "0.8",
    }

    def cost(prices: Mapping[str, Any]) -> Decimal:
        schedule = PriceSchedule.from_structure(prices)
        return request_cost(schedule, input_tokens=250_000, cache_read_tokens=1000, output_tokens=777)

    assert cost(discounted) == cost(structure) * Decimal("0.8")


@pytest.mark.parametrize("discount", [Decimal("-0.1"), Decimal("1.01"), Decimal("NaN")])
def test_discount_outside_zero_one_is_refused(discount: Decimal) -> None:
    with pytest.raises(ValueError, match="discount must be"):
        discounted_structure({"input_mtok": "1"}, discount=discount)


def test_private_model_structure_is_read_by_the_calculator() -> None:
    structure = private_model_structure(
        input_mtok=Decimal("0.6"), output_mtok=Decimal("2.4"), cache_read_mtok=Decimal("0.15")
    )
    assert structure == {"input_mtok": "0.6", "output_mtok": "2.4", "cache_read_mtok": "0.15"}
    cost = request_cost(
        PriceSchedule.from_structure(structure),
        input_tokens=1_000_000,
        cache_read_tokens=400_000,
        output_tokens=0,
    )
    assert cost == Decimal("0.6") * Decimal("0.6") + Decimal("0.4") * Decimal("0.15")
    with pytest.raises(ValueError, match="non-negative"):
        private_model_structure(input_mtok=Decimal(-1), output_mtok=Decimal(1))
