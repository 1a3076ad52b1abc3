"""Rate limits per API key and per signed-in user (rates: ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``,
scopes ``api_key`` and ``session_user``). Unauthenticated requests are refused before throttling
matters; each class ignores the requests the other one counts.

Counting is a fixed window per client (:class:`FixedWindowRateThrottle`): one atomic cache
increment per request, whatever the rate. DRF's ``SimpleRateThrottle`` instead reads and
rewrites the list of every request time in the window on each request, which costs O(rate)
and loses counts when two processes interleave their read and write.

The throttle fails open: when its cache (Redis, ``CACHE_URL``) cannot be reached or answers an
error, the request is let through uncounted. A rate limit guards capacity; refusing every request
while the cache is down would turn a cache outage into an API outage. ``CACHE_OUTAGE`` counts
those failures and logs them at most once a minute per process; the cache's socket timeouts
(``CACHE_SOCKET_TIMEOUT_SECONDS``, 0.1 s) bound what a dead cache costs a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.tenancy import request_api_key

if TYPE_CHECKING:  # rest_framework.views imports the permission settings: no cycle at run time
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class CacheOutage:
    """Failures of the throttle's cache in this process: all counted in ``failures``, logged at
    most once per ``log_every`` seconds (with how many there were since the last line)."""

    def __init__(self, *, log_every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = 0
        self._log_every = log_every
        self._clock = clock
        self._next_log: float | None = None
        self._unlogged = 0
        self._lock = threading.Lock()  # gunicorn threads share the process's counter

    def record(self, error: Exception) -> None:
        with self._lock:
            self.failures += 1
            self._unlogged += 1
            now = self._clock()
            if self._next_log is not None and now < self._next_log:
                return
            self._next_log = now + self._log_every
            unlogged, self._unlogged = self._unlogged, 0
            total = self.failures
        logger.warning(
            "throttle cache unreachable, letting requests through uncounted: %s: %s "
            "(%d failure(s) since the last report, %d in this process)",
            type(error).__name__,
            error,
            unlogged,
            total,
        )


#: This process's record of throttle cache failures (read by tests and for diagnosis).
CACHE_OUTAGE = CacheOutage()


class FixedWindowRateThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per client in each window of ``duration`` seconds.

    The windows are aligned to the clock (minute ``n`` of the epoch for ``/min``); a client can
    therefore send up to twice the rate across a window boundary, the usual trade of a fixed
    window for an O(1), race-free count (``cache.incr`` is atomic in Redis and, within one
    process, in the memory cache). ``wait()`` is the time left in the window (``Retry-After``).
    A request whose count the cache cannot give is allowed (fails open, see the module).
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
        try:
            count = self._count(f"{client_key}_{window}")
        except RedisError as error:
            CACHE_OUTAGE.record(error)
            return True
        return count <= self.num_requests

    def _count(self, key: str) -> int:
        """Add this request to the window's counter ``key``; return the count so far."""
        self.cache.add(key, 0, timeout=self.duration + 1)
        try:
            return self.cache.incr(key)
        except ValueError:  # the counter expired between add() and incr(): a new window
            self.cache.add(key, 1, timeout=self.duration + 1)
            return 1

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
