"""Login throttling: django-axes' database handler with one failure limit per lockout rule.

Axes counts failed sign-ins for each entry of ``AXES_LOCKOUT_PARAMETERS`` (here: one username
from one IP, and one IP across usernames) but compares all of them with one limit. Each rule of
``settings.LOGIN_THROTTLE_RULES`` carries its own limit, so this handler (axes' documented
extension point, ``AXES_HANDLER``) reports the failures of the rule closest to its limit, on
axes' scale: ``AXES_FAILURE_LIMIT`` minus the attempts that rule has left. Axes then locks, in
both of its checks (``is_locked`` before a sign-in and ``user_login_failed`` after one), exactly
when some rule has reached its limit. Everything else (storage, cool-off, the signals) is axes'.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class LoginThrottleHandler(AxesDatabaseHandler):
    """Locks a sign-in when any rule of ``LOGIN_THROTTLE_RULES`` has reached its own limit."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        # One queryset per AXES_LOCKOUT_PARAMETERS entry, in the order of LOGIN_THROTTLE_RULES.
        attempts_per_rule = self.get_user_attempts(request, credentials)
        limits = [limit for _, limit in settings.LOGIN_THROTTLE_RULES]
        attempts_left = min(
            limit - (attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)
            for attempts, limit in zip(attempts_per_rule, limits, strict=True)
        )
        return int(get_failure_limit(request, credentials)) - attempts_left
