"""Delivering outbox rows, by SMTP or to a channel: at least once, with a stable identity and
retries.

A row is claimed (its next attempt moved past a lease, so concurrent deliverers skip it), sent
with its stored identity (a mail's Message-ID, a channel message's delivery id), then marked
sent. An error before the server's ``250`` (mail) or the receiver's success answer (channels,
``planner.alerts.webhooks``) leaves it ``retrying`` with exponential backoff, or later when the
receiver asked so with ``Retry-After``; a connection lost after the request was taken may
deliver the same identity twice. After ``ALERTS_MAX_ATTEMPTS`` attempts a row is ``failed``,
with the error kept. Nothing is deleted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F

from planner.alerts.models import AlertOutbox
from planner.alerts.rules import (
    logger,
)
from planner.alerts.webhooks import ChannelError, channel_send

# --- Delivery -------------------------------------------------------------------------------


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0


def outbox_backoff(*, attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: base x 2^(attempts-1),
    capped at ``ALERTS_RETRY_MAX_SECONDS``."""
    seconds = settings.ALERTS_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.ALERTS_RETRY_MAX_SECONDS))


def _email(row: AlertOutbox, connection: Any) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.recipient],
        headers={"Message-ID": row.message_id},
        connection=connection,
    )
    message.attach_alternative(row.html, "text/html")
    return message


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # the connection is broken already; the next send reopens one
        logger.debug("Closing a broken SMTP connection failed", exc_info=True)


def _error_text(error: Exception) -> str:
    """What ``last_error`` keeps: a channel's own message (it names the host, never the URL)."""
    text = str(error) if isinstance(error, ChannelError) else f"{type(error).__name__}: {error}"
    return text[:2000]


def _next_attempt(*, now: datetime, attempts: int, error: Exception) -> datetime:
    """After a failed attempt: the backoff, or the receiver's ``Retry-After`` when later
    (capped like the backoff)."""
    delay = outbox_backoff(attempts=attempts)
    if isinstance(error, ChannelError) and error.retry_after is not None:
        wish = min(error.retry_after, settings.ALERTS_RETRY_MAX_SECONDS)
        delay = max(delay, timedelta(seconds=wish))
    return now + delay


def outbox_deliver(*, now: datetime, limit: int = 500, rows: Iterable[int] | None = None) -> DeliveryResult:
    """Send pending and retrying rows whose next attempt has come (``rows``: only these ids),
    oldest first: mail through one SMTP connection (reopened after an error), channel messages
    one request each. See the module docstring for the at-least-once contract.

    Each claim's lease counts from ``now`` plus the time this call has spent so far, so a slow
    receiver early in a batch cannot leave later rows with a lease already past."""
    due = AlertOutbox.objects.filter(
        status__in=[AlertOutbox.Status.PENDING, AlertOutbox.Status.RETRYING], next_attempt_at__lte=now
    )
    if rows is not None:
        due = due.filter(pk__in=list(rows))
    candidates = list(due.order_by("next_attempt_at", "id").values_list("pk", "next_attempt_at")[:limit])
    result = DeliveryResult()
    if not candidates:
        return result
    started = time.monotonic()
    connection = get_connection(fail_silently=False)
    opened = False
    try:
        for pk, next_attempt_at in candidates:
            lease = now + timedelta(seconds=time.monotonic() - started + settings.ALERTS_SEND_LEASE_SECONDS)
            # Claim: only the deliverer that moves next_attempt_at sends this attempt.
            claimed = AlertOutbox.objects.filter(
                pk=pk,
                next_attempt_at=next_attempt_at,
                status__in=[AlertOutbox.Status.PENDING, AlertOutbox.Status.RETRYING],
            ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
            if not claimed:
                result.skipped += 1
                continue
            row = AlertOutbox.objects.select_related("organization", "channel").get(pk=pk)
            try:
                if row.channel_id is not None:
                    channel_send(row)
                else:
                    if not opened:
                        connection.open()
                        opened = True
                    _email(row, connection).send()
            except Exception as error:  # any failure must end in retrying/failed, never a lost row
                if row.channel_id is None:
                    _close_quietly(connection)
                    opened = False
                message = _error_text(error)
                if row.attempts >= settings.ALERTS_MAX_ATTEMPTS:
                    AlertOutbox.objects.filter(pk=pk).update(
                        status=AlertOutbox.Status.FAILED, last_error=message
                    )
                    result.failed += 1
                    logger.error(
                        "Alert delivery %s (channel %s) of organisation %s failed for good after %s "
                        "attempts: %s",
                        pk,
                        row.channel_id,
                        row.organization_id,
                        row.attempts,
                        message,
                    )
                else:
                    AlertOutbox.objects.filter(pk=pk).update(
                        status=AlertOutbox.Status.RETRYING,
                        next_attempt_at=_next_attempt(now=now, attempts=row.attempts, error=error),
                        last_error=message,
                    )
                    result.retrying += 1
                continue
            AlertOutbox.objects.filter(pk=pk).update(
                status=AlertOutbox.Status.SENT, sent_at=now, last_error=""
            )
            result.sent += 1
    finally:
        if opened:
            _close_quietly(connection)
    return result


def outbox_retry(*, rows: Iterable[AlertOutbox], now: datetime) -> int:
    """Put failed (or waiting) rows back in line for an attempt at ``now`` (admin action)."""
    return AlertOutbox.objects.filter(
        pk__in=[r.pk for r in rows], status__in=[AlertOutbox.Status.FAILED, AlertOutbox.Status.RETRYING]
    ).update(status=AlertOutbox.Status.RETRYING, next_attempt_at=now)
