"""Template filters for the price pages.

Catalog and price-sheet prices are US dollars per million tokens (``*_mtok``) or per thousand
requests (``requests_kcount``), as genai-prices states them, whatever the organisation's
currency. Unit prices keep their significant digits: rounding $0.075 / 1M tokens to cents would
show $0.08, a 7 % error on every token priced with it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from django import template

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
    return "" if number is None else plain(number * 100)


@register.filter
def unit_price(value: object) -> str:
    """A unit price in dollars with its significant digits: at least cents, at most
    ``UNIT_PRICE_SIGNIFICANT_DIGITS`` significant digits, thousands grouped (``2.5`` -> ``$2.50``,
    ``0.075`` -> ``$0.075``, ``0.36975`` -> ``$0.36975``, ``1234.5`` -> ``$1,234.50``); empty for
    ``None``."""
    number = _decimal(value)
    if number is None:
        return ""
    if number.is_zero():
        return "$0.00"
    digits = number.adjusted() + 1  # digits before the decimal point (<= 0 below 0.1)
    places = max(2, UNIT_PRICE_SIGNIFICANT_DIGITS - digits)
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN).normalize()
    exponent = rounded.as_tuple().exponent
    shown = max(2, -exponent if isinstance(exponent, int) else 2)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{shown}f}"


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
