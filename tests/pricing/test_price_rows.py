"""price_rows_from_genai: complete rows per variant and period, as the importer stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from genai_prices import types as genai

from pricing.catalog import price_rows_from_genai, structure_from_genai, variant_key
from pricing.periods import row_in_force


def _model(
    prices: list[genai.ConditionalPrice], variants: list[genai.PriceVariant] | None = None
) -> genai.ModelInfo:
    return genai.ModelInfo(
        id="m", match=genai.ClauseEquals(equals="m"), prices=prices, price_variants=variants
    )


def _price(value: str) -> genai.ModelPrice:
    return genai.ModelPrice(input_mtok=Decimal(value), output_mtok=Decimal(value))


def test_variant_key_is_stable_whatever_the_order_of_the_context() -> None:
    assert (
        variant_key({"service_tier": "flex", "processing": "batch"}) == "processing=batch&service_tier=flex"
    )
    assert variant_key({}) == ""


def test_dated_variants_are_resolved_first_match_first_per_period() -> None:
    # Two dated batch variants, the later-starting one listed first, as genai-prices data does.
    model = _model(
        [genai.ConditionalPrice(prices=_price("10"))],
        [
            genai.PriceVariant(
                when={"processing": "batch"},
                prices=genai.ModelPrice(input_mtok=Decimal("3")),
                constraint=genai.StartDateConstraint(start_date=date(2027, 1, 1)),
            ),
            genai.PriceVariant(
                when={"processing": "batch"},
                prices=_price("5"),
                constraint=genai.StartDateConstraint(start_date=date(2026, 10, 14)),
            ),
        ],
    )

    rows = [row for row in price_rows_from_genai(model) if row.variant == "processing=batch"]

    assert [(row.effective_from, row.structure) for row in rows] == [
        (None, {"input_mtok": "10", "output_mtok": "10"}),
        (datetime(2026, 10, 14, tzinfo=UTC), {"input_mtok": "5", "output_mtok": "5"}),
        (datetime(2027, 1, 1, tzinfo=UTC), {"input_mtok": "3", "output_mtok": "5"}),
    ]
    assert [row.effective_to for row in rows] == [rows[1].effective_from, rows[2].effective_from, None]


def test_a_window_across_midnight_applies_on_both_sides_of_it() -> None:
    off_peak = genai.TimeOfDateConstraint(
        start_time=time(16, 30, tzinfo=UTC), end_time=time(0, 30, tzinfo=UTC)
    )
    model = _model(
        [
            genai.ConditionalPrice(prices=_price("2")),
            genai.ConditionalPrice(constraint=off_peak, prices=_price("1")),
        ]
    )
    rows = price_rows_from_genai(model)

    for at in (
        datetime(2026, 5, 1, 23, 0, tzinfo=UTC),
        datetime(2026, 5, 2, 0, 15, tzinfo=UTC),
        datetime(2026, 5, 2, 12, 0, tzinfo=UTC),
    ):
        row = row_in_force(rows, at)
        assert row is not None
        assert row.structure == structure_from_genai(model.get_prices(at)), at


def test_overlapping_time_windows_are_refused() -> None:
    model = _model(
        [
            genai.ConditionalPrice(prices=_price("2")),
            genai.ConditionalPrice(
                constraint=genai.TimeOfDateConstraint(start_time=time(1), end_time=time(5)),
                prices=_price("1"),
            ),
            genai.ConditionalPrice(
                constraint=genai.TimeOfDateConstraint(start_time=time(4), end_time=time(6)),
                prices=_price("3"),
            ),
        ]
    )

    with pytest.raises(ValueError, match="Overlapping time-of-day prices"):
        price_rows_from_genai(model)
