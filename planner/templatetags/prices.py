"""Template filters for the price pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

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
    return plain(Decimal(str(value)) * 100)
