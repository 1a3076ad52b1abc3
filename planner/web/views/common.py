"""Helpers shared by the web views: which organisation a request acts in, and who may write.

A user acts in one organisation at a time: the one chosen with ``?org=<slug>`` (remembered in
the session), else their oldest membership. Objects of other organisations are 404s.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest

from planner.accounts.models import Membership, Organization
from planner.accounts.selectors import membership_for_user

WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)
SESSION_KEY = "organization_slug"


def current_membership(request: HttpRequest) -> Membership:
    """The membership the request acts through; 404 without any."""
    slug = request.GET.get("org") or request.session.get(SESSION_KEY)
    membership = membership_for_user(user=request.user, organization_slug=slug) if slug else None
    if membership is None:
        membership = membership_for_user(user=request.user)
    if membership is None:
        raise Http404("You are not a member of any organisation.")
    request.session[SESSION_KEY] = membership.organization.slug
    return membership


def current_organization(request: HttpRequest) -> Organization:
    return current_membership(request).organization


def membership_in(request: HttpRequest, organization_id: int) -> Membership:
    """The user's membership in ``organization_id``; 404 when they have none."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(user_id=request.user.pk or 0, organization_id=organization_id)
        .first()
    )
    if membership is None or not request.user.is_active:
        raise Http404
    return membership


def require_writer(membership: Membership) -> None:
    """Viewers read only: a write by one is a 404 like any object they may not change."""
    if membership.role not in WRITE_ROLES:
        raise Http404("Viewers cannot change this organisation's data.")


def form_errors_add(form: forms.BaseForm, error: ValidationError) -> None:
    """Attach a service's ``ValidationError`` to the form's fields (unknown fields: form-wide)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
