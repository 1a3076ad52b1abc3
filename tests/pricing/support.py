"""Helpers shared by the pricing tests: a deterministic catalog sample and request generators."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

import numpy as np
import numpy.typing as npt
from genai_prices import Usage, calc_price
from genai_prices import data as genai_data
from genai_prices import types as genai

from pricing.calculator import PriceSchedule

FloatArray = npt.NDArray[np.float64]

#: The clock of catalog imports in tests.
IMPORT_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

#: Instants every sampled model is priced at, besides its own price-change dates and windows.
FIXED_INSTANTS = (
    datetime(2023, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC),
    datetime(2025, 6, 10, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 26, 17, 45, tzinfo=UTC),
    datetime(2027, 6, 1, 3, 0, tzinfo=UTC),
)


@dataclass(frozen=True)
class Batch:
    """Mirror of ``planner.engine.types.TokenBatch`` (engine convention: input excludes cache)."""

    input_tokens: FloatArray
    cache_read_tokens: FloatArray
    cache_write_tokens: FloatArray
    output_tokens: FloatArray
    reasoning_tokens: FloatArray


class CostKwargs(TypedDict):
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int


@dataclass(frozen=True)
class Request:
    """One request in genai-prices' convention: totals include their parts."""

    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int

    def kwargs(self) -> CostKwargs:
        """Keyword arguments for ``pricing.calculator.request_cost``."""
        return {
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }

    def usage(self) -> Usage:
        """The same request as a genai-prices ``Usage``."""
        return Usage(
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            output_tokens=self.output_tokens,
            output_reasoning_tokens=self.reasoning_tokens,
        )


def batch_of(requests: list[Request]) -> Batch:
    """The requests in the engine's convention (1-hour cache writes are not part of it)."""

    def column(values: list[int]) -> FloatArray:
        return np.asarray(values, dtype=np.float64)

    return Batch(
        input_tokens=column([r.input_tokens - r.cache_read_tokens - r.cache_write_tokens for r in requests]),
        cache_read_tokens=column([r.cache_read_tokens for r in requests]),
        cache_write_tokens=column([r.cache_write_tokens for r in requests]),
        output_tokens=column([r.output_tokens - r.reasoning_tokens for r in requests]),
        reasoning_tokens=column([r.reasoning_tokens for r in requests]),
    )


def random_request(rng: random.Random, total_input: int | None = None) -> Request:
    """A request with log-uniform token counts (zeros included), parts never above their totals."""

    def count(upper: int) -> int:
        return (
            0 if upper <= 0 or rng.random() < 0.15 else min(upper, int(10 ** rng.uniform(0, np.log10(upper))))
        )

    inp = count(2_000_000) if total_input is None else total_input
    cache_read = count(inp)
    cache_write = count(inp - cache_read)
    output = count(200_000)
    return Request(inp, cache_read, cache_write, count(cache_write), output, count(output))


def requests_for(schedule: PriceSchedule, rng: random.Random, n_random: int = 4) -> list[Request]:
    """Random requests plus, for each tier threshold, requests with total input at and just past it."""
    thresholds = sorted({tier.start for price in schedule.prices for tier in price.tiers})
    requests = [random_request(rng) for _ in range(n_random)]
    requests += [random_request(rng, total_input=start + step) for start in thresholds for step in (0, 1)]
    return requests


def model_has_tiers(model: genai.ModelInfo) -> bool:
    conditionals = (
        model.prices if isinstance(model.prices, list) else [genai.ConditionalPrice(prices=model.prices)]
    )
    prices = [c.prices for c in conditionals] + [v.prices for v in model.price_variants or []]
    return any(isinstance(value, genai.TieredPrices) for price in prices for value in price.__dict__.values())


def sample_models(
    seed: int = 20261126, share: float = 0.2, per_provider: int = 3
) -> list[tuple[genai.Provider, genai.ModelInfo]]:
    """Every model with dated prices, windows, variants or tiers, plus a seeded share of the rest of
    each provider (at least ``per_provider``), so every provider is represented."""
    rng = random.Random(seed)
    picked: list[tuple[genai.Provider, genai.ModelInfo]] = []
    for provider in genai_data.providers:
        special = [
            m for m in provider.models if isinstance(m.prices, list) or m.price_variants or model_has_tiers(m)
        ]
        special_ids = {id(m) for m in special}
        plain = [m for m in provider.models if id(m) not in special_ids]
        k = min(len(plain), max(per_provider, round(share * len(plain))))
        picked += [(provider, model) for model in special + rng.sample(plain, k)]
    return picked


def instants_for(rows: list) -> Iterator[datetime]:
    """The fixed instants plus both sides of every period start and window edge of ``rows``."""
    yield from FIXED_INSTANTS
    for row in rows:
        if row.effective_from is not None:
            yield row.effective_from - timedelta(seconds=1)
            yield row.effective_from
        if row.start_time is not None:
            day = (row.effective_from or FIXED_INSTANTS[0]).date()
            start = datetime.combine(day, row.start_time, tzinfo=UTC)
            end = datetime.combine(day, row.end_time, tzinfo=UTC)
            yield from (start, start - timedelta(seconds=1), end, end - timedelta(seconds=1))


def genai_total(
    provider: genai.Provider, model: genai.ModelInfo, request: Request, at: datetime, context: dict | None
) -> tuple[Decimal, str]:
    """genai-prices' total price and whether ``calc_price`` (by model id) or ``ModelInfo.calc_price``
    gave it: a few ids (``regional.*``) do not resolve back to their own model by reference."""
    try:
        result = calc_price(
            request.usage(),
            model.id,
            provider_id=provider.id,
            genai_request_timestamp=at,
            price_context=context,
        )
        assert result.model is model
        return result.total_price, "calc_price"
    except LookupError:
        result = model.calc_price(
            request.usage(), provider, genai_request_timestamp=at, price_context=context
        )
        return result.total_price, "ModelInfo.calc_price"
