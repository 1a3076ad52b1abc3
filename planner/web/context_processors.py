"""Template context for every page: the organisations the signed-in user can switch between."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from planner.accounts.selectors import organizations_for_user
from planner.web.views.common import SESSION_KEY


def organizations(request: HttpRequest) -> dict[str, Any]:
    """``organization_choices``: the user's organisations by name (one query, only when a
    template reads it), and ``current_organization_slug``: the one the session acts in."""
    if not request.user.is_authenticated:
        return {}
    choices = SimpleLazyObject(
        lambda: list(organizations_for_user(user=request.user).order_by("name").values("slug", "name"))
    )
    return {"organization_choices": choices, "current_organization_slug": request.session.get(SESSION_KEY)}
