"""Template filters for the web app: money in the organisation's currency, percentages, signs."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}


def _float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@register.filter
def money(value: Any, currency: str = "USD") -> str:
    """``1234.5|money:"EUR"`` -> ``€1,234.50``; cents below 1, whole units above 10,000."""
    number = _float(value)
    if number is None:
        return "—"
    symbol = SYMBOLS.get(currency, f"{currency} ")
    sign = "−" if number < 0 else ""
    number = abs(number)
    if number >= 10_000:
        text = f"{number:,.0f}"
    elif number >= 1 or number == 0:
        text = f"{number:,.2f}"
    else:
        text = f"{number:.4f}".rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return f"{sign}{symbol}{text}"


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.062|pct`` -> ``6.2%``."""
    number = _float(value)
    return "—" if number is None else f"{number * 100:.{digits}f}%"


@register.filter
def pct_points(value: Any, digits: int = 1) -> str:
    """A number already in percent: ``61.23|pct_points`` -> ``61.2%``."""
    number = _float(value)
    return "—" if number is None else f"{number:.{digits}f}%"


@register.filter
def number(value: Any, digits: int = 0) -> str:
    n = _float(value)
    return "—" if n is None else f"{n:,.{digits}f}"


@register.filter
def tone(value: Any) -> str:
    """A CSS class for a signed figure: ``good`` (>= 0) or ``bad``."""
    number = _float(value)
    return "" if number is None else ("bad" if number < 0 else "good")
