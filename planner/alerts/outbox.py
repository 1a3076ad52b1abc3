"""Alert mail: rendering, and the outbox rows written before anything is sent.

A breach writes one ``AlertOutbox`` row per (rule, window, recipient), or per (organisation,
window, recipient) for digest rules, with INSERT ... ON CONFLICT DO NOTHING: writing a window's
rows again adds none. Each row gets its Message-ID when it is written. With
``ALERTS_DELIVER_ON_COMMIT`` delivery is enqueued once the transaction commits; the periodic
delivery sends the rows anyway.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from planner.accounts.models import Organization
from planner.alerts.measure import (
    Measurement,
)
from planner.alerts.models import AlertOutbox
from planner.alerts.rules import (
    logger,
)
from planner.core.enqueue import ALERTS_DELIVER, enqueue

# --- Mail -----------------------------------------------------------------------------------


def _site_link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _message_id(*, organization_id: int, identity: str) -> str:
    """A new Message-ID carrying the row's identity (organisation, rule or digest, window)."""
    domain = urlsplit(settings.SITE_URL).hostname or "margin-planner.localhost"
    return make_msgid(
        idstring=re.sub(r"[^A-Za-z0-9.-]", "-", f"alert.{organization_id}.{identity}"), domain=domain
    )


def _render(
    *, organization: Organization, subject: str, items: list[Measurement], digest: bool, test: bool
) -> tuple[str, str]:
    context = {
        "organization": organization,
        "subject": subject,
        "digest": digest,
        "test": test,
        "items": [
            {
                "figures": m.figures,
                "link": _site_link(reverse("alerts:rule_history", args=[m.rule.pk])),
            }
            for m in items
        ],
        "alerts_link": _site_link(reverse("alerts:rule_list")),
    }
    return (
        render_to_string("alerts/email.txt", context),
        render_to_string("alerts/email.html", context),
    )


def _digest_subject(organization: Organization, items: list[Measurement]) -> str:
    first = items[0].subject
    if len(items) == 1:
        return first
    return f"{organization.name}: {len(items)} margin alerts ({items[0].window}): {first}; ..."


def outbox_row(
    *,
    organization: Organization,
    kind: str,
    window: str,
    recipient: str,
    items: list[Measurement],
    now: datetime,
) -> AlertOutbox:
    """The mail of ``items`` to ``recipient``: a digest (no rule), or the alert or test mail of the
    one rule measured in ``items``."""
    rule = None if kind == AlertOutbox.Kind.DIGEST else items[0].rule
    if kind == AlertOutbox.Kind.DIGEST:
        subject = _digest_subject(organization, items)
    elif kind == AlertOutbox.Kind.TEST:
        subject = f"[Test] {items[0].subject}"
    else:
        subject = items[0].subject
    subject = subject[:255]
    text, html = _render(
        organization=organization,
        subject=subject,
        items=items,
        digest=kind == AlertOutbox.Kind.DIGEST,
        test=kind == AlertOutbox.Kind.TEST,
    )
    identity = f"{rule.pk if rule else 'digest'}.{window}"
    row = AlertOutbox(
        organization=organization,
        rule=rule,
        kind=kind,
        window=window,
        recipient=recipient,
        next_attempt_at=now,
        message_id=_message_id(organization_id=organization.pk, identity=identity),
        subject=subject,
        text=text,
        html=html,
        measured={"items": [m.figures for m in items]},
    )
    row._carried_rules = [m.rule.pk for m in items]  # type: ignore[attr-defined]
    return row


def _alert_row(
    *, organization: Organization, breach: Measurement, recipient: str, now: datetime
) -> AlertOutbox:
    """The alert mail of one rule's breach to one recipient."""
    return outbox_row(
        organization=organization,
        kind=AlertOutbox.Kind.ALERT,
        window=breach.window,
        recipient=recipient,
        items=[breach],
        now=now,
    )


def outbox_insert(rows: list[AlertOutbox]) -> list[AlertOutbox]:
    """INSERT ... ON CONFLICT DO NOTHING; returns the rows actually inserted (found by their
    fresh Message-IDs) with their ``rules`` linked."""
    if not rows:
        return []
    AlertOutbox.objects.bulk_create(rows, ignore_conflicts=True)
    carried = {r.message_id: r._carried_rules for r in rows}  # type: ignore[attr-defined]
    inserted = list(AlertOutbox.objects.filter(message_id__in=list(carried)))
    Through = AlertOutbox.rules.through
    Through.objects.bulk_create(
        [
            Through(alertoutbox_id=row.pk, alertrule_id=rule_id)
            for row in inserted
            for rule_id in carried[row.message_id]
        ],
        ignore_conflicts=True,
    )
    return inserted


def outbox_write(*, organization: Organization, breaches: list[Measurement], now: datetime) -> int:
    """Outbox rows for ``breaches`` (one organisation), ON CONFLICT DO NOTHING. Digest rules'
    breaches share one row per (window, recipient); a breach missing from a digest row written
    earlier for the same window (a rule evaluated in a later sweep) gets its own alert row.
    Returns the number of rows inserted."""
    rows: list[AlertOutbox] = []
    digests: dict[tuple[str, str], list[Measurement]] = {}
    for breach in breaches:
        for recipient in breach.rule.recipients:
            if breach.rule.digest:
                digests.setdefault((breach.window, recipient), []).append(breach)
            else:
                rows.append(
                    _alert_row(organization=organization, breach=breach, recipient=recipient, now=now)
                )
    digest_rows = [
        outbox_row(
            organization=organization,
            kind=AlertOutbox.Kind.DIGEST,
            window=window,
            recipient=recipient,
            items=items,
            now=now,
        )
        for (window, recipient), items in digests.items()
    ]
    inserted = outbox_insert(rows + digest_rows)
    won = {row.message_id for row in inserted}
    late: list[AlertOutbox] = []
    for candidate in digest_rows:
        if candidate.message_id in won:
            continue
        existing = AlertOutbox.objects.get(
            organization=organization,
            rule__isnull=True,
            window=candidate.window,
            recipient=candidate.recipient,
        )
        carried = set(existing.rules.values_list("pk", flat=True))
        for item in digests[(candidate.window, candidate.recipient)]:
            if item.rule.pk not in carried:
                late.append(
                    _alert_row(organization=organization, breach=item, recipient=candidate.recipient, now=now)
                )
    created = len(inserted) + len(outbox_insert(late))
    if created and settings.ALERTS_DELIVER_ON_COMMIT:
        transaction.on_commit(enqueue_delivery)
    return created


def enqueue_delivery() -> None:
    try:
        enqueue(ALERTS_DELIVER)
    except Exception:  # the periodic delivery picks the rows up anyway
        logger.warning("Could not enqueue alert delivery; the periodic task will send.", exc_info=True)
