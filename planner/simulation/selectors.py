"""Read-side queries of scenarios and runs, scoped to an organisation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Prefetch, QuerySet, Sum
from django.utils import timezone

from planner.accounts.models import Organization
from planner.products.models import Product, Tier, UsageDistribution, Workload, WorkloadModel
from planner.simulation.models import RunBlock, Scenario, SimulationRun


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
    return SimulationRun.objects.filter(organization=organization)


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
    to the blocks left (blocks are equal but for a smaller last one)."""
    now = now or timezone.now()
    done, total = run.blocks_done, run.blocks_total
    if run.status == SimulationRun.Status.SUCCEEDED:
        users = run.users  # also for runs executed in-process (manage.py simulate), without blocks
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
        users_total=run.users,
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
