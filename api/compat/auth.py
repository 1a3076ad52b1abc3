"""Authentication of the compatibility endpoints: ``Authorization: Bearer <Margin Planner API
key>``, as every vendor SDK sends its own key, with the ``ingest`` scope.

A missing, malformed, unknown or revoked key raises DRF's ``AuthenticationFailed`` /
``NotAuthenticated`` (401); a key without the ``ingest`` scope ``PermissionDenied`` (403). Each
vendor view turns those into its vendor's error shape (``CompatAPIView.vendor_error``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpResponseBase
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from api.authentication import ApiKeyUser, key_credentials
from api.permissions import scope_required
from planner.accounts.models import ApiKey

KEYWORD = "Bearer"


class CompatBearerAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>`` where the key is a Margin Planner API key."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != KEYWORD.lower().encode() or len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                f"Send a Margin Planner API key as 'Authorization: {KEYWORD} <key>'."
            )
        return key_credentials(parts[1])

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class CompatAPIView(APIView):
    """A vendor endpoint: bearer API key with the ``ingest`` scope, the API's rate limits, every
    error answered by ``vendor_error`` in the vendor's shape (CSRF-exempt, as every APIView
    without session authentication)."""

    authentication_classes: ClassVar[list[type[BaseAuthentication]]] = [CompatBearerAuthentication]  # type: ignore[misc]
    permission_classes: ClassVar[list[type[BasePermission]]] = [scope_required(ApiKey.SCOPE_INGEST)]  # type: ignore[misc]
    #: ``planner.actuals.compat.vendors.Vendor`` value.
    vendor: ClassVar[str] = ""
    #: Not in the API's OpenAPI schema: these endpoints follow the vendors' own APIs.
    schema = None

    def vendor_error(
        self, *, status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
    ) -> HttpResponseBase:
        """The vendor's error response (overridden by each vendor)."""
        raise NotImplementedError

    # Vendors answer in their own shapes: plain Django responses, which DRF passes through.
    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if not isinstance(exc, exceptions.APIException):
            return super().handle_exception(exc)  # 500s: Django's handler, as elsewhere
        headers: dict[str, str] = {}
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            status = 401
            headers["WWW-Authenticate"] = KEYWORD
        else:
            status = exc.status_code
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        message = _message(exc.detail)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return self.vendor_error(status=status, code=str(code), message=message, headers=headers)


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_message(item) for item in detail)
    return str(detail)
