"""The one place figures become text for people: money, percentages and counts (Babel).

Pages, charts (their hover and tick labels are built server-side) and mail all call these
functions, so a figure reads the same everywhere. The REST API, the scenario document and CSV
exports never do: they keep plain numbers in their documented units (fractions, percent for an
alert rule's % threshold, Decimal strings for money).

Precision rules, one for every page (docs/WEB.md, "Numbers"):

- ``money``: an *amount* (revenue, COGS, margin, a loss). Whole currency units from 1,000 up
  (``$53,076``), cents below (``$5.94``), and two significant digits for a non-zero amount under
  one cent (``$0.0042``) so a small cost never reads ``$0.00``.
- ``unit_cost``: a *price per unit* (per request, per user, per million tokens): three significant
  digits below one currency unit (``$0.00424``, ``$0.075``), then the amount rule, so prices that
  differ in the third digit stay distinct.
- ``percent``: a fraction shown as a percentage (``0.062`` -> ``6.2%``); ``points`` a number
  already in percent (an alert threshold, a margin in %); ``points_change`` a difference of
  percentages in "pts".
- ``count``: whole numbers with grouping (``12,400``).

Halves round up (``$1,234.50`` in whole units is ``$1,235``). Negative figures use the minus
sign U+2212 (``−$5.00``). ``None``, NaN and infinities read "—".
The locale is ``settings.PLANNER_NUMBER_LOCALE`` (default ``en_US``); the currency is the
organisation's ISO 4217 code.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from babel.numbers import format_currency, format_decimal, get_currency_symbol
from django.conf import settings

#: Amounts from this size up are shown in whole currency units.
WHOLE_UNITS_FROM = 1_000
#: What a missing or non-finite figure reads.
MISSING = "—"
MINUS = "−"

_WHOLE = "¤#,##0"
_CENTS = "¤#,##0.00"


def _locale() -> str:
    return str(getattr(settings, "PLANNER_NUMBER_LOCALE", "en_US"))


def as_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` for ``None``, "", booleans, text and NaN/inf."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _signed(number: float, body: str) -> str:
    """``body`` (the absolute value's text) with a minus sign when ``number`` is negative and the
    text is not all zeros (``−0.0%`` reads ``0.0%``)."""
    shows_nonzero = any(char in "123456789" for char in body)
    return f"{MINUS}{body}" if number < 0 and shows_nonzero else body


def _exact(number: float) -> Decimal:
    """The shortest decimal that reads back as ``abs(number)`` (``0.125``, not its binary
    expansion), so rounding halves goes up as people expect (``1234.5`` -> ``1,235``)."""
    return Decimal(repr(abs(number)))


def _currency(number: float, currency: str, pattern: str) -> str:
    with localcontext(rounding=ROUND_HALF_UP):
        text = format_currency(
            _exact(number), currency, format=pattern, locale=_locale(), currency_digits=False
        )
    return _signed(number, text)


def _significant(size: float, digits: int) -> str:
    """A currency pattern showing ``size`` (> 0) to ``digits`` significant digits: two decimals
    always, more only where they are not trailing zeros. The magnitude is taken after rounding,
    so 0.009999 at two digits reads 0.01 (Babel's own ``@`` patterns lose that carry and print
    0.001)."""
    rounded = float(f"{size:.{digits - 1}e}")
    decimals = max(2, digits - 1 - math.floor(math.log10(rounded)))
    return "¤#,##0.00" + "#" * (decimals - 2)


def money_pattern(value: float) -> str:
    """The Babel pattern ``money`` uses for an amount of this size (the precision rule)."""
    size = abs(value)
    if round(size, 2) >= WHOLE_UNITS_FROM:
        return _WHOLE
    if size >= 0.01 or size == 0:
        return _CENTS
    return _significant(size, 2)


def money(value: Any, currency: str = "USD") -> str:
    """An amount in ``currency``: ``$53,076``, ``$5.94``, ``−$12.00``, ``$0.0042``."""
    number = as_float(value)
    if number is None:
        return MISSING
    return _currency(number, currency, money_pattern(number))


def unit_cost(value: Any, currency: str = "USD") -> str:
    """A price per unit (a request, a user, a million tokens) with three significant digits
    below one currency unit (``$0.00424``), cents from 1 to 1,000, whole units above."""
    number = as_float(value)
    if number is None:
        return MISSING
    size = abs(number)
    if round(size, 2) >= WHOLE_UNITS_FROM:
        pattern = _WHOLE
    elif size >= 1 or size == 0:
        pattern = _CENTS
    else:
        pattern = _significant(size, 3)
    return _currency(number, currency, pattern)


def price(value: Any, currency: str = "USD", significant: int = 6) -> str:
    """A catalog or price-sheet price (per million tokens, per thousand requests) as stated: at
    least cents, at most ``significant`` significant digits, trailing zeros past the cents
    dropped (``2.5`` -> ``$2.50``, ``0.075`` -> ``$0.075``, ``0.36975`` -> ``$0.36975``,
    ``1234.5`` -> ``$1,234.50``). Rounding $0.075 to cents would misstate every token by 7%."""
    number = as_float(value)
    if number is None:
        return MISSING
    pattern = _CENTS if number == 0 else _significant(abs(number), significant)
    return _currency(number, currency, pattern)


def _decimal(number: float, digits: int) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    with localcontext(rounding=ROUND_HALF_UP):
        return str(format_decimal(_exact(number), format=pattern, locale=_locale()))


def percent(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.062`` -> ``6.2%``; ``-0.3`` -> ``−30.0%``."""
    number = as_float(value)
    if number is None:
        return MISSING
    return _signed(number * 100, _decimal(number * 100, digits) + "%")


def points(value: Any, digits: int = 1) -> str:
    """A number already in percent: ``61.23`` -> ``61.2%``."""
    number = as_float(value)
    if number is None:
        return MISSING
    return _signed(number, _decimal(number, digits) + "%")


def points_change(value: Any, digits: int = 1) -> str:
    """A difference of two percentages, in percentage points: ``2.28`` -> ``2.3 pts``."""
    number = as_float(value)
    if number is None:
        return MISSING
    return _signed(number, _decimal(number, digits) + " pts")


def count(value: Any, digits: int = 0) -> str:
    """A count or plain quantity with grouping: ``12400`` -> ``12,400``."""
    number = as_float(value)
    if number is None:
        return MISSING
    return _signed(number, _decimal(number, digits))


def currency_symbol(currency: str) -> str:
    """The symbol a money input is adorned with (``$``, ``€``, ``CA$``)."""
    return str(get_currency_symbol(currency, locale=_locale()))


def fraction_to_percent(value: Decimal | float | None) -> Decimal | None:
    """A stored fraction as the percent a form shows (``Decimal("0.6")`` -> ``Decimal("60")``),
    exact for Decimals; ``None`` stays ``None``."""
    if value is None:
        return None
    return _plain(Decimal(str(value)) * 100)


def percent_to_fraction(value: Decimal | float | None) -> Decimal | None:
    """The percent a person typed as the stored fraction (``60`` -> ``Decimal("0.6")``), exact."""
    if value is None:
        return None
    return _plain(Decimal(str(value)) / 100)


def _plain(number: Decimal) -> Decimal:
    """``number`` without trailing zeros and in plain notation (``60``, not ``6E+1``)."""
    return Decimal(format(number.normalize(), "f"))


def decimal_plain(value: Decimal | float | None) -> Decimal | None:
    """A stored Decimal as a form shows it: ``Decimal("12.5000")`` -> ``Decimal("12.5")``, in
    plain notation (``100``, not ``1E+2``); ``None`` stays ``None``."""
    return None if value is None else _plain(Decimal(str(value)))
