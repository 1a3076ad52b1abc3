"""Reads of replay jobs (``planner.actuals.replay_jobs``): the organisation's replays and a
replay's stored customer-months, tenant-scoped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet

from planner.accounts.models import Organization
from planner.actuals.models import ReplayRow
from planner.actuals.replay_stats import SIDE_FIELDS, CustomerMonthReplay, Side
from planner.simulation.models import SimulationRun

#: What a replay's rows may be filtered on: a flip, or any flip.
FLIP_FILTERS = ("became_underwater", "stopped_underwater", "any")


def replays_for_organization(*, organization: Organization) -> QuerySet[SimulationRun]:
    """The organisation's replay jobs, newest first."""
    return SimulationRun.objects.replays().filter(organization=organization)


def replay_rows_of(
    run: SimulationRun,
    *,
    flip: str = "",
    tier: int | None = None,
    customer: str = "",
    cut: bool | None = None,
) -> QuerySet[ReplayRow]:
    """A replay's customer-months in (customer, period) order; only the flipped ones
    (``flip``: one of ``FLIP_FILTERS``), those of live tier ``tier`` (actual end-of-month
    tier), of the customer with external id ``customer`` or with ``cut`` as given."""
    rows = ReplayRow.objects.filter(run=run)
    if flip == "any":
        rows = rows.exclude(flip="")
    elif flip:
        rows = rows.filter(flip=flip)
    if tier is not None:
        rows = rows.filter(actual_tier_id=tier)
    if customer:
        rows = rows.filter(external_id=customer)
    if cut is not None:
        rows = rows.filter(cut=cut)
    return rows.order_by("customer_id", "period")


def _side(values: Mapping[str, Any], prefix: str) -> Side:
    return Side(
        tier_id=values[f"{prefix}_tier_id"],
        tier_name=values[f"{prefix}_tier_name"],
        **{field: values[f"{prefix}_{field}"] for field in SIDE_FIELDS},
    )


def row_replay(values: Mapping[str, Any]) -> CustomerMonthReplay:
    """A stored row (``ReplayRow`` field values) as the replay's customer-month."""
    return CustomerMonthReplay(
        values["customer_id"],
        values["external_id"],
        values["period"],
        _side(values, "actual"),
        _side(values, "replayed"),
        values["cut"],
        values["flip"],
    )


def replay_row_replays(rows: QuerySet[ReplayRow]) -> Iterator[CustomerMonthReplay]:
    """``rows`` as customer-months, streamed in chunks (exports of 100k customers)."""
    return (row_replay(values) for values in rows.values().iterator(chunk_size=5000))


def stored_replay_rows(run: SimulationRun) -> list[CustomerMonthReplay]:
    """A replay job's customer-months, as the in-process replay orders them (period, customer)."""
    return list(replay_row_replays(ReplayRow.objects.filter(run=run).order_by("period", "customer_id")))


def replay_rows_after(
    rows: QuerySet[ReplayRow], after: tuple[int, date] | None, size: int
) -> list[ReplayRow]:
    """A keyset page of ``rows`` (ordered by customer, then month): the ``size`` rows after
    (customer id, month) ``after`` (from the start when None), plus one to tell whether more
    follow."""
    if after is not None:
        customer, period = after
        rows = rows.filter(Q(customer_id__gt=customer) | Q(customer_id=customer, period__gt=period))
    return list(rows[: size + 1])
