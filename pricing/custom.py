"""Custom prices as genai-prices-shaped structures: negotiated discounts and private models.

Pure functions over price structures (the ``structure`` JSON of ``pricing.models.ModelPrice``):
no database, no organisation. The planner owns the sheets that say *which* discount or private
price applies; this module only does the price arithmetic, exactly, in Decimal.

- ``discounted_structure`` multiplies every price key of a structure by ``1 - discount``: base
  rates, context-length tier rates and per-request prices alike, so a 20% discount makes every
  request cost exactly 0.8 times its list price.
- ``private_model_structure`` builds the structure of a private model from its rates per million
  tokens; ``PriceSchedule.from_structure`` reads it like any catalog price.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from typing import Any

from pricing.calculator import PriceSchedule, format_decimal

# A product of two finite decimals is exact in this context (no rounding of list prices).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _check_discount(discount: Decimal) -> None:
    if not isinstance(discount, Decimal) or not discount.is_finite() or not 0 <= discount <= 1:
        raise ValueError(f"discount must be a finite Decimal fraction in [0, 1], got {discount!r}")


def _tidy(value: Decimal) -> Decimal:
    """Same value without trailing zeros, so strings are short and stable (2.000 -> 2)."""
    with localcontext(_EXACT):
        return value.normalize() if value else Decimal(0)


def _scaled(value: Decimal, factor: Decimal) -> Decimal:
    with localcontext(_EXACT):
        return _tidy(value * factor)


def discounted_structure(structure: Mapping[str, Any], *, discount: Decimal) -> dict[str, Any]:
    """``structure`` with every price key (tiers and per-request prices included) x ``1 - discount``.

    ``discount`` is a fraction in [0, 1] (``Decimal("0.2")`` is 20% off). The result is validated by
    ``PriceSchedule.from_structure``, keeps the keys in their order and writes Decimals as strings.
    """
    _check_discount(discount)
    factor = 1 - discount
    schedule = PriceSchedule.from_structure(structure)
    result: dict[str, Any] = {}
    for price in schedule.prices:
        base = _scaled(price.base, factor)
        if price.tiers:
            result[price.price_key] = {
                "base": format_decimal(base),
                "tiers": [
                    {"start": tier.start, "price": format_decimal(_scaled(tier.price, factor))}
                    for tier in price.tiers
                ],
            }
        else:
            result[price.price_key] = format_decimal(base)
    return result


def private_model_structure(
    *,
    input_mtok: Decimal,
    output_mtok: Decimal,
    cache_read_mtok: Decimal | None = None,
    cache_write_mtok: Decimal | None = None,
    reasoning_mtok: Decimal | None = None,
) -> dict[str, str]:
    """The structure of a private model priced per million tokens.

    ``None`` leaves a key out, with genai-prices' meaning: cache reads and writes then pay the input
    rate and reasoning tokens the output rate. Raises ``ValueError`` for a negative or non-finite rate.
    """
    rates = {
        "input_mtok": input_mtok,
        "output_mtok": output_mtok,
        "cache_read_mtok": cache_read_mtok,
        "cache_write_mtok": cache_write_mtok,
        "output_reasoning_mtok": reasoning_mtok,
    }
    structure = {key: format_decimal(_tidy(value)) for key, value in rates.items() if value is not None}
    PriceSchedule.from_structure(structure)  # validates every value and the unit combination
    return structure
