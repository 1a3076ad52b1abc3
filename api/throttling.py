"""Rate limits per API key and per signed-in user (rates: ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``,
scopes ``api_key`` and ``session_user``). Unauthenticated requests are refused before throttling
matters; each class ignores the requests the other one counts.

Counting is a fixed window per client (:class:`FixedWindowRateThrottle`): one atomic cache
increment per request, whatever the rate. DRF's ``SimpleRateThrottle`` instead reads and
rewrites the list of every request time in the window on each request, which costs O(rate)
and loses counts when two processes interleave their read and write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.tenancy import request_api_key

if TYPE_CHECKING:  # rest_framework.views imports the permission settings: no cycle at run time
    from rest_framework.views import APIView


class FixedWindowRateThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per client in each window of ``duration`` seconds.

    The windows are aligned to the clock (minute ``n`` of the epoch for ``/min``); a client can
    therefore send up to twice the rate across a window boundary, the usual trade of a fixed
    window for an O(1), race-free count (``cache.incr`` is atomic in Redis and, within one
    process, in the memory cache). ``wait()`` is the time left in the window (``Retry-After``).
    """

    num_requests: int
    duration: int

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        client_key = self.get_cache_key(request, view)
        if client_key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{client_key}_{window}"
        self.cache.add(key, 0, timeout=self.duration + 1)
        try:
            count = self.cache.incr(key)
        except ValueError:  # the counter expired between add() and incr(): a new window
            self.cache.add(key, 1, timeout=self.duration + 1)
            count = 1
        return count <= self.num_requests

    def wait(self) -> float:
        return max(0.0, self.window_end - self.now)


class ApiKeyRateThrottle(FixedWindowRateThrottle):
    """Counts the requests of each API key (by key id, never the key itself)."""

    scope = "api_key"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        api_key = request_api_key(request)
        if api_key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.pk}


class SessionUserRateThrottle(FixedWindowRateThrottle):
    """Counts the requests of each signed-in user."""

    scope = "session_user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request_api_key(request) is not None or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
