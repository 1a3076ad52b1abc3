"""Helpers shared by the web views: which organisation a request acts in, who may write, and how
a service's answer reaches the user (errors next to the form's fields, or a flashed message).

A user acts in one organisation at a time: the one chosen with ``?org=<slug>`` (remembered in
the session), else their oldest membership. Objects of other organisations are 404s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from planner.accounts.models import Membership, Organization
from planner.accounts.selectors import membership_for_user

WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)
SESSION_KEY = "organization_slug"

T = TypeVar("T")


class Named(Protocol):
    """An object that has a page of its own and a name the user gave it."""

    @property
    def pk(self) -> int: ...

    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


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
    for field, field_messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_messages)


def form_save(request: HttpRequest, form: forms.BaseForm, save: Callable[[], T]) -> T | None:
    """What ``save`` (a service call returning what it saved) returns when ``request`` POSTs a
    valid ``form``.

    None when nothing was saved: not a POST, an invalid form, or the service refused with a
    ``ValidationError``, which then stands on the form next to its fields (``form_errors_add``).
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save()
    except ValidationError as error:
        form_errors_add(form, error)
        return None


def flash_outcome(request: HttpRequest, call: Callable[[], object], *, success: str) -> None:
    """Call a service for a one-click action and flash ``success``, or why the service refused."""
    try:
        call()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)


@dataclass(frozen=True)
class FormPage:
    """The create and edit page of one kind of named object: a form a service saves.

    A saved object leads to its page (the URL named ``detail``, with its pk) with "<noun> 'name'
    created." or "<noun> saved."; anything else shows ``template`` again with the form (and the
    object being edited, or None, as ``object_name``).
    """

    noun: str
    template: str
    object_name: str
    detail: str

    def respond(
        self, request: HttpRequest, form: forms.BaseForm, edited: N | None, save: Callable[[], N]
    ) -> HttpResponse:
        saved = form_save(request, form, save)
        if saved is None:
            return render(request, self.template, {"form": form, self.object_name: edited})
        if edited is None:
            messages.success(request, f"{self.noun} {saved.name!r} created.")
        else:
            messages.success(request, f"{self.noun} saved.")
        return redirect(self.detail, pk=saved.pk)
