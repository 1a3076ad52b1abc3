"""Replay costs: each usage record's cost re-rated under a plan's cost levers, by expectation
(issue 15; docs/ACTUALS.md "Replay").

Records are priced through the one price resolution (``pricing.resolve.PriceResolver`` under
``CATALOG_PRICES``, ingestion's rule) and the one cost calculator
(``planner.actuals.pricing.cost_units``), at each record's timestamp or at one price instant.
Records of models whose prices are linear (no context-length tier, no time-of-day window) are
re-rated from token sums per (customer, month, model, variant, workload, stored row); a sum is
priced in one piece only when the resolution gives its stored row at its first and last
timestamp, else that model is re-rated record by record, as are tiered and windowed models.

Cost levers apply per record in the lever's workloads (all when it names none; later levers
override earlier ones field by field): distillation d keeps (1 - d) of the input (cache reads and
writes alike); batch share b prices b of a standard record at the model's batch variant (the
standard price when it has none: noted); routing share s costs ``(1 - s) cost_A + s cost_B`` at
the same tokens (B the routing model, standard variant, same batch share; records of B itself
unchanged); response-cache hit rate h multiplies the cost by (1 - h). A price sheet's discount
(``discounts``: model id -> rate, the model's own entry else its provider's) multiplies the cost
of whatever model a part is priced at by (1 - rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from django.db.models import Count, Max, Min, Sum

from planner.actuals.models import USAGE_TOKEN_FIELDS
from planner.actuals.pricing import IntArray, TokenColumns, cost_units
from planner.simulation.snapshot import BATCH_VARIANT
from pricing.calculator import schedule_for
from pricing.models import ModelPrice
from pricing.resolve import PriceResolver, epoch_us

FloatArray = npt.NDArray[np.float64]


@dataclass
class Items:
    """Priced units: single records or token sums; ``cm`` indexes the customer-month."""

    cm: list[int] = field(default_factory=list)
    model: list[int] = field(default_factory=list)
    variant: list[str] = field(default_factory=list)
    workload: list[int] = field(default_factory=list)
    moment: list[datetime] = field(default_factory=list)
    tokens: list[list[int]] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)


_SUMS = {f"s_{name}": Sum(name) for name in (*USAGE_TOKEN_FIELDS, "requests")}


def nonlinear_models(model_ids: set[int]) -> set[int]:
    """Models with a context-length tier or a time-of-day window in any price row."""
    return {
        row.model_id
        for row in ModelPrice.objects.filter(model_id__in=model_ids)
        if row.start_time is not None or schedule_for(row).has_tiers
    }


def token_sums(records: Any) -> list[dict[str, Any]]:
    """Token and request sums of ``records`` (a queryset) per (customer, month, model, variant,
    workload, stored price row), with their first and last timestamps: one grouped query, which
    also tells which models the records use."""
    grouped = (
        records.values("customer_id", "period", "model_id", "price__variant", "workload_id", "price_id")
        .annotate(n=Count("*"), first=Min("timestamp"), last=Max("timestamp"), **_SUMS)
        .order_by()
    )
    return list(grouped)


def load_items(
    sums: Sequence[Mapping[str, Any]],
    records: Any,
    index: Mapping[tuple[int, date], int],
    per_record: set[int],
    resolver: PriceResolver,
) -> tuple[Items, set[int]]:
    """The ``token_sums`` of the linear models, whole records of ``per_record`` models. Returns
    the items and the models whose sums straddle a price change (re-read record by record)."""
    items, straddling = Items(), set()
    rows = [row for row in sums if row["model_id"] not in per_record]
    keys = [(r["model_id"], r["price__variant"]) for r in rows]
    firsts = resolver.rows_at(keys, [r["first"] for r in rows], _micros([r["first"] for r in rows]))
    lasts = resolver.rows_at(keys, [r["last"] for r in rows], _micros([r["last"] for r in rows]))
    for row, first, last in zip(rows, firsts, lasts, strict=True):
        if first is None or last is None or not first.pk == last.pk == row["price_id"]:
            straddling.add(row["model_id"])
    for row in rows:
        if row["model_id"] not in straddling:
            _add(
                items,
                index,
                row,
                row["first"],
                [row[f"s_{n}"] for n in USAGE_TOKEN_FIELDS],
                row["s_requests"],
            )
    fields = ("customer_id", "period", "model_id", "price__variant", "workload_id", "timestamp", "requests")
    for values in records.filter(model_id__in=per_record | straddling).values(*fields, *USAGE_TOKEN_FIELDS):
        row = {**values, "first": values["timestamp"]}
        _add(
            items,
            index,
            row,
            values["timestamp"],
            [values[n] for n in USAGE_TOKEN_FIELDS],
            values["requests"],
        )
    return items, straddling


def _add(
    items: Items,
    index: Mapping[tuple[int, date], int],
    row: Mapping[str, Any],
    moment: datetime,
    tokens: list[int],
    requests: int,
) -> None:
    items.cm.append(index[(row["customer_id"], row["period"])])
    items.model.append(row["model_id"])
    items.variant.append(row["price__variant"])
    items.workload.append(-1 if row["workload_id"] is None else row["workload_id"])
    items.moment.append(moment)
    items.tokens.append(tokens)
    items.requests.append(requests)


def _micros(moments: Sequence[datetime]) -> IntArray:
    """Epoch microseconds of ``moments``."""
    return np.fromiter((epoch_us(m) for m in moments), dtype=np.int64, count=len(moments))


@dataclass(frozen=True)
class _Levers:
    """Per-item cost lever values (arrays aligned with the items)."""

    distillation: FloatArray
    batch: FloatArray
    cache: FloatArray
    routing_share: FloatArray
    routing_model: IntArray


def _cost_levers(levers: Sequence[Mapping[str, Any]], workloads: IntArray) -> _Levers:
    """Each item's lever values: a lever applies to the items of its workloads (all when it
    names none; items without a workload only then); later levers override earlier ones."""
    n = workloads.size
    values = {
        name: np.zeros(n)
        for name in ("distillation", "batch_share", "response_cache_hit_rate", "routing_share")
    }
    routing = np.full(n, -1, dtype=np.int64)
    for lever in levers:
        scope = np.isin(workloads, lever["workloads"]) if lever.get("workloads") else np.ones(n, dtype=bool)
        for name, column in values.items():
            if lever.get(name) is not None:
                column[scope] = float(lever[name])
        if lever.get("routing_model") is not None:
            routing[scope] = int(lever["routing_model"])
    values["routing_share"][routing < 0] = 0.0
    return _Levers(
        values["distillation"],
        values["batch_share"],
        values["response_cache_hit_rate"],
        values["routing_share"],
        routing,
    )


class _Pricer:
    """Prices items at (model, variant) through the one resolution and ``cost_units``."""

    def __init__(
        self,
        resolver: PriceResolver,
        moments: list[datetime],
        notes: list[str],
        discounts: Mapping[int, float],
    ) -> None:
        self.resolver, self.moments, self.notes = resolver, moments, notes
        self.micros = _micros(moments)
        self.discounts = discounts

    def units(
        self,
        take: npt.NDArray[np.intp],
        models: Sequence[int],
        variants: Sequence[str],
        tokens: FloatArray,
        requests: IntArray,
    ) -> FloatArray:
        """Cost in 1e-10 units of items ``take`` priced at ``models``/``variants`` (aligned
        with ``take``) with their (possibly distilled, float) ``tokens``."""
        if take.size == 0:
            return np.zeros(0)
        moments = [self.moments[i] for i in take.tolist()]
        rows = self.resolver.rows_at(list(zip(models, variants, strict=True)), moments, self.micros[take])
        missing = sorted({(m, v) for m, v, r in zip(models, variants, rows, strict=True) if r is None})
        if missing:
            raise ValueError(f"No catalog price for (model id, variant) {missing} at some replayed instants.")
        # Distilled counts are floats: cost_units does float arithmetic on them all the same.
        counts = [cast(IntArray, tokens[take, k]) for k in range(5)]
        columns = TokenColumns(counts[0], counts[1], counts[2], counts[3], counts[4], requests[take])
        units = cost_units([r for r in rows if r is not None], columns)
        if self.discounts:
            units = units * np.fromiter(
                (1.0 - self.discounts.get(m, 0.0) for m in models), float, len(models)
            )
        return units

    def with_batch(
        self,
        take: npt.NDArray[np.intp],
        model: IntArray,
        variant: list[str],
        share: FloatArray,
        tokens: FloatArray,
        requests: IntArray,
    ) -> FloatArray:
        """(1 - b) standard + b batch cost for standard items with a batch share b."""
        variants = [variant[i] for i in take.tolist()]
        cost = self.units(take, model[take].tolist(), variants, tokens, requests)
        batchable = np.array(
            [
                share[i] > 0 and variant[i] == "" and BATCH_VARIANT in self.resolver.variants(int(model[i]))
                for i in take.tolist()
            ],
            dtype=bool,
        )
        without = {
            int(model[i])
            for i, ok in zip(take.tolist(), batchable, strict=True)
            if share[i] > 0 and not ok and variant[i] == ""
        }
        for model_id in sorted(without):
            self.notes.append(
                f"Model {model_id} has no batch price: its batch share is priced at the standard price."
            )
        sub = take[batchable]
        if sub.size:
            batch_cost = self.units(sub, model[sub].tolist(), [BATCH_VARIANT] * sub.size, tokens, requests)
            b = share[sub]
            cost[batchable] = (1.0 - b) * cost[batchable] + b * batch_cost
        return cost


def replayed_units(
    items: Items,
    levers: Sequence[Mapping[str, Any]],
    resolver: PriceResolver,
    notes: list[str],
    price_at: datetime | None,
    discounts: Mapping[int, float] | None = None,
) -> FloatArray:
    """Each item's replayed cost in 1e-10 units with the cost levers applied by expectation,
    priced at ``price_at`` (None: each item's own instant) with the sheet ``discounts``."""
    n = len(items.cm)
    model = np.asarray(items.model, dtype=np.int64)
    lever = _cost_levers(levers, np.asarray(items.workload, dtype=np.int64))
    tokens = np.asarray(items.tokens, dtype=np.float64).reshape(n, 5)
    keep = 1.0 - lever.distillation
    for k in (0, 2, 3):  # input, cached, cache write
        tokens[:, k] *= keep
    requests = np.asarray(items.requests, dtype=np.int64)
    pricer = _Pricer(resolver, items.moment if price_at is None else [price_at] * n, notes, discounts or {})
    every = np.arange(n, dtype=np.intp)
    cost = pricer.with_batch(every, model, items.variant, lever.batch, tokens, requests)
    routed = np.flatnonzero((lever.routing_share > 0) & (lever.routing_model != model))
    if routed.size:
        target = lever.routing_model
        standard = [""] * n
        routed_cost = pricer.with_batch(routed, target, standard, lever.batch, tokens, requests)
        s = lever.routing_share[routed]
        cost[routed] = (1.0 - s) * cost[routed] + s * routed_cost
    return cost * (1.0 - lever.cache)
