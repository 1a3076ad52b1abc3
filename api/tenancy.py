"""Which organisation a request acts in.

``request_organization(request)``:

- API key: the key's organisation (a key belongs to exactly one);
- session user: the organisation named by the ``X-Organization`` header (its slug) when sent,
  else the user's oldest membership. A slug the user is not a member of answers 404, exactly
  like a slug that does not exist; a user without any membership gets 403.

The membership is looked up once per request and cached on it.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.request import Request

from planner.accounts.models import ApiKey, Membership, Organization
from planner.accounts.selectors import membership_for_user

HEADER = "X-Organization"
_CACHE = "_planner_membership"


def request_api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def request_membership(request: Request) -> Membership:
    """The session user's membership in the request's organisation (see the module docstring)."""
    cached = getattr(request, _CACHE, None)
    if cached is not None:
        return cached
    slug = request.headers.get(HEADER) or None
    membership = membership_for_user(user=request.user, organization_slug=slug)
    if membership is None:
        if slug is not None:
            raise exceptions.NotFound(f"No organisation {slug!r} among yours.")
        raise exceptions.PermissionDenied("You are not a member of any organisation.")
    setattr(request, _CACHE, membership)
    return membership


def request_organization(request: Request) -> Organization:
    """The organisation the request acts in: the key's, or the session user's (module docstring)."""
    api_key = request_api_key(request)
    if api_key is not None:
        return api_key.organization
    return request_membership(request).organization
