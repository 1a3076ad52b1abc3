"""Idempotency keys: a request sent again with the same key does its work once.

:func:`idempotent_call` runs ``perform`` at most once per ``(organisation, key)`` within
:data:`KEY_LIFETIME` (24 hours) and hands every later call with that key the stored response:

- In one transaction it first inserts the key's row, then runs ``perform`` and stores the
  response it returns. The unique constraint on ``(organization, key)`` serialises concurrent
  calls: a second insert of the same key waits for the first transaction (PostgreSQL blocks on
  the index entry; SQLite's ``BEGIN IMMEDIATE`` takes the write lock) and then fails, so the
  loser reads the winner's committed response instead of starting a second job.
- If ``perform`` raises, nothing is kept (the key's row goes with the rest of the
  transaction): a failed request may be retried with the same key.
- The same key with a different ``request_hash`` raises :class:`IdempotencyKeyReused`.
- Expired rows are deleted lazily: each call that stores a key first deletes its organisation's
  rows older than :data:`KEY_LIFETIME`, in the same transaction; an expired key is therefore
  never replayed and is free to be used again. No periodic task is needed: an organisation's
  rows never outnumber the keys it sent within the last 24 hours plus those since its last call.

The caller decides what a "request" is (``request_hash``) and what is stored (a status and a
body as text); nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from planner.accounts.models import IdempotencyKey, Organization

KEY_LIFETIME = timedelta(hours=24)


class IdempotencyKeyReused(Exception):
    """The key was already used, within its lifetime, for a different request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    #: The body as sent (text), replayed unchanged.
    body: str
    #: True when this is the stored response of an earlier call, not of this one.
    replayed: bool = False


def data_hash(*, data: Any) -> str:
    """SHA-256 (hex) of ``data`` as canonical JSON: sorted keys, no spaces, non-JSON values
    (dates, decimals) as their ``str``, so equal data hashes alike whatever its key order."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def idempotent_call(
    *,
    organization: Organization,
    key: str,
    request_hash: str,
    perform: Callable[[], StoredResponse],
    now: datetime | None = None,
) -> StoredResponse:
    """``perform()``'s response, or the response stored for ``key`` by an earlier call with the
    same ``request_hash`` (see the module docstring). Raises :class:`IdempotencyKeyReused` when
    the key was used for another request; whatever ``perform`` raises is raised, and the key
    is not kept."""
    now = now or timezone.now()
    with transaction.atomic():
        IdempotencyKey.objects.filter(organization=organization, created_at__lt=now - KEY_LIFETIME).delete()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    organization=organization, key=key, request_hash=request_hash, created_at=now
                )
        except IntegrityError:
            stored = IdempotencyKey.objects.get(organization=organization, key=key)
            if stored.request_hash != request_hash:
                raise IdempotencyKeyReused(key) from None
            assert stored.response_status is not None  # filled in before its transaction committed
            return StoredResponse(status=stored.response_status, body=stored.response_body, replayed=True)
        response = perform()
        row.response_status = response.status
        row.response_body = response.body
        row.save(update_fields=["response_status", "response_body"])
    return response
