"""Property tests of the cost calculator over catalog prices (hypothesis)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
from genai_prices import data as genai_data
from genai_prices import types as genai
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.calculator import PriceSchedule, VectorPricer, request_cost
from pricing.catalog import price_rows_from_genai, structure_from_genai
from pricing.periods import row_in_force
from tests.pricing.support import Batch

ALL_MODELS = [(provider, model) for provider in genai_data.providers for model in provider.models]
# Every distinct price in the catalog (standard, variants, periods, windows).
CATALOG_STRUCTURES = sorted(
    {json.dumps(row.structure) for _, model in ALL_MODELS for row in price_rows_from_genai(model)}
)
# Thresholds that matter: around every tier start in the catalog.
TIER_STARTS = sorted(
    {
        tier["start"]
        for text in CATALOG_STRUCTURES
        for value in json.loads(text).values()
        if isinstance(value, dict)
        for tier in value["tiers"]
    }
)
COMPONENTS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")

schedules = st.sampled_from(CATALOG_STRUCTURES).map(
    lambda text: PriceSchedule.from_structure(json.loads(text))
)
token_counts = st.one_of(
    st.integers(0, 3_000_000),
    st.sampled_from(TIER_STARTS).flatmap(
        lambda start: st.integers(start - 2, start + 2).filter(lambda n: n >= 0)
    ),
)
engine_tokens = st.fixed_dictionaries({name: token_counts for name in COMPONENTS})


def cost(schedule: PriceSchedule, tokens: dict[str, int]) -> Decimal:
    """Scalar cost of a request given in the engine's convention (each count a separate part)."""
    return request_cost(
        schedule,
        input_tokens=tokens["input_tokens"] + tokens["cache_read_tokens"] + tokens["cache_write_tokens"],
        cache_read_tokens=tokens["cache_read_tokens"],
        cache_write_tokens=tokens["cache_write_tokens"],
        output_tokens=tokens["output_tokens"] + tokens["reasoning_tokens"],
        reasoning_tokens=tokens["reasoning_tokens"],
    )


@settings(max_examples=300, deadline=None)
@given(
    schedule=schedules,
    tokens=engine_tokens,
    component=st.sampled_from(COMPONENTS),
    extra=st.integers(1, 500_000),
)
def test_cost_never_falls_when_any_token_count_grows(
    schedule: PriceSchedule, tokens: dict[str, int], component: str, extra: int
) -> None:
    grown = tokens | {component: tokens[component] + extra}

    assert cost(schedule, grown) >= cost(schedule, tokens)


@settings(max_examples=100, deadline=None)
@given(schedule=schedules)
def test_zero_tokens_cost_only_the_per_request_price(schedule: PriceSchedule) -> None:
    per_request = sum(
        (price.base / price.per for price in schedule.prices if price.usage_key == "requests"), Decimal(0)
    )
    zeros = Batch(*(np.zeros(3) for _ in COMPONENTS))

    assert cost(schedule, dict.fromkeys(COMPONENTS, 0)) == per_request
    np.testing.assert_array_equal(VectorPricer(schedule)(zeros), np.full(3, float(per_request)))


@settings(max_examples=150, deadline=None)
@given(
    index=st.integers(0, len(ALL_MODELS) - 1),
    at=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)),
    days_later=st.integers(1, 800),
    new_prices=st.lists(st.decimals(min_value=0, max_value=100, places=3), min_size=64, max_size=64),
    tokens=engine_tokens,
)
def test_a_later_price_change_never_alters_an_earlier_cost(
    index: int, at: datetime, days_later: int, new_prices: list[Decimal], tokens: dict[str, int]
) -> None:
    _, model = ALL_MODELS[index]
    changed = copy.deepcopy(model)
    conditionals = (
        changed.prices
        if isinstance(changed.prices, list)
        else [genai.ConditionalPrice(prices=changed.prices)]
    )
    keys = [key for key, value in conditionals[-1].prices.__dict__.items() if value is not None]
    starts = date.fromordinal(at.date().toordinal() + days_later)
    changed.prices = [
        *conditionals,
        genai.ConditionalPrice(
            constraint=genai.StartDateConstraint(start_date=starts),
            prices=genai.ModelPrice(**dict(zip(keys, new_prices, strict=False))),
        ),
    ]

    rows_before, rows_after = price_rows_from_genai(model), price_rows_from_genai(changed)
    for variant in {row.variant for row in rows_before}:
        before = row_in_force([r for r in rows_before if r.variant == variant], at)
        after = row_in_force([r for r in rows_after if r.variant == variant], at)
        assert before is not None and after is not None
        assert cost(PriceSchedule.from_structure(after.structure), tokens) == cost(
            PriceSchedule.from_structure(before.structure), tokens
        )
    # ... while from its start date the new standard price applies.
    noon = datetime.combine(starts, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    new_row = row_in_force([r for r in rows_after if r.variant == ""], noon)
    assert new_row is not None
    assert new_row.structure == structure_from_genai(changed.prices[-1].prices)
