"""Replay jobs: a replay (``planner.actuals.replay``) run on the run machinery (issue 15;
docs/ACTUALS.md "Replay", docs/JOBS.md "Other job kinds").

A replay job is a ``SimulationRun`` of kind ``replay``: created queued with its plan frozen as
its snapshot (``ReplayPlan.to_json``: the live and replayed terms, the levers, the sheet's
discounts) and its request and customer ranges in ``spec``; its blocks are ranges of at most
``PLANNER_REPLAY_BLOCK_CUSTOMERS`` customers (ascending ids), one chunk task each, dispatched,
reaped, cancelled and merged by ``planner.simulation.runs`` like any run. A block re-rates its
customers' months (``replay_rows``) and upserts them as ``ReplayRow`` rows keyed (run, customer,
period), so a block computed twice writes each row once; its payload is its notes. The merge
reads every row back and sums them with ``replay_summary``, the in-process replay's own code:
a job and ``replay_period`` give the same figures.

``users`` of a replay job is the number of customers it re-rates; a live-plan replay has no
scenario (``spec["request"]["product"]`` names the product).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from planner.accounts.models import Organization
from planner.actuals.models import ReplayRow
from planner.actuals.replay import (
    product_live_tiers,
    replay_customers,
    replay_months,
    replay_rows,
    replay_summary,
    unmapped_tier_ids,
)
from planner.actuals.replay_plan import ReplayPlan, plan_load
from planner.actuals.replay_stats import SIDE_FIELDS, CustomerMonthReplay, ReplayPartial
from planner.prices.models import PriceSheet
from planner.products.models import Product
from planner.simulation.adapter import SimulationInputError
from planner.simulation.job_kinds import BlockJob, register_block_job
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import active_jobs_check, run_dispatch
from planner.simulation.snapshot import package_versions

#: Longest range a replay may cover, in months.
MAX_REPLAY_MONTHS = 36
#: Most bootstrap resamples a request may ask for.
MAX_BOOTSTRAP = 10_000
#: The price dates a replay accepts (the catalog has no price outside them).
EARLIEST_PRICE_DATE, LATEST_PRICE_DATE = date(2000, 1, 1), date(2100, 12, 31)


def _blocks(customers: Sequence[int], size: int) -> list[list[int]]:
    """[first id, last id] of each run of ``size`` consecutive customers (ascending ids)."""
    return [
        [customers[i], customers[min(i + size, len(customers)) - 1]] for i in range(0, len(customers), size)
    ]


def replay_request_check(
    *, period_from: date, period_to: date, price_date: date | None, price_sheet: Any, bootstrap: int
) -> list[date]:
    """The months of a request; ValueError ``"field: message"`` for a bad one."""
    try:
        months = replay_months(period_from, period_to)
    except ValueError:
        raise ValueError("to: the range ends before it starts (to is before from).") from None
    if len(months) > MAX_REPLAY_MONTHS:
        raise ValueError(
            f"to: a replay covers at most {MAX_REPLAY_MONTHS} months (this range has {len(months)})."
        )
    if price_date is not None and price_sheet is not None:
        raise ValueError("price_sheet: give a price date or a price sheet, not both.")
    if price_date is not None and not EARLIEST_PRICE_DATE <= price_date <= LATEST_PRICE_DATE:
        raise ValueError(
            f"price_date: enter a date from {EARLIEST_PRICE_DATE:%Y-%m-%d} to {LATEST_PRICE_DATE:%Y-%m-%d}."
        )
    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise ValueError(f"bootstrap: enter a whole number from 0 to {MAX_BOOTSTRAP:,}.")
    return months


def replay_start(
    *,
    organization: Organization,
    scenario: Scenario | None = None,
    product: Product | None = None,
    period_from: date,
    period_to: date,
    price_date: date | None = None,
    price_sheet: PriceSheet | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> SimulationRun:
    """Create a queued replay job of ``scenario``'s plan (or of ``product``'s live plan) over the
    customers of its product with usage in the months [period_from, period_to], and enqueue its
    blocks after commit. Raises ValueError ``"field: message"`` for a bad request (range, price
    date and sheet together, bootstrap, a sheet of another organisation), and
    ``SimulationInputError`` when there is nothing to replay or too many jobs are active."""
    if (scenario is None) == (product is None):
        raise ValueError("Replay a scenario or a product's live plan: give exactly one.")
    if price_sheet is not None and price_sheet.organization_id != organization.pk:
        raise ValueError("price_sheet: no such price sheet.")
    months = replay_request_check(
        period_from=period_from,
        period_to=period_to,
        price_date=price_date,
        price_sheet=price_sheet,
        bootstrap=bootstrap,
    )
    owner = scenario.product if scenario is not None else product
    assert owner is not None
    if owner.organization_id != organization.pk:
        raise ValueError("The scenario or product belongs to another organisation.")
    tiers = sorted(product_live_tiers(owner))
    customers = replay_customers(organization, months, tiers)
    if not customers:
        raise SimulationInputError(
            f"No customer of {owner.name} has usage from {months[0]:%Y-%m} to {months[-1]:%Y-%m}: "
            "nothing to replay."
        )
    plan = plan_load(organization, scenario, price_sheet)
    request = {
        "scenario": None if scenario is None else scenario.pk,
        "product": owner.pk,
        "from": months[0].isoformat()[:7],
        "to": months[-1].isoformat()[:7],
        "price_date": None if price_date is None else price_date.isoformat(),
        "price_sheet": None if price_sheet is None else price_sheet.pk,
        "bootstrap": bootstrap,
        "seed": seed,
    }
    blocks = _blocks(customers, settings.PLANNER_REPLAY_BLOCK_CUSTOMERS)
    with transaction.atomic():
        active_jobs_check(organization)
        run = SimulationRun.objects.create(
            kind=SimulationRun.Kind.REPLAY,
            scenario=scenario,
            organization=organization,
            seed=seed,
            users=len(customers),
            snapshot=plan.to_json(),
            spec={"request": request, "product_tiers": tiers, "blocks": blocks},
            blocks_total=len(blocks),
            chunk_blocks=1,
            package_versions=package_versions(),
        )
        run_id = run.pk
        transaction.on_commit(lambda: run_dispatch(run_id=run_id))
    return run


def _job(run_id: int) -> tuple[Organization, ReplayPlan, dict[str, Any]]:
    """A replay job's organisation, frozen plan and spec (one small query: a block's own work
    is far larger, so nothing is cached across jobs)."""
    run = (
        SimulationRun.objects.select_related("organization")
        .only("organization", "snapshot", "spec")
        .get(pk=run_id)
    )
    return run.organization, ReplayPlan.from_json(run.snapshot), run.spec


def _request_dates(request: dict[str, Any]) -> tuple[list[date], date | None]:
    months = replay_months(
        date.fromisoformat(request["from"] + "-01"), date.fromisoformat(request["to"] + "-01")
    )
    price_date = None if request["price_date"] is None else date.fromisoformat(request["price_date"])
    return months, price_date


def _row_values(run_id: int, row: CustomerMonthReplay) -> dict[str, Any]:
    """A customer-month as ``ReplayRow`` field values (by attname)."""
    return {
        "run_id": run_id,
        "customer_id": row.customer_id,
        "external_id": row.external_id,
        "period": row.period,
        "flip": row.flip,
        "cut": row.cut,
        **{
            f"{name}_{field}": getattr(side, field)
            for name, side in (("actual", row.actual), ("replayed", row.replayed))
            for field in ("tier_id", "tier_name", *SIDE_FIELDS)
        },
    }


def _rows_store(run_id: int, first: int, last: int, rows: list[CustomerMonthReplay]) -> None:
    """Replace the block's stored customer-months (customers ``first``..``last``) with ``rows``:
    a block computed again writes each row once. PostgreSQL copies them in (``COPY``, plain
    values: no model instance per row)."""
    stored = ReplayRow.objects.filter(run_id=run_id, customer_id__gte=first, customer_id__lte=last)
    values = [_row_values(run_id, row) for row in rows]
    with transaction.atomic():
        stored.delete()
        if connection.vendor != "postgresql":
            ReplayRow.objects.bulk_create([ReplayRow(**v) for v in values], batch_size=2000)
            return
        names = [f.attname for f in ReplayRow._meta.concrete_fields if not f.primary_key]
        columns = ", ".join(connection.ops.quote_name(name) for name in names)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {ReplayRow._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            for value in values:
                copy.write_row([value[name] for name in names])


def replay_block_compute(run_id: int, block: int) -> tuple[bytes, int]:
    """Re-rate block ``block``'s customers and store their rows; returns the block's partial
    sums and notes (JSON bytes) and its customer count (``planner.simulation.job_kinds``)."""
    organization, plan, spec = _job(run_id)
    months, price_date = _request_dates(spec["request"])
    first, last = spec["blocks"][block]
    customers = replay_customers(organization, months, spec["product_tiers"], id_range=(first, last))
    replayed = replay_rows(organization, plan, months, customers, price_date)
    _rows_store(run_id, first, last, replayed.rows)
    partial = ReplayPartial.of(
        replayed.rows, unmapped_tier_ids(plan, spec["request"]["scenario"] is not None)
    )
    payload = {
        "notes": replayed.notes,
        "straddling": sorted(replayed.straddling),
        "partial": partial.to_json(),
    }
    return json.dumps(payload).encode(), len(customers)


def replay_merge(run: SimulationRun, payloads: Sequence[bytes]) -> dict[str, Any]:
    """The job's results: ``replay_summary`` of its blocks' partial sums (the blocks partition
    the customers, so nothing is read again) with their notes."""
    organization, plan, spec = _job(run.pk)
    months, price_date = _request_dates(spec["request"])
    notes: list[str] = []
    straddling: set[int] = set()
    partial = ReplayPartial()
    for payload in payloads:
        data = json.loads(payload)
        notes.extend(data["notes"])
        straddling.update(data["straddling"])
        partial.merge(ReplayPartial.from_json(data["partial"]))
    request = spec["request"]
    summary = replay_summary(
        organization=organization,
        scenario_id=request["scenario"],
        plan=plan,
        months=months,
        price_date=price_date,
        bootstrap=int(request["bootstrap"]),
        seed=int(request["seed"]),
        partial=partial,
        notes=list(dict.fromkeys(notes)),
        straddling=straddling,
    )
    return {
        **summary.to_json(rows=False),
        "product": request["product"],
        "customer_months": partial.total.customer_months,
    }


register_block_job(
    SimulationRun.Kind.REPLAY,
    BlockJob(compute_block=replay_block_compute, merge=replay_merge, failure="The replay cannot be computed"),
)
