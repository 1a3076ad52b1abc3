"""A replay's output (dataclasses with ``to_json``) and the cluster bootstrap of its totals
over customers (numpy).

A tier's total over a period is a sum over its customers of each customer's sum over months.
Resampling customers with replacement (each customer's months travel together: the cluster)
and summing their per-customer totals gives the bootstrap distribution of the total; the
interval is its 2.5th and 97.5th percentiles (percentile method). It says how much the total
depends on which customers happened to be active, not on anything the plan changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from planner.products.models import Tier

ZERO = Decimal(0)


def _money(value: Decimal) -> str:
    return format(value, "f")


#: Tiers with fewer customers than this get no interval ("too few customers").
MIN_BOOTSTRAP_CUSTOMERS = 20
#: Largest number of (resample x customer) draws held in memory at once.
_DRAW_BUDGET = 2**22


@dataclass(frozen=True)
class Interval:
    """A percentile interval (``low``, ``high``) at ``level``; ``None`` bounds with a ``reason``."""

    low: float | None
    high: float | None
    level: float = 0.95
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"low": self.low, "high": self.high, "level": self.level, "reason": self.reason}


def too_few(customers: int) -> Interval:
    """The interval of a group too small to bootstrap."""
    return Interval(None, None, reason=f"too few customers ({customers} < {MIN_BOOTSTRAP_CUSTOMERS})")


def cluster_bootstrap_totals(
    values: npt.NDArray[np.float64], *, resamples: int, seed: int
) -> npt.NDArray[np.float64]:
    """Bootstrap distribution of column totals: ``values`` is (customers x statistics), one row
    per customer (its months summed). Returns (resamples x statistics): each row the column sums
    over ``customers`` rows drawn with replacement. Seeded (``numpy.random.default_rng(seed)``);
    vectorised, drawing at most ``_DRAW_BUDGET`` indexes per block of resamples (blocks only
    bound memory; results do not depend on the block size for a given seed's draws order)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0 or resamples <= 0:
        return np.zeros((max(resamples, 0), values.shape[1]))
    rng = np.random.default_rng(seed)
    block = max(1, _DRAW_BUDGET // n)
    # One contiguous column per statistic and 32-bit indexes: gathering a column and summing
    # each row is about five times faster than gathering (resamples x customers x statistics).
    columns = [np.ascontiguousarray(values[:, k]) for k in range(values.shape[1])]
    parts = []
    for start in range(0, resamples, block):  # blocks of resamples, each vectorised
        count = min(block, resamples - start)
        index = rng.integers(0, n, size=(count, n), dtype=np.int32)
        parts.append(np.stack([column[index].sum(axis=1) for column in columns], axis=1))
    return np.concatenate(parts, axis=0)


def percentile_intervals(
    values: npt.NDArray[np.float64], *, resamples: int, seed: int, level: float = 0.95
) -> list[Interval]:
    """One percentile interval per column of ``values`` (customers x statistics) for the column
    total, or "too few customers" intervals when there are fewer than
    ``MIN_BOOTSTRAP_CUSTOMERS`` rows."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] < MIN_BOOTSTRAP_CUSTOMERS:
        return [too_few(values.shape[0]) for _ in range(values.shape[1])]
    if resamples <= 0:
        return [Interval(None, None, level, reason="no bootstrap requested") for _ in range(values.shape[1])]
    totals = cluster_bootstrap_totals(values, resamples=resamples, seed=seed)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(totals, [tail, 100.0 - tail], axis=0)
    return [Interval(float(a), float(b), level) for a, b in zip(low, high, strict=True)]


# --- Replay output -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One customer-month billed under one plan: revenue gross and net of payment fees."""

    tier_id: int | None
    tier_name: str
    credits: Decimal
    revenue_gross: Decimal
    payment_fees: Decimal
    revenue: Decimal
    cogs: Decimal
    margin: Decimal
    paying: bool
    underwater: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (money as strings)."""
        data = dataclasses.asdict(self)
        return {k: _money(v) if isinstance(v, Decimal) else v for k, v in data.items()}


@dataclass(frozen=True)
class CustomerMonthReplay:
    """A customer's month, actual and replayed; ``flip`` is "became_underwater",
    "stopped_underwater" or ""; ``cut`` when the replayed cap removed usage."""

    customer_id: int
    external_id: str
    period: date
    actual: Side
    replayed: Side
    cut: bool
    flip: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "customer_id": self.customer_id,
            "external_id": self.external_id,
            "period": self.period.isoformat(),
            "actual": self.actual.to_json(),
            "replayed": self.replayed.to_json(),
            "cut": self.cut,
            "flip": self.flip,
        }


SUM_FIELDS = ("revenue_gross", "payment_fees", "revenue", "cogs", "margin")
#: The fields of a ``Side`` besides its tier.
SIDE_FIELDS = ("credits", *SUM_FIELDS, "paying", "underwater")


@dataclass(frozen=True)
class GroupReplay:
    """Sums over a tier's customer-months (by actual end-of-month tier) or over all of them.
    ``margin_change_interval`` and ``replayed_margin_interval`` bound the period totals of
    (replayed - actual) margin and replayed margin (cluster bootstrap over customers)."""

    tier_id: int | None
    tier_name: str
    customers: int
    customer_months: int
    actual: dict[str, Decimal]
    replayed: dict[str, Decimal]
    underwater_actual: int
    underwater_replayed: int
    became_underwater: int
    stopped_underwater: int
    customers_cut: int
    margin_change_interval: Interval
    replayed_margin_interval: Interval

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if not k.endswith("_interval")}
        data["actual"] = {k: _money(v) for k, v in self.actual.items()}
        data["replayed"] = {k: _money(v) for k, v in self.replayed.items()}
        data["margin_change"] = _money(self.replayed["margin"] - self.actual["margin"])
        data["margin_change_interval"] = self.margin_change_interval.to_json()
        data["replayed_margin_interval"] = self.replayed_margin_interval.to_json()
        return data


@dataclass(frozen=True)
class ReplayResult:
    """A replay: per customer-month rows, per tier and total sums with intervals, notes."""

    organization: str
    scenario_id: int | None
    period_from: date
    period_to: date
    price_date: date | None
    bootstrap: int
    seed: int
    customer_months: list[CustomerMonthReplay]
    tiers: list[GroupReplay]
    total: GroupReplay
    unmapped_tiers: list[dict[str, Any]]
    customers_cut: list[str]
    notes: list[str] = field(default_factory=list)
    price_sheet: dict[str, Any] | None = None
    flipped_customers: int = 0
    customers_cut_count: int = 0

    def to_json(self, *, rows: bool = True) -> dict[str, Any]:
        """JSON-ready dict; without the customer-months (and the cut customers' list, only
        counted) when ``rows`` is False: a replay job stores its rows in a table."""
        data: dict[str, Any] = {
            "organization": self.organization,
            "scenario": self.scenario_id,
            "from": self.period_from.isoformat()[:7],
            "to": self.period_to.isoformat()[:7],
            "price_date": None if self.price_date is None else self.price_date.isoformat(),
            "price_sheet": self.price_sheet,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "total": self.total.to_json(),
            "tiers": [t.to_json() for t in self.tiers],
            "unmapped_tiers": self.unmapped_tiers,
            "flipped_customers": self.flipped_customers,
            "customers_cut_count": self.customers_cut_count,
            "notes": self.notes,
        }
        if rows:
            data["customer_months"] = [row.to_json() for row in self.customer_months]
            data["customers_cut"] = self.customers_cut
        return data


@dataclass
class GroupPartial:
    """What one group's summary (a tier, or the total) needs from some of its customers: exact
    sums, counts, and each customer's period totals of the margin change and of the replayed
    margin (floats, for the bootstrap). A replay job's blocks partition the customers, so the
    partials of its blocks add up to the whole (``merge``); the in-process replay makes one."""

    actual: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(SUM_FIELDS, ZERO))
    replayed: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(SUM_FIELDS, ZERO))
    customer_months: int = 0
    underwater_actual: int = 0
    underwater_replayed: int = 0
    became_underwater: int = 0
    stopped_underwater: int = 0
    cut: set[int] = field(default_factory=set)
    per_customer: dict[int, list[float]] = field(default_factory=dict)

    def add(self, row: CustomerMonthReplay) -> None:
        """Count one customer-month in."""
        for name in SUM_FIELDS:
            self.actual[name] += getattr(row.actual, name)
            self.replayed[name] += getattr(row.replayed, name)
        self.customer_months += 1
        self.underwater_actual += row.actual.underwater
        self.underwater_replayed += row.replayed.underwater
        self.became_underwater += row.flip == "became_underwater"
        self.stopped_underwater += row.flip == "stopped_underwater"
        if row.cut:
            self.cut.add(row.customer_id)
        values = self.per_customer.setdefault(row.customer_id, [0.0, 0.0])
        values[0] += float(row.replayed.margin - row.actual.margin)
        values[1] += float(row.replayed.margin)

    def merge(self, other: GroupPartial) -> None:
        """Add ``other``, a partial over other customers."""
        for name in SUM_FIELDS:
            self.actual[name] += other.actual[name]
            self.replayed[name] += other.replayed[name]
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cut |= other.cut
        self.per_customer.update(other.per_customer)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (money as strings; floats exact through ``json``)."""
        return {
            "actual": {k: _money(v) for k, v in self.actual.items()},
            "replayed": {k: _money(v) for k, v in self.replayed.items()},
            **{name: getattr(self, name) for name in _COUNTS},
            "cut": sorted(self.cut),
            "per_customer": [[pk, *values] for pk, values in self.per_customer.items()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupPartial:
        """The partial :meth:`to_json` wrote."""
        return cls(
            actual={k: Decimal(v) for k, v in data["actual"].items()},
            replayed={k: Decimal(v) for k, v in data["replayed"].items()},
            **{name: int(data[name]) for name in _COUNTS},
            cut=set(data["cut"]),
            per_customer={int(pk): [float(a), float(b)] for pk, a, b in data["per_customer"]},
        )


_COUNTS = (
    "customer_months",
    "underwater_actual",
    "underwater_replayed",
    "became_underwater",
    "stopped_underwater",
)


@dataclass
class ReplayPartial:
    """A replay's groups over some customers: by actual end-of-month tier (None: no tier) and
    in total, with the customers of each tier the plan does not map (``unmapped``)."""

    tiers: dict[int | None, GroupPartial] = field(default_factory=dict)
    total: GroupPartial = field(default_factory=GroupPartial)
    unmapped: dict[int, set[int]] = field(default_factory=dict)
    flipped: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, rows: Sequence[CustomerMonthReplay], unmapped_tiers: Collection[int]) -> ReplayPartial:
        """The partial of ``rows``; ``unmapped_tiers``: live tiers no scenario tier stands for."""
        partial = cls()
        for row in rows:
            tier = row.actual.tier_id
            partial.tiers.setdefault(tier, GroupPartial()).add(row)
            partial.total.add(row)
            if tier is not None and tier in unmapped_tiers:
                partial.unmapped.setdefault(tier, set()).add(row.customer_id)
            if row.flip:
                partial.flipped.add(row.customer_id)
        return partial

    def merge(self, other: ReplayPartial) -> None:
        """Add ``other``, a partial over other customers."""
        for pk, group in other.tiers.items():
            self.tiers.setdefault(pk, GroupPartial()).merge(group)
        self.total.merge(other.total)
        for pk, customers in other.unmapped.items():
            self.unmapped.setdefault(pk, set()).update(customers)
        self.flipped |= other.flipped

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (tier ids as strings, "" for no tier)."""
        return {
            "tiers": {("" if pk is None else str(pk)): group.to_json() for pk, group in self.tiers.items()},
            "total": self.total.to_json(),
            "unmapped": {str(pk): sorted(customers) for pk, customers in self.unmapped.items()},
            "flipped": sorted(self.flipped),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplayPartial:
        """The partial :meth:`to_json` wrote."""
        return cls(
            tiers={
                (None if pk == "" else int(pk)): GroupPartial.from_json(g) for pk, g in data["tiers"].items()
            },
            total=GroupPartial.from_json(data["total"]),
            unmapped={int(pk): set(customers) for pk, customers in data["unmapped"].items()},
            flipped=set(data["flipped"]),
        )


def _group(tier: tuple[int | None, str], partial: GroupPartial, bootstrap: int, seed: int) -> GroupReplay:
    """The group's sums with the cluster-bootstrap intervals of the margin change and the
    replayed margin (customers resampled with all their months, in ascending id order so that
    a seed gives one answer however the customers were split into blocks)."""
    customers = sorted(partial.per_customer)
    matrix = np.asarray([partial.per_customer[pk] for pk in customers], dtype=np.float64).reshape(-1, 2)
    change, replayed_margin = percentile_intervals(matrix, resamples=bootstrap, seed=seed)
    return GroupReplay(
        tier_id=tier[0],
        tier_name=tier[1],
        customers=len(customers),
        customer_months=partial.customer_months,
        actual=dict(partial.actual),
        replayed=dict(partial.replayed),
        underwater_actual=partial.underwater_actual,
        underwater_replayed=partial.underwater_replayed,
        became_underwater=partial.became_underwater,
        stopped_underwater=partial.stopped_underwater,
        customers_cut=len(partial.cut),
        margin_change_interval=change,
        replayed_margin_interval=replayed_margin,
    )


def groups_summed(
    partial: ReplayPartial, live_tiers: Mapping[int, Tier], bootstrap: int, seed: int
) -> tuple[list[GroupReplay], GroupReplay]:
    """Per actual end-of-month tier (display order, no tier last) and in total."""

    def order(pk: int | None) -> tuple[Any, ...]:
        if pk is None:
            return (1,)
        tier = live_tiers[pk]
        return (0, tier.product_id, tier.position, pk)

    tiers = [
        _group((pk, live_tiers[pk].name if pk is not None else ""), partial.tiers[pk], bootstrap, seed)
        for pk in sorted(partial.tiers, key=order)
    ]
    return tiers, _group((None, "Total"), partial.total, bootstrap, seed)
