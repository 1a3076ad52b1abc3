"""Read-side queries of the planner, always scoped to what a user may see.

A user sees the organisations they are a member of and nothing else; every selector that
returns tenant data starts from ``organizations_for_user``.

"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from planner.accounts.models import Membership, Organization
from planner.products.models import Product
from planner.simulation.models import Scenario, SimulationRun


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


User = AbstractBaseUser | AnonymousUser


def organizations_for_editor(*, user: User) -> QuerySet[Organization]:
    """The organisations in which ``user`` may change prices (owners and editors)."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    # One filter() call: both conditions must hold for the *same* membership row.
    return Organization.objects.filter(
        memberships__user_id=user.pk,
        memberships__role__in=[Membership.Role.OWNER, Membership.Role.EDITOR],
    ).distinct()
