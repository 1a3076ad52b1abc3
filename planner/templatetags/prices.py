"""Template filters for the price pages.

Catalog and price-sheet prices are US dollars per million tokens (``*_mtok``) or per thousand
requests (``requests_kcount``), as genai-prices states them, whatever the organisation's
currency. They are shown by ``planner.core.formatting.price``, which keeps their significant
digits; ``plain`` and ``percent`` show exact Decimals as typed (form values, discounts).
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from planner.core import formatting

register = template.Library()

# Enough for every catalog price (stored to 10 decimal places, e.g. $0.36975) and for the
# computed prices of self-hosted deployments (floats): more digits would be noise.
UNIT_PRICE_SIGNIFICANT_DIGITS = 6


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


@register.filter
def plain(value: object) -> str:
    """A Decimal price in plain notation without trailing zeros (``2.5000000000`` -> ``2.5``);
    empty for ``None``."""
    number = _decimal(value)
    return "" if number is None else format(number.normalize(), "f")


@register.filter
def percent(value: object) -> str:
    """A fraction as a plain percentage (``0.125`` -> ``12.5``)."""
    number = _decimal(value)
    return "" if number is None else plain(formatting.fraction_to_percent(number))


@register.filter
def unit_price(value: object) -> str:
    """A catalog price in dollars with its significant digits (``formatting.price``); empty for
    ``None``."""
    if _decimal(value) is None:
        return ""
    return formatting.price(value, "USD", UNIT_PRICE_SIGNIFICANT_DIGITS)


@register.filter
def per_mtok(value: object) -> str:
    """A price per million tokens with its unit (``2.5`` -> ``$2.50 / 1M tokens``); empty for
    ``None``."""
    price = unit_price(value)
    return f"{price} / 1M tokens" if price else ""


@register.filter
def per_krequests(value: object) -> str:
    """A price per thousand requests with its unit (``10`` -> ``$10.00 / 1K requests``); empty for
    ``None``."""
    price = unit_price(value)
    return f"{price} / 1K requests" if price else ""
