"""Who may do what.

API keys carry scopes: ``read`` for safe methods (GET, HEAD, OPTIONS), ``write`` for changes,
``ingest`` for usage ingestion. Session users act through their membership: every role reads;
viewers cannot change anything (owners and editors can, and can ingest).

``HasScope`` is the default permission: the scope follows the method unless the view sets
``required_scope``. ``scope_required("ingest")`` builds a permission class requiring one scope
whatever the method, for views like usage ingestion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from api.tenancy import request_api_key, request_membership
from planner.accounts.models import ApiKey, Membership

if TYPE_CHECKING:  # rest_framework.views imports the permission settings: no cycle at run time
    from rest_framework.views import APIView

WRITING_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.EDITOR})


class HasScope(BasePermission):
    """The caller holds the scope this request needs (see the module docstring)."""

    scope: str | None = None

    def required_scope(self, request: Request, view: APIView) -> str:
        if self.scope is not None:
            return self.scope
        explicit = getattr(view, "required_scope", None)
        if explicit is not None:
            return str(explicit)
        return ApiKey.SCOPE_READ if request.method in SAFE_METHODS else ApiKey.SCOPE_WRITE

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scope = self.required_scope(request, view)
        api_key = request_api_key(request)
        if api_key is not None:
            if scope not in api_key.scopes:
                raise exceptions.PermissionDenied(
                    f"This API key lacks the '{scope}' scope.", code="missing_scope"
                )
            return True
        membership = request_membership(request)
        if scope != ApiKey.SCOPE_READ and membership.role not in WRITING_ROLES:
            raise exceptions.PermissionDenied(
                "Viewers can read but not change anything; ask an owner for the editor role.",
                code="role_cannot_write",
            )
        return True


def scope_required(scope: str) -> type[HasScope]:
    """A permission class that requires ``scope`` for every method (``scope_required("ingest")``)."""
    if scope not in ApiKey.SCOPES:
        raise ValueError(f"Unknown scope {scope!r}; choose from {ApiKey.SCOPES}.")
    attributes: dict[str, Any] = {"scope": scope, "__doc__": f"The caller holds the '{scope}' scope."}
    return type(f"Has{scope.title()}Scope", (HasScope,), attributes)
