"""Which price row is in force at an instant: the one rule shared by the importer and the selectors.

A row applies from ``effective_from`` (``None``: since forever) until ``effective_to``
(exclusive; ``None``: open). A row with a daily window (``start_time``/``end_time``, UTC, end
exclusive, wrapping past midnight when ``end_time < start_time``) applies only inside it and
beats the all-day row of the same period. This reproduces genai-prices' ``StartDateConstraint``
(active from midnight UTC of its date) and ``TimeOfDateConstraint``. Naive datetimes are UTC,
as in genai-prices.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Protocol, TypeVar


class PricePeriod(Protocol):
    """The period fields of a price row (``pricing.models.ModelPrice`` or an import spec)."""

    @property
    def effective_from(self) -> datetime | None: ...

    @property
    def effective_to(self) -> datetime | None: ...

    @property
    def start_time(self) -> time | None: ...

    @property
    def end_time(self) -> time | None: ...


Row = TypeVar("Row", bound=PricePeriod)

_BEGINNING = datetime.min.replace(tzinfo=UTC)


def as_utc(at: datetime) -> datetime:
    """``at`` as an aware UTC datetime; a naive ``at`` is taken to be UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def in_daily_window(moment: time, start: time, end: time) -> bool:
    """Whether a UTC time of day is in ``[start, end)``; the window wraps midnight if ``end < start``."""
    if end < start:
        return moment >= start or moment < end
    return start <= moment < end


def row_in_force(rows: Iterable[Row], at: datetime) -> Row | None:
    """The row in force at ``at`` among ``rows`` (one model and variant), or ``None``.

    A window row containing ``at``'s UTC time of day wins over the all-day row; should periods
    overlap (only possible among retired rows), the latest ``effective_from`` wins.
    """
    at = as_utc(at)
    moment = at.time()
    current = [
        row
        for row in rows
        if (row.effective_from is None or row.effective_from <= at)
        and (row.effective_to is None or at < row.effective_to)
    ]
    windowed = [
        row
        for row in current
        if row.start_time is not None
        and row.end_time is not None
        and in_daily_window(moment, row.start_time, row.end_time)
    ]
    pool = windowed or [row for row in current if row.start_time is None]
    return max(pool, key=lambda row: row.effective_from or _BEGINNING, default=None)
