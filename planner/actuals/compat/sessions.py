"""Stripe v2 meter-event sessions: the short-lived bearer token that authenticates Stripe's
high-throughput ``meter_event_stream`` (docs/INTEGRATIONS.md, "Stripe").

``meter_event_session_create`` issues a token for an API key (valid ``SESSION_LIFETIME``, 15
minutes, as Stripe's); only its SHA-256 is stored. ``meter_event_session_verify`` finds the
session of a token: ``None`` for a token never issued (or whose API key was revoked since), and
``MeterEventSessionExpired`` for one issued and expired, so the stream can answer Stripe's
``temporary_session_expired`` and the SDK's caller knows to open a new session. Expired sessions
are kept ``EXPIRED_KEPT`` (a day) for that answer, then deleted lazily by the next creation in
the organisation: no periodic task is needed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from planner.accounts.models import ApiKey
from planner.actuals.compat.models import MeterEventSession

SESSION_LIFETIME = timedelta(minutes=15)
EXPIRED_KEPT = timedelta(days=1)
#: Tokens start with this marker (tells them apart from API keys in logs and support requests).
TOKEN_PREFIX = "mpmes_"
MAX_TOKEN_LENGTH = 200


class MeterEventSessionExpired(Exception):
    """The token was issued, and its session has expired."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def meter_event_session_create(
    *, api_key: ApiKey, now: datetime | None = None
) -> tuple[MeterEventSession, str]:
    """A new session of ``api_key`` and its plain token (shown once; only its hash is kept)."""
    now = now or timezone.now()
    MeterEventSession.objects.filter(
        organization_id=api_key.organization_id, expires_at__lt=now - EXPIRED_KEPT
    ).delete()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = MeterEventSession.objects.create(
        organization_id=api_key.organization_id,
        api_key=api_key,
        token_hash=_token_hash(token),
        expires_at=now + SESSION_LIFETIME,
    )
    return session, token


def meter_event_session_verify(*, token: str, now: datetime | None = None) -> MeterEventSession | None:
    """The live session of ``token`` (with its API key and organisation loaded), ``None`` when
    the token is unknown or its key was revoked; raises ``MeterEventSessionExpired`` when it has
    expired."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    session = (
        MeterEventSession.objects.select_related("api_key__organization")
        .filter(token_hash=_token_hash(token), api_key__revoked_at__isnull=True)
        .order_by()
        .first()
    )
    if session is None:
        return None
    if session.expires_at <= (now or timezone.now()):
        raise MeterEventSessionExpired(session.pk)
    return session
