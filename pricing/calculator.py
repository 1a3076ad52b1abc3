"""The one cost calculator: what requests cost under a model's price.

Load, then compute: a ``PriceSchedule`` is built once from a stored price ``structure`` (a
``ModelPrice`` row, a run snapshot, a custom sheet) and nothing below queries the database.

Contract, mirroring ``genai_prices`` 0.2.3 (``ModelPrice.calc_price`` and ``calc_unit_price``):

- ``request_cost`` prices one request as a Decimal and equals
  ``genai_prices.calc_price(Usage(...), ...).total_price`` exactly for the same price and usage.
- Usage units nest (genai-prices' unit registry): a priced unit is billed only for its *leaf*
  count, its count minus the counts of the more specific priced units inside it. So
  ``input_tokens`` is the total input (uncached + cache reads + cache writes), cache reads and
  writes are carved out of it at their own rates when the price has them (else they pay the input
  rate), ``cache_write_tokens`` includes the 1-hour writes, and ``output_tokens`` includes the
  reasoning tokens, which pay ``output_reasoning_mtok`` only when the price has that key.
- Context-length tiers apply to the whole request: when the request's total input tokens are
  strictly above a tier's ``start``, every unit of that price key pays the tier's rate.
- A per-request price (``requests_kcount``) is charged once per call.
- ``VectorPricer`` prices float64 arrays under the engine's convention (``TokenCounts``: input
  *excluding* cached tokens, reasoning *separate* from output), converts them to the above and
  agrees with ``request_cost`` to float precision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from genai_prices.data_units import unit_data
from genai_prices.units import UnitDef, UnitRegistry
from genai_prices.validation import validate_priced_units

FloatArray = npt.NDArray[np.float64]

#: Conservative default yearly change of token prices for a product that keeps its model.
DEFAULT_PRICE_TREND = -0.30
#: Optimistic preset: the price of *constant quality*. DOMAIN.md: GPT-3.5-level output became over
#: 280x cheaper in about two years (late 2022 to late 2024), so one year multiplies prices by
#: 280 ** (-1/2) = 1 / 16.73 = 0.0598, a trend of about -94% per year.
CONSTANT_QUALITY_PRICE_TREND = 280 ** (-1 / 2) - 1

_REGISTRY = UnitRegistry(unit_data)
# Leaf counts are differences of exact token counts; this context keeps them exact.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
_REQUESTS = "requests"


def format_decimal(value: Decimal) -> str:
    """A Decimal as a plain string (no exponent) that ``Decimal()`` reads back to an equal value."""
    return format(value, "f")


def price_json(base: Decimal, tiers: Iterable[tuple[int, Decimal]] = ()) -> str | dict[str, Any]:
    """One price key's structure value: a Decimal string, or ``{"base", "tiers": [{"start", "price"}]}``."""
    tier_list = [{"start": start, "price": format_decimal(price)} for start, price in tiers]
    if not tier_list:
        return format_decimal(base)
    return {"base": format_decimal(base), "tiers": tier_list}


@dataclass(frozen=True)
class Tier:
    """Past ``start`` total input tokens (strictly above), the whole request pays ``price``."""

    start: int
    price: Decimal


@dataclass(frozen=True)
class UnitPrice:
    """The price of one usage unit: ``base`` (or a tier's price) per ``per`` units."""

    price_key: str
    usage_key: str
    per: int
    base: Decimal
    tiers: tuple[Tier, ...] = ()

    def rate(self, total_input_tokens: int | Decimal) -> Decimal:
        """The price in force for a request with ``total_input_tokens`` of input (highest tier passed)."""
        for tier in reversed(self.tiers):
            if total_input_tokens > tier.start:
                return tier.price
        return self.base

    def to_json(self) -> str | dict[str, Any]:
        """This key's structure value (see ``price_json``)."""
        return price_json(self.base, ((tier.start, tier.price) for tier in self.tiers))


def _parse_decimal(price_key: str, raw: object) -> Decimal:
    # Floats are refused: a binary float cannot carry a list price losslessly.
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise ValueError(f"{price_key}: a price must be a decimal string, got {raw!r}")
    try:
        value = Decimal(raw)
    except ArithmeticError as exc:
        raise ValueError(f"{price_key}: {raw!r} is not a decimal number") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{price_key}: a price must be finite and non-negative, got {raw!r}")
    return value


def _parse_unit_price(price_key: str, raw: object) -> UnitPrice:
    try:
        unit = _REGISTRY.unit_for_price_key(price_key)
    except KeyError:
        raise ValueError(f"Unknown price key {price_key!r} (not in genai-prices' unit registry)") from None
    if not isinstance(raw, Mapping):
        return UnitPrice(price_key, unit.usage_key, unit.per, _parse_decimal(price_key, raw))
    tiers: list[Tier] = []
    for raw_tier in raw.get("tiers", ()):
        start = raw_tier.get("start") if isinstance(raw_tier, Mapping) else None
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"{price_key}: a tier needs a non-negative integer 'start', got {raw_tier!r}")
        tiers.append(Tier(start, _parse_decimal(price_key, raw_tier.get("price"))))
    tiers.sort(key=lambda tier: tier.start)
    return UnitPrice(
        price_key, unit.usage_key, unit.per, _parse_decimal(price_key, raw.get("base")), tuple(tiers)
    )


def _contains(outer: UnitDef, inner: UnitDef) -> bool:
    """Whether ``inner`` is a more specific kind of ``outer`` (its dimensions include outer's)."""
    return outer is not inner and outer.dimensions.items() <= inner.dimensions.items()


Count = TypeVar("Count", Decimal, FloatArray)


@dataclass(frozen=True)
class PriceSchedule:
    """A model's complete price for one period: one ``UnitPrice`` per priced unit, in stored order.

    Build it with ``from_structure`` (or ``schedule_for``), which validates the keys, the values
    and the unit combination exactly as genai-prices does. Immutable and hashable.
    """

    prices: tuple[UnitPrice, ...]
    # (usage_key, priced usage keys nested inside it), most specific first: the order in which
    # genai_prices.decompose.compute_leaf_values peels nested counts off.
    _leaf_plan: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        units = [_REGISTRY.units[price.usage_key] for price in self.prices]
        try:
            validate_priced_units(units, _REGISTRY)
        except ValueError as exc:
            raise ValueError(f"Inconsistent price: {exc}") from exc
        counted = sorted(
            (unit for unit in units if unit.usage_key != _REQUESTS),
            key=lambda unit: (-len(unit.dimensions), unit.usage_key),
        )
        plan = tuple(
            (unit.usage_key, tuple(other.usage_key for other in counted if _contains(unit, other)))
            for unit in counted
        )
        object.__setattr__(self, "_leaf_plan", plan)

    @classmethod
    def from_structure(cls, structure: Mapping[str, Any]) -> PriceSchedule:
        """Build from a genai-prices-shaped price dict (``ModelPrice.structure``); ``None`` means unset."""
        return cls(tuple(_parse_unit_price(key, raw) for key, raw in structure.items() if raw is not None))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> PriceSchedule:
        """Rebuild from ``to_json()`` output, as a dict or as JSON text."""
        return cls.from_structure(json.loads(data) if isinstance(data, str) else data)

    def to_json(self) -> dict[str, Any]:
        """The structure as a JSON-ready dict (Decimals as strings); ``from_json`` restores it."""
        return {price.price_key: price.to_json() for price in self.prices}

    @property
    def has_tiers(self) -> bool:
        """Whether any price key has context-length tiers."""
        return any(price.tiers for price in self.prices)

    def leaf_counts(self, usage: Mapping[str, Count], zero: Count) -> dict[str, Count]:
        """Each priced unit's own count: its usage minus the leaf counts of priced units nested in it.

        Works on exact Decimals and on float64 arrays alike; usage keys not given count ``zero``.
        """
        leaves: dict[str, Count] = {}
        for usage_key, nested in self._leaf_plan:
            count = usage.get(usage_key, zero)
            for inner in nested:
                count = count - leaves[inner]
            leaves[usage_key] = count
        return leaves


class HasStructure(Protocol):
    """Anything holding a stored price structure, such as a ``pricing.models.ModelPrice`` row."""

    @property
    def structure(self) -> Mapping[str, Any]: ...


def schedule_for(model_price_row: HasStructure) -> PriceSchedule:
    """The schedule of a loaded price row (no query is made)."""
    return PriceSchedule.from_structure(model_price_row.structure)


_STANDARD_USAGE_KEYS = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_reasoning_tokens",
    }
)


def _as_count(usage_key: str, value: object) -> Decimal:
    # Floats are refused here, as in genai-prices they go through repr(); use VectorPricer for floats.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"{usage_key} must be an int or a Decimal, got {type(value).__name__}")
    if (isinstance(value, Decimal) and not value.is_finite()) or value < 0:
        raise ValueError(f"{usage_key} must be a finite non-negative count, got {value!r}")
    return Decimal(value)


def request_cost(
    schedule: PriceSchedule,
    *,
    input_tokens: int | Decimal,
    output_tokens: int | Decimal,
    cache_read_tokens: int | Decimal = 0,
    cache_write_tokens: int | Decimal = 0,
    cache_write_1h_tokens: int | Decimal = 0,
    reasoning_tokens: int | Decimal = 0,
    other_usage: Mapping[str, int | Decimal] | None = None,
) -> Decimal:
    """The exact cost of one request (money units, unrounded Decimal).

    Token counts follow genai-prices' ``Usage`` (see the module docstring): ``input_tokens`` is
    the *total* input including ``cache_read_tokens`` and ``cache_write_tokens``;
    ``cache_write_tokens`` includes ``cache_write_1h_tokens``; ``output_tokens`` includes
    ``reasoning_tokens`` (genai-prices' ``output_reasoning_tokens``). ``other_usage`` takes any
    other genai-prices usage key (``web_searches``, ``input_audio_tokens``...). Equals
    ``calc_price(Usage(...)).total_price`` for the same price; raises ``ValueError`` when the parts
    billed separately exceed their total, as genai-prices does.
    """
    usage = {
        "input_tokens": _as_count("input_tokens", input_tokens),
        "output_tokens": _as_count("output_tokens", output_tokens),
        "cache_read_tokens": _as_count("cache_read_tokens", cache_read_tokens),
        "cache_write_tokens": _as_count("cache_write_tokens", cache_write_tokens),
        "cache_write_1h_tokens": _as_count("cache_write_1h_tokens", cache_write_1h_tokens),
        "output_reasoning_tokens": _as_count("reasoning_tokens", reasoning_tokens),
    }
    for usage_key, value in (other_usage or {}).items():
        if usage_key in _STANDARD_USAGE_KEYS or usage_key not in _REGISTRY.units or usage_key == _REQUESTS:
            raise ValueError(f"other_usage: {usage_key!r} is not an extra genai-prices usage key")
        usage[usage_key] = _as_count(usage_key, value)

    with localcontext(_EXACT):
        leaves = schedule.leaf_counts(usage, Decimal(0))
    for usage_key, count in leaves.items():
        if count < 0:
            raise ValueError(
                f"Invalid usage: the parts of {usage_key} priced separately exceed its total "
                f"{usage.get(usage_key, 0)}"
            )

    # Same operations, order and (current) context as genai_prices.types.calc_unit_price.
    total_input = usage["input_tokens"]
    total = Decimal(0)
    for price in schedule.prices:
        count = Decimal(1) if price.usage_key == _REQUESTS else leaves[price.usage_key]
        total += price.rate(total_input) * count / price.per
    return total


class TokenCounts(Protocol):
    """Token counts of a batch of requests, one float64 element per request (engine convention).

    ``input_tokens`` counts *uncached* input only; ``cache_read_tokens`` and
    ``cache_write_tokens`` are the prompt-cache parts of the input; ``reasoning_tokens`` are not
    included in ``output_tokens``. ``planner.engine.types.TokenBatch`` satisfies this protocol.
    """

    @property
    def input_tokens(self) -> FloatArray: ...

    @property
    def cache_read_tokens(self) -> FloatArray: ...

    @property
    def cache_write_tokens(self) -> FloatArray: ...

    @property
    def output_tokens(self) -> FloatArray: ...

    @property
    def reasoning_tokens(self) -> FloatArray: ...


@dataclass(frozen=True)
class _FloatUnit:
    usage_key: str
    per: float
    base: float
    tier_starts: tuple[float, ...]
    tier_prices: tuple[float, ...]


@dataclass(frozen=True)
class VectorPricer:
    """Prices a batch of requests in float64: ``pricer(tokens)`` returns each request's cost.

    The batch is converted to genai-prices' convention (total input = uncached + cache reads +
    cache writes; total output = output + reasoning; reasoning tokens billed as
    ``output_reasoning_tokens``), so reasoning pays the reasoning rate where the schedule has one and
    the output rate otherwise, and a tier applies to every token of a request whose total input
    passes it. Cache writes are billed at the standard (5-minute) write rate. Agrees with
    ``request_cost`` to float precision. One vectorised expression per priced unit and tier; no
    loop over requests.
    """

    schedule: PriceSchedule
    _units: tuple[_FloatUnit, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        units = tuple(
            _FloatUnit(
                usage_key=price.usage_key,
                per=float(price.per),
                base=float(price.base),
                tier_starts=tuple(float(tier.start) for tier in price.tiers),
                tier_prices=tuple(float(tier.price) for tier in price.tiers),
            )
            for price in self.schedule.prices
        )
        object.__setattr__(self, "_units", units)

    def __call__(self, tokens: TokenCounts) -> FloatArray:
        uncached = np.asarray(tokens.input_tokens, dtype=np.float64)
        cache_read = np.asarray(tokens.cache_read_tokens, dtype=np.float64)
        cache_write = np.asarray(tokens.cache_write_tokens, dtype=np.float64)
        reasoning = np.asarray(tokens.reasoning_tokens, dtype=np.float64)
        total_input = uncached + cache_read + cache_write
        usage = {
            "input_tokens": total_input,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "output_tokens": np.asarray(tokens.output_tokens, dtype=np.float64) + reasoning,
            "output_reasoning_tokens": reasoning,
        }
        leaves = self.schedule.leaf_counts(usage, np.zeros_like(total_input))
        cost = np.zeros_like(total_input)
        for unit in self._units:
            rate: float | FloatArray = unit.base
            for start, price in zip(unit.tier_starts, unit.tier_prices, strict=True):
                rate = np.where(total_input > start, price, rate)
            count = 1.0 if unit.usage_key == _REQUESTS else leaves[unit.usage_key]
            cost += rate * count / unit.per
        return cost


def project_price_factor(*, months: int | float | FloatArray, yearly_trend: float) -> float | FloatArray:
    """Multiplier on today's prices after ``months``: ``(1 + yearly_trend) ** (months / 12)``.

    ``yearly_trend`` is the yearly relative change (``-0.30``: prices fall 30% a year) and must be
    above -1. Returns a float for a scalar ``months`` and an array for an array.
    """
    if not yearly_trend > -1:
        raise ValueError(f"yearly_trend must be above -1 (prices stay positive), got {yearly_trend}")
    factor = np.power(1.0 + yearly_trend, np.asarray(months, dtype=np.float64) / 12.0)
    return float(factor) if np.ndim(factor) == 0 else factor
