"""``pricing.selfhosted``: a derived $/Mtok beyond the catalog's price columns is a clear
``ValueError`` naming the throughput at fault, never a ``decimal.InvalidOperation``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.selfhosted import MAX_MTOK, SelfHostedPriceOutOfRange, SelfHostedSpec, self_hosted_cost


def spec(**changes: object) -> SelfHostedSpec:
    values: dict[str, object] = {
        "gpu_hourly_cost": Decimal("2.5"),
        "gpus_per_replica": 2,
        "input_tokens_per_second": 5000.0,
        "output_tokens_per_second": 1000.0,
        "target_utilization": 0.6,
        **changes,
    }
    return SelfHostedSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"input_tokens_per_second": 1e-300}, "input_tokens_per_second"),
        ({"output_tokens_per_second": 5e-324}, "output_tokens_per_second"),
        ({"throughput_multiplier": 1e-300}, "input_tokens_per_second"),
        (
            {"gpu_hourly_cost": Decimal("99999999.9999"), "input_tokens_per_second": 1e-6},
            "input_tokens_per_second",
        ),
    ],
)
def test_a_price_beyond_the_catalog_columns_names_the_throughput(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(SelfHostedPriceOutOfRange) as caught:
        self_hosted_cost(spec(**changes))
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert "largest price the catalog holds" in str(caught.value)


def test_the_largest_storable_price_is_computed() -> None:
    """1 $/h and 1e6 / MAX_MTOK / 3600 tokens/s cost MAX_MTOK per million tokens (rounded)."""
    slowest = float(Decimal(1_000_000) / MAX_MTOK / 3600) * (1 + 1e-12)
    cost = self_hosted_cost(
        spec(
            gpu_hourly_cost=Decimal(1),
            gpus_per_replica=1,
            target_utilization=1.0,
            input_tokens_per_second=slowest,
        )
    )
    assert Decimal("9999999999") < cost.input_mtok <= MAX_MTOK
