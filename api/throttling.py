"""Rate limits per API key and per signed-in user (rates: ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``,
scopes ``api_key`` and ``session_user``). Unauthenticated requests are refused before throttling
matters; each class ignores the requests the other one counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.tenancy import request_api_key

if TYPE_CHECKING:  # rest_framework.views imports the permission settings: no cycle at run time
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Counts the requests of each API key (by key id, never the key itself)."""

    scope = "api_key"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        api_key = request_api_key(request)
        if api_key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.pk}


class SessionUserRateThrottle(SimpleRateThrottle):
    """Counts the requests of each signed-in user."""

    scope = "session_user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request_api_key(request) is not None or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
