"""Read-side queries of scenarios and runs, scoped to an organisation."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.utils import timezone

from planner.accounts.models import Organization
from planner.products.models import Product, Tier, UsageDistribution, Workload, WorkloadModel
from planner.simulation.compare import (
    InputChange,
    RunBatches,
    TierFigure,
    inputs_diff,
    run_batches_from_arrays,
    tier_figures,
)
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.results import (
    chart_data,
    headline,
    runs_by_id,
    scenarios_with_latest_runs,
    snapshots_by_run_id,
)


def scenarios_for_organization(*, organization: Organization) -> QuerySet[Scenario]:
    return Scenario.objects.filter(organization=organization)


def scenarios_with_inputs_for_organization(*, organization: Organization) -> QuerySet[Scenario]:
    """Scenarios with their plan's tiers and usage, and their product's workloads (and model
    mix), prefetched."""
    mix = WorkloadModel.objects.select_related("model__provider")
    return (
        scenarios_for_organization(organization=organization)
        .select_related("product")
        .prefetch_related(
            Prefetch("tiers", queryset=Tier.objects.order_by("position", "id")),
            Prefetch(
                "product__workloads", queryset=Workload.objects.prefetch_related(Prefetch("model_mix", mix))
            ),
            Prefetch("tiers__usage", queryset=UsageDistribution.objects.order_by("tier_id", "workload_id")),
        )
    )


def runs_for_organization(*, organization: Organization) -> QuerySet[SimulationRun]:
    return SimulationRun.objects.simulations().filter(organization=organization)


def optimizations_for_organization(*, organization: Organization) -> QuerySet[SimulationRun]:
    """The organisation's decision jobs: optimizations and sensitivity analyses
    (``planner.simulation.optimizations``), served together under ``/optimizations/``."""
    return SimulationRun.objects.decisions().filter(organization=organization)


@dataclass(frozen=True)
class RunProgress:
    """How far a run is: blocks done of all blocks, users simulated (exact: the users of the
    blocks done), elapsed time and an ETA (None until a block is done, and once finished)."""

    blocks_done: int
    blocks_total: int
    fraction: float
    users_simulated: int
    users_total: int
    elapsed_seconds: float
    eta_seconds: float | None


def run_progress(*, run: SimulationRun, now: dt.datetime | None = None) -> RunProgress:
    """The progress of ``run`` at ``now``; the ETA extrapolates the elapsed time per block done
    to the blocks left (blocks are equal but for a smaller last one). A decision job plans its
    passes as it goes: its progress is of the blocks its passes may need at most, and its users
    count every pass's (``users_total`` = users x passes at most)."""
    now = now or timezone.now()
    done, total, users_total = run.blocks_done, run.blocks_total, run.users
    if run.kind != SimulationRun.Kind.RUN:
        total = int(run.spec.get("blocks_expected") or total)
        users_total = run.users * int(run.spec.get("max_passes") or 1)
        if run.status == SimulationRun.Status.SUCCEEDED:
            done = total
    if run.status == SimulationRun.Status.SUCCEEDED:
        users = users_total  # also for runs executed in-process (manage.py simulate), without blocks
    else:
        done_blocks = RunBlock.objects.filter(run=run, state=RunBlock.State.DONE)
        users = done_blocks.aggregate(total=Sum("users"))["total"]
    if run.started_at is None:
        elapsed = 0.0
    else:
        elapsed = max(0.0, ((run.finished_at or now) - run.started_at).total_seconds())
    eta = None
    if not run.is_finished and done > 0 and total > done:
        eta = elapsed / done * (total - done)
    return RunProgress(
        blocks_done=done,
        blocks_total=total,
        fraction=done / total if total else 0.0,
        users_simulated=int(users or 0),
        users_total=users_total,
        elapsed_seconds=round(elapsed, 3),
        eta_seconds=None if eta is None else round(eta, 1),
    )


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting a scenario or a product takes with it; ``blocked_by_customers`` > 0 means
    the product cannot be deleted (customers' tier history points at its tiers)."""

    scenarios: int
    runs: int
    tiers: int = 0
    workloads: int = 0
    blocked_by_customers: int = 0


def scenario_deletion_summary(*, scenario: Scenario) -> DeletionSummary:
    return DeletionSummary(scenarios=1, runs=SimulationRun.objects.filter(scenario=scenario).count())


def product_deletion_summary(*, product: Product) -> DeletionSummary:
    return DeletionSummary(
        scenarios=product.scenarios.count(),
        runs=SimulationRun.objects.filter(scenario__product=product).count(),
        tiers=product.all_tiers.count(),
        workloads=product.workloads.count(),
        # Through the tiers' reverse relation (CustomerTierPeriod.tier): actual usage sits above
        # simulation, so this module does not import its models.
        blocked_by_customers=product.all_tiers.aggregate(
            customers=Count("customer_periods__customer", distinct=True)
        )["customers"],
    )


def run_batches(*, run: SimulationRun) -> RunBatches | None:
    """The per-batch month-1 baseline sums of ``run``'s tiers, from its stored blocks (in block
    order), for paired errors in compare (``planner.simulation.compare``); None when any block
    is missing (a run executed in one process stores none; blocks may have been cleaned).

    Only the arrays ``moments`` and ``batch_users`` are read from each stored ``.npz``, so
    aggregates stored by older engines (fewer arrays; 7 moments instead of 10, with the same
    indices for the ones read here) still load. ``run`` is one the caller has scoped.
    """
    month_one: list[np.ndarray] = []
    batch_users: list[np.ndarray] = []
    rows = (
        RunBlock.objects.filter(run=run, state=RunBlock.State.DONE)
        .order_by("block")
        .values_list("block", "aggregate")
    )
    for expected, (block, data) in enumerate(rows.iterator(chunk_size=16)):
        if block != expected or data is None:
            return None
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
            month_one.append(np.array(arrays["moments"][0, :, :, 0, :]))  # a copy: the rest is freed
            batch_users.append(arrays["batch_users"])
    if not month_one or len(month_one) != run.blocks_total:
        return None
    return run_batches_from_arrays(
        seed=run.seed,
        users=run.users,
        month_one=np.concatenate(month_one, axis=-1),
        batch_users=np.concatenate(batch_users, axis=1),
    )


def runs_compared(*, organization: Organization, scenario_ids: Iterable[int]) -> dict[str, Any]:
    """The compare page's data for the chosen scenarios of ``organization``: every scenario
    (to pick from), a column per chosen scenario with its latest successful run's headline,
    tiers and charts (``run`` None when it has none), the chart series, and, for two or more
    runs, what differs in their inputs and each tier's figures with the changes' errors
    (paired where the runs' stored blocks allow it: :func:`run_batches`)."""
    scenarios: list[Any] = list(scenarios_with_latest_runs(organization=organization))  # annotated rows
    chosen_ids = set(scenario_ids)
    chosen = [s for s in scenarios if s.pk in chosen_ids]
    runs = runs_by_id(s.latest_result_run_id for s in chosen)
    columns: list[dict[str, Any]] = []
    for scenario in chosen:
        run = runs.get(scenario.latest_result_run_id) if scenario.latest_result_run_id else None
        if run is None or not run.results:
            columns.append({"scenario": scenario, "run": None})
            continue
        columns.append(
            {
                "scenario": scenario,
                "run": run,
                "headline": headline(run.results),
                "tiers": run.results["tiers"],
                "charts": chart_data(run.results, None, currency=organization.currency),
            }
        )
    ran = [c for c in columns if c["run"] is not None]
    input_changes: list[InputChange] = []
    figures: list[TierFigure] = []
    if len(ran) > 1:
        snapshots = snapshots_by_run_id(c["run"].pk for c in ran)
        inputs = [snapshots[c["run"].pk] for c in ran]
        input_changes = inputs_diff(inputs)
        figures = tier_figures(
            inputs, [c["run"].results for c in ran], [run_batches(run=c["run"]) for c in ran]
        )
    return {
        "scenarios": scenarios,
        "chosen_ids": chosen_ids,
        "columns": columns,
        "series": [
            {"name": f"{c['scenario'].product.name} · {c['scenario'].name}", "charts": c["charts"]}
            for c in ran
        ],
        "ran": ran,
        "input_changes": input_changes,
        "tier_figures": figures,
    }
