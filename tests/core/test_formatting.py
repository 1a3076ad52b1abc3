"""The one formatting helper: each precision rule at its edges, signs, currencies and the
exact percent <-> fraction conversions the forms rely on."""

from decimal import Decimal

import pytest

from planner.core import formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (53_076.4, "$53,076"),
        (5_939.92, "$5,940"),  # whole units from 1,000 up
        (999.994, "$999.99"),
        (999.999, "$1,000"),  # rounds into the whole-unit rule, never "$1,000.00"
        (12, "$12.00"),
        (0.5, "$0.50"),
        (0.01, "$0.01"),
        (0.0042, "$0.0042"),  # under a cent: two significant digits, never "$0.00"
        (0.004237, "$0.0042"),
        (0.009999, "$0.01"),  # the carry of the rounding is kept (Babel's @ pattern loses it)
        (0, "$0.00"),
        (-12, "−$12.00"),
        (-0.001, "−$0.001"),
        (-0.0000001, "−$0.0000001"),
    ],
)
def test_money_precision_rule(value, text):
    assert formatting.money(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.004237, "$0.00424"), (0.075, "$0.075"), (0.5, "$0.50"), (2.5, "$2.50"), (1234.5, "$1,235")],
)
def test_unit_cost_keeps_three_significant_digits(value, text):
    assert formatting.unit_cost(value) == text


@pytest.mark.parametrize(("currency", "text"), [("EUR", "€1,235"), ("GBP", "£1,235"), ("CAD", "CA$1,235")])
def test_money_uses_the_organisation_currency(currency, text):
    assert formatting.money(1234.5, currency) == text
    assert formatting.currency_symbol(currency) == text.removesuffix("1,235")


@pytest.mark.parametrize("missing", [None, "", "n/a", float("nan"), float("inf"), True])
def test_missing_figures_read_a_dash(missing):
    for format_ in (formatting.money, formatting.unit_cost, formatting.percent, formatting.count):
        assert format_(missing) == "—"


def test_percentages_counts_and_points():
    assert formatting.percent(0.062) == "6.2%"
    assert formatting.percent(-0.3, 0) == "−30%"
    assert formatting.percent(-0.00001) == "0.0%"  # a minus only on a figure that shows one
    assert formatting.points(61.23) == "61.2%"
    assert formatting.points_change(-2.28) == "−2.3 pts"
    assert formatting.count(12_400) == "12,400"
    assert formatting.count(-1.25, 1) == "−1.3"  # halves away from zero


@pytest.mark.parametrize("text", ["0.6", "-0.3", "0.125", "1", "0", "0.0001", "0.333333333333"])
def test_percent_and_fraction_round_trip_exactly(text):
    fraction = Decimal(text)
    percent = formatting.fraction_to_percent(fraction)
    assert percent == fraction * 100
    assert "E" not in str(percent)
    assert formatting.percent_to_fraction(percent) == fraction
    assert formatting.fraction_to_percent(None) is None


@pytest.mark.parametrize(
    ("stored", "shown"), [("12.5000", "12.5"), ("100.0000", "100"), ("0.0000", "0"), ("-7.2500", "-7.25")]
)
def test_a_stored_decimal_is_shown_plain(stored, shown):
    assert str(formatting.decimal_plain(Decimal(stored))) == shown
    assert formatting.decimal_plain(None) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.5, "$2.50"), (0.075, "$0.075"), (0.36975, "$0.36975"), (1234.5, "$1,234.50"), (0, "$0.00")],
)
def test_catalog_prices_keep_their_significant_digits(value, text):
    assert formatting.price(value) == text
    assert formatting.price(-value) == (f"−{text}" if value else text)
