"""Template filters for the web app: thin wrappers over ``planner.core.formatting`` (the one
place figures become text, with its precision rules), and a tone for signed figures."""

from __future__ import annotations

from typing import Any

from django import template

from planner.core import formatting

register = template.Library()


@register.filter
def money(value: Any, currency: str = "USD") -> str:
    """An amount: ``53076.4|money`` -> ``$53,076``; ``5.939|money:"EUR"`` -> ``€5.94``."""
    return formatting.money(value, currency or "USD")


@register.filter
def unit_cost(value: Any, currency: str = "USD") -> str:
    """A price per request, user or million tokens: ``0.004237|unit_cost`` -> ``$0.00424``."""
    return formatting.unit_cost(value, currency or "USD")


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.062|pct`` -> ``6.2%``."""
    return formatting.percent(value, int(digits))


@register.filter
def pct_points(value: Any, digits: int = 1) -> str:
    """A number already in percent: ``61.23|pct_points`` -> ``61.2%``."""
    return formatting.points(value, int(digits))


@register.filter
def points_change(value: Any, digits: int = 1) -> str:
    """A difference of percentages in percentage points: ``2.28|points_change`` -> ``2.3 pts``."""
    return formatting.points_change(value, int(digits))


@register.filter
def number(value: Any, digits: int = 0) -> str:
    """A count or quantity with grouping: ``12400|number`` -> ``12,400``."""
    return formatting.count(value, int(digits))


@register.filter
def currency_symbol(currency: str) -> str:
    """``"EUR"|currency_symbol`` -> ``€``."""
    return formatting.currency_symbol(currency or "USD")


@register.filter
def tone(value: Any) -> str:
    """A CSS class for a signed figure: ``good`` (>= 0) or ``bad``."""
    number = formatting.as_float(value)
    return "" if number is None else ("bad" if number < 0 else "good")
