"""API keys: create (the plain key is returned once), verify, revoke.

A key is ``mp_`` + 43 URL-safe characters (32 random bytes). Its first ``ApiKey.PREFIX_LENGTH``
characters are stored as the ``prefix`` (indexed, shown in lists); the SHA-256 of the whole key
is stored, never the key. Verification looks the row up by its hash and compares hashes in
constant time. Keys are never logged: log lines carry the key's id and prefix only.

A verified key is remembered in the process's memory (the ``local`` cache) for
``VERIFIED_KEY_SECONDS``, keyed by its hash, so a busy client costs no authentication query
per request. Revoking deletes that entry: the revocation is immediate in the revoking process,
and other processes stop accepting the key within ``VERIFIED_KEY_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence

from django.contrib.auth.models import User
from django.core.cache import caches
from django.db.models import Q
from django.utils import timezone

from planner.accounts.models import ApiKey, Organization

logger = logging.getLogger(__name__)

KEY_MARKER = "mp_"
#: ``last_used_at`` is written at most once per this interval, so a busy key costs no write
#: per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
#: Longest string ever checked: keys are 46 characters; anything far longer is not a key.
MAX_KEY_LENGTH = 200
#: How long a verified key is remembered (see the module docstring).
VERIFIED_KEY_SECONDS = 5


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _verified_cache_key(digest: str) -> str:
    return f"api-key-verified:{digest}"


def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: Sequence[str],
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Create a key of ``organization`` with ``scopes`` (subset of read, write, ingest).

    Returns ``(api_key, plain_key)``; the plain key cannot be recovered later.
    """
    plain = KEY_MARKER + secrets.token_urlsafe(32)
    api_key = ApiKey(
        organization=organization,
        name=name,
        prefix=plain[: ApiKey.PREFIX_LENGTH],
        hashed_key=_hash(plain),
        scopes=list(scopes),
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    logger.info(
        "api key created api_key_id=%s prefix=%s organization_id=%s",
        api_key.pk,
        api_key.prefix,
        organization.pk,
    )
    return api_key, plain


def api_key_verify(*, key: str, now: dt.datetime | None = None) -> ApiKey | None:
    """The active key whose plain value is ``key``, or None (unknown, malformed or revoked).

    Records use in ``last_used_at``, at most once per ``LAST_USED_RESOLUTION``.
    """
    if not key.startswith(KEY_MARKER) or len(key) > MAX_KEY_LENGTH or not key.isascii():
        return None
    digest = _hash(key)
    api_key: ApiKey | None = caches["local"].get(_verified_cache_key(digest))
    if api_key is None:
        # One indexed lookup on the unique hash; ``order_by()`` drops the model's default
        # ordering, which would join the organisation table a second time for nothing.
        api_key = (
            ApiKey.objects.select_related("organization")
            .filter(hashed_key=digest, revoked_at__isnull=True)
            .order_by()
            .first()
        )
        if api_key is None or not hmac.compare_digest(api_key.hashed_key, digest):
            return None
        caches["local"].set(_verified_cache_key(digest), api_key, VERIFIED_KEY_SECONDS)
    now = now or timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional update: concurrent requests of the same key write once per interval.
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        api_key.last_used_at = now
        caches["local"].set(_verified_cache_key(digest), api_key, VERIFIED_KEY_SECONDS)
    return api_key


def api_key_revoke(*, api_key: ApiKey, now: dt.datetime | None = None) -> ApiKey:
    """Revoke ``api_key`` (idempotent: an already revoked key keeps its first revocation time)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = now or timezone.now()
        api_key.save(update_fields=["revoked_at"])
        caches["local"].delete(_verified_cache_key(api_key.hashed_key))
        logger.info(
            "api key revoked api_key_id=%s prefix=%s organization_id=%s",
            api_key.pk,
            api_key.prefix,
            api_key.organization_id,
        )
    return api_key
