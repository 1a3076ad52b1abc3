"""Template filters for the price pages: exact Decimal prices and discounts as typed (their
display of amounts and unit prices is ``web``'s ``money``/``unit_cost``, over
``planner.core.formatting``)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from planner.core.formatting import fraction_to_percent

register = template.Library()


@register.filter
def plain(value: object) -> str:
    """A Decimal price in plain notation without trailing zeros (``2.5000000000`` -> ``2.5``);
    empty for ``None``."""
    if value is None or value == "":
        return ""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(number.normalize(), "f")


@register.filter
def percent(value: object) -> str:
    """A fraction as a plain percentage (``0.125`` -> ``12.5``)."""
    if value is None or value == "":
        return ""
    return plain(fraction_to_percent(Decimal(str(value))))
