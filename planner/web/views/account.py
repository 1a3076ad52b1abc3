"""Web pages for accounts: sign-up, the sign-in lockout page, organisation members and API keys."""

from __future__ import annotations

import math
from typing import Any, cast

from axes.helpers import get_cool_off
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from planner.accounts.api_keys import api_key_create, api_key_revoke
from planner.accounts.models import ApiKey, Membership
from planner.accounts.services import (
    member_invite,
    membership_remove,
    membership_role_set,
    organization_signup,
)
from planner.web.forms.account import ApiKeyForm, InviteForm, RoleForm, SignupForm
from planner.web.views.common import SESSION_KEY, current_membership, form_errors_add, require_writer


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and its organisation; the new user is its owner and is signed in."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, organization = organization_signup(**form.cleaned_data)
        except ValidationError as error:
            form_errors_add(form, error)
        else:
            login(request, cast(User, user), backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_KEY] = organization.slug
            messages.success(request, f"Welcome! {organization.name} is ready. Create your first product.")
            return redirect("scenarios:product_new")
    return render(request, "account/signup.html", {"form": form}, status=400 if form.errors else 200)


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The answer to a sign-in that login throttling refuses (``AXES_LOCKOUT_CALLABLE``): 429
    with the time to retry. The lock lasts a cool-off after the latest failed attempt, which is
    this one (axes counts refused attempts too), so that time is when the lock is surely over."""
    cool_off = get_cool_off(request)
    context = {
        "retry_at": request.axes_attempt_time + cool_off,  # type: ignore[attr-defined]
        "minutes": math.ceil(cool_off.total_seconds() / 60),
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response


@login_required
def members(request: HttpRequest) -> HttpResponse:
    """The organisation's members; owners invite, change roles and remove."""
    membership = current_membership(request)
    organization = membership.organization
    is_owner = membership.role == Membership.Role.OWNER
    form = InviteForm(request.POST or None)
    one_time: dict[str, Any] | None = None
    if request.method == "POST":
        if not is_owner:
            return HttpResponse("Only owners manage members.", status=403)
        if form.is_valid():
            try:
                invited, password = member_invite(organization=organization, **form.cleaned_data)
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                messages.success(request, f"{invited.user.get_username()} is now {invited.role}.")
                if password is None:
                    return redirect("account:members")
                form = InviteForm()
                one_time = {"username": invited.user.get_username(), "password": password}
    rows = Membership.objects.filter(organization=organization).select_related("user").order_by("created_at")
    context = {
        "organization": organization,
        "memberships": rows,
        "is_owner": is_owner,
        "form": form,
        "one_time": one_time,
        "roles": Membership.Role.choices,
    }
    return render(request, "account/members.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    if membership.role != Membership.Role.OWNER:
        return HttpResponse("Only owners manage members.", status=403)
    target = get_object_or_404(Membership, pk=pk, organization=membership.organization)
    form = RoleForm(request.POST)
    try:
        if request.POST.get("remove"):
            membership_remove(membership=target)
            messages.success(request, f"{target.user.get_username()} removed.")
        elif form.is_valid():
            membership_role_set(membership=target, role=form.cleaned_data["role"])
            messages.success(request, f"{target.user.get_username()} is now {target.role}.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("account:members")


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The organisation's API keys; a new key is shown once, right after it is created."""
    membership = current_membership(request)
    organization = membership.organization
    form = ApiKeyForm(request.POST or None)
    plain = None
    if request.method == "POST":
        require_writer(membership)
        if form.is_valid():
            try:
                key, plain = api_key_create(
                    organization=organization,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    created_by=request.user,  # type: ignore[arg-type]
                )
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                messages.success(request, f"Key “{key.name}” created. Copy it now: it is shown only once.")
                form = ApiKeyForm()
    keys = ApiKey.objects.filter(organization=organization).select_related("created_by")
    context = {
        "organization": organization,
        "keys": keys,
        "form": form,
        "plain_key": plain,
        "can_edit": membership.role in ("owner", "editor"),
    }
    return render(request, "account/api_keys.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    require_writer(membership)
    key = get_object_or_404(ApiKey, pk=pk, organization=membership.organization)
    api_key_revoke(api_key=key)
    messages.success(request, f"Key “{key.name}” revoked; it no longer authenticates.")
    return redirect("account:api_keys")
