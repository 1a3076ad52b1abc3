"""Read-side queries of the planner, always scoped to what a user may see.

A user sees the organisations they are a member of and nothing else; every selector that
returns tenant data starts from ``organizations_for_user``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.utils import timezone

from planner.models import (
    CustomerTierPeriod,
    Membership,
    Organization,
    Product,
    RunBlock,
    Scenario,
    SimulationRun,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadModel,
)


def organizations_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organization]:
    """The organisations ``user`` is a member of (none for anonymous or inactive users)."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user_id=user.pk).distinct()


def dashboard_organizations(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organization]:
    """The user's organisations with their products and scenarios prefetched.

    Each scenario carries ``latest_run_status`` and ``latest_run_id`` (None without runs),
    annotated in the same query instead of one query per scenario.
    """
    latest = SimulationRun.objects.filter(scenario=OuterRef("pk")).order_by("-created_at", "-id")
    scenarios = Scenario.objects.annotate(
        latest_run_id=Subquery(latest.values("id")[:1]),
        latest_run_status=Subquery(latest.values("status")[:1]),
    ).order_by("name")
    products = Product.objects.prefetch_related(
        "tiers", "workloads", Prefetch("scenarios", queryset=scenarios)
    )
    return organizations_for_user(user=user).prefetch_related(Prefetch("products", queryset=products))


def membership_for_user(
    *, user: AbstractBaseUser | AnonymousUser, organization_slug: str | None = None
) -> Membership | None:
    """The membership through which ``user`` acts: in the organisation ``organization_slug``
    when given, else their oldest membership. None when there is no such membership (an
    organisation the user does not belong to is indistinguishable from one that does not exist).
    """
    if not user.is_authenticated or not user.is_active:
        return None
    memberships = Membership.objects.select_related("organization").filter(user_id=user.pk)
    if organization_slug is not None:
        memberships = memberships.filter(organization__slug=organization_slug)
    return memberships.order_by("created_at", "id").first()


def products_for_organization(*, organization: Organization) -> QuerySet[Product]:
    return Product.objects.filter(organization=organization)


def tiers_for_organization(*, organization: Organization) -> QuerySet[Tier]:
    return Tier.objects.filter(product__organization=organization)


def workloads_for_organization(*, organization: Organization) -> QuerySet[Workload]:
    """Workloads of ``organization`` with their model mix prefetched."""
    mix = WorkloadModel.objects.select_related("model__provider")
    return Workload.objects.filter(product__organization=organization).prefetch_related(
        Prefetch("model_mix", queryset=mix)
    )


def usage_distributions_for_organization(*, organization: Organization) -> QuerySet[UsageDistribution]:
    return UsageDistribution.objects.filter(tier__product__organization=organization)


def scenarios_for_organization(*, organization: Organization) -> QuerySet[Scenario]:
    return Scenario.objects.filter(organization=organization)


def scenarios_with_inputs_for_organization(*, organization: Organization) -> QuerySet[Scenario]:
    """Scenarios with their product's tiers, workloads (and model mix) and usage prefetched."""
    mix = WorkloadModel.objects.select_related("model__provider")
    return (
        scenarios_for_organization(organization=organization)
        .select_related("product")
        .prefetch_related(
            "product__tiers",
            Prefetch(
                "product__workloads", queryset=Workload.objects.prefetch_related(Prefetch("model_mix", mix))
            ),
            Prefetch(
                "product__tiers__usage",
                queryset=UsageDistribution.objects.order_by("tier_id", "workload_id"),
            ),
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
        tiers=product.tiers.count(),
        workloads=product.workloads.count(),
        blocked_by_customers=CustomerTierPeriod.objects.filter(tier__product=product)
        .values("customer_id")
        .distinct()
        .count(),
    )
