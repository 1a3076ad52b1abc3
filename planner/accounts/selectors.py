"""Which organisations a user may see and act in.

A user sees the organisations they are a member of and nothing else (``organizations_for_user``;
none for anonymous or inactive users), acts through one membership (``membership_for_user``) and
may change prices only where they are an owner or an editor (``organizations_for_editor``).
The other domains' queries for a user start from ``organizations_for_user``.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from planner.accounts.models import Membership, Organization


def organizations_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organization]:
    """The organisations ``user`` is a member of (none for anonymous or inactive users)."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user_id=user.pk).distinct()


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
