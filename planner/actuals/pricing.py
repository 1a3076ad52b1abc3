"""The cost of usage records in bulk, priced with their catalog rows.

Which row applies to each record is the one price resolution's answer
(``pricing.resolve.PriceResolver.rows_at`` under ``CATALOG_PRICES``, ingestion's rule: the list
price in force, no sheet); this module computes the records' costs from those rows as
arithmetic on numpy arrays.

Costs come from ``pricing.calculator.VectorPricer`` (float64) and leave this module as integers
of 1e-10 money units (the quantum of ``UsageRecord.cost``), rounded half-to-even. A float64
cost is exact to about 1e-16 relative, so the quantized cost equals ``request_cost`` quantized
to 1e-10 for every record below about $100,000 (15-16 significant digits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from pricing.calculator import VectorPricer, schedule_for
from pricing.models import ModelPrice

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Costs are stored with 10 decimal places: integers of this many money units per 1.
COST_SCALE = 10**10
#: Largest cost of one record in 1e-10 units that int64 arithmetic may hold with headroom.
MAX_COST_UNITS = 2**62


def cost_from_units(units: int) -> Decimal:
    """1e-10 money units as an exact Decimal with 10 decimal places."""
    return Decimal(units).scaleb(-10)


def cost_text(units: int) -> str:
    """1e-10 money units as a plain decimal string with 10 decimal places."""
    whole, fraction = divmod(units, COST_SCALE)
    return f"{whole}.{fraction:010d}"


@dataclass(frozen=True)
class TokenColumns:
    """Usage of a set of records in genai-prices' convention (see ``UsageRecord``)."""

    input_tokens: IntArray
    output_tokens: IntArray
    cached_tokens: IntArray
    cache_write_tokens: IntArray
    reasoning_tokens: IntArray
    requests: IntArray

    @classmethod
    def build(cls, counts: Sequence[Sequence[int]], requests: Sequence[int]) -> TokenColumns:
        """From the five token columns in ``UsageRecord`` field order and the request counts."""
        input_tokens, output_tokens, cached, written, reasoning = (
            np.asarray(column, dtype=np.int64) for column in counts
        )
        return cls(
            input_tokens, output_tokens, cached, written, reasoning, np.asarray(requests, dtype=np.int64)
        )


@dataclass(frozen=True)
class _PerRequest:
    """One request's average usage in the engine's convention (what ``VectorPricer`` takes)."""

    input_tokens: FloatArray
    cache_read_tokens: FloatArray
    cache_write_tokens: FloatArray
    output_tokens: FloatArray
    reasoning_tokens: FloatArray


_SCHEDULES: dict[tuple[int, str], VectorPricer] = {}


def _pricer(row: ModelPrice) -> VectorPricer:
    # A row's structure never changes once written (the importer closes rows and adds new ones;
    # its source_hash is part of the row's identity), so (pk, source_hash) is a safe cache key.
    key = (row.pk, row.source_hash)
    pricer = _SCHEDULES.get(key)
    if pricer is None:
        if len(_SCHEDULES) > 4096:
            _SCHEDULES.clear()
        pricer = _SCHEDULES[key] = VectorPricer(schedule_for(row))
    return pricer


def cost_units(rows: Sequence[ModelPrice], tokens: TokenColumns) -> npt.NDArray[np.float64]:
    """Each record's cost in 1e-10 money units (as float64 integers; may exceed int64 for
    absurd inputs, which the caller refuses), priced with its row in ``rows``.

    A record with ``requests`` = n is n equal requests of 1/n of its tokens each (context tiers
    are judged on that average request); its cost is n times one such request's cost. A part
    record (``requests`` = 0: tokens of requests counted by other records) is priced as one
    request of its own tokens, so for prices linear in tokens the parts of a request add up to
    the whole request's cost exactly (docs/ACTUALS.md, "Part records").
    """
    cost = np.zeros(len(rows), dtype=np.float64)
    # Group the records by price row: ``id`` is the plain attribute (``pk`` is a property).
    by_pk = {row.id: row for row in rows}
    row_ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
    requests = np.maximum(tokens.requests, 1).astype(np.float64)
    for pk in by_pk:
        take = np.flatnonzero(row_ids == pk)
        n = requests[take]
        cached, written = tokens.cached_tokens[take], tokens.cache_write_tokens[take]
        reasoning = tokens.reasoning_tokens[take]
        per_request = _PerRequest(
            input_tokens=(tokens.input_tokens[take] - cached - written) / n,
            cache_read_tokens=cached / n,
            cache_write_tokens=written / n,
            output_tokens=(tokens.output_tokens[take] - reasoning) / n,
            reasoning_tokens=reasoning / n,
        )
        cost[take] = _pricer(by_pk[pk])(per_request) * n
    return np.rint(cost * COST_SCALE)
