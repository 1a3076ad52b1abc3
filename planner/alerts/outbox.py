"""The outbox rows written before anything is sent, and the mail they carry.

A breach writes one ``AlertOutbox`` row per (rule, window, target), a target being a mail
recipient or an enabled channel of the rule, or per (organisation, window, target) for digest
rules (mail recipients and Slack channels; a webhook gets one event per rule), with INSERT ...
ON CONFLICT DO NOTHING: writing a window's rows again adds none. Each row gets its identity when
it is written: a Message-ID for mail, a delivery id (a UUID) for a channel. With
``ALERTS_DELIVER_ON_COMMIT`` delivery is enqueued once the transaction commits; the periodic
delivery sends the rows anyway.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from email.utils import make_msgid
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from planner.accounts.models import Organization
from planner.alerts.measure import (
    Measurement,
)
from planner.alerts.models import AlertChannel, AlertOutbox, AlertRule
from planner.alerts.rules import (
    logger,
)
from planner.core.enqueue import ALERTS_DELIVER, enqueue

#: Where a row goes: a mail recipient's address, or a channel.
Target = str | AlertChannel

# --- Mail -----------------------------------------------------------------------------------


def site_link(path: str) -> str:
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
                "link": site_link(reverse("alerts:rule_history", args=[m.rule.pk])),
            }
            for m in items
        ],
        "alerts_link": site_link(reverse("alerts:rule_list")),
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


def outbox_window_test(*, organization: Organization, now: datetime) -> str:
    """The window of a test delivery: ``test-<local timestamp>``, new at every request."""
    return f"test-{now.astimezone(ZoneInfo(organization.time_zone)):%Y-%m-%dT%H:%M:%S.%f}"


def rule_targets(rule: AlertRule) -> list[Target]:
    """Where ``rule``'s alerts go: its recipients, then its enabled channels by name."""
    channels = sorted((c for c in rule.channels.all() if c.enabled), key=lambda c: (c.name, c.pk))
    return [*rule.recipients, *channels]


def _digestible(target: Target) -> bool:
    """Mail and Slack take a digest; a webhook gets one event per rule (one ``rule`` a body)."""
    return not (isinstance(target, AlertChannel) and target.kind == AlertChannel.Kind.WEBHOOK)


def _target_key(target: Target) -> str:
    return f"channel:{target.pk}" if isinstance(target, AlertChannel) else target


def outbox_row(
    *,
    organization: Organization,
    kind: str,
    window: str,
    target: Target,
    items: list[Measurement],
    now: datetime,
) -> AlertOutbox:
    """The delivery of ``items`` to ``target``: a digest (no rule), the alert or test of the one
    rule measured in ``items``, or a channel's test (no items, no rule)."""
    rule = items[0].rule if items and kind != AlertOutbox.Kind.DIGEST else None
    channel = target if isinstance(target, AlertChannel) else None
    if kind == AlertOutbox.Kind.DIGEST:
        subject = _digest_subject(organization, items)
    elif not items:
        subject = f"[Test] Margin Planner alerts of {organization.name} reach {target}"
    elif kind == AlertOutbox.Kind.TEST:
        subject = f"[Test] {items[0].subject}"
    else:
        subject = items[0].subject
    subject = subject[:255]
    if items:
        text, html = _render(
            organization=organization,
            subject=subject,
            items=items,
            digest=kind == AlertOutbox.Kind.DIGEST,
            test=kind == AlertOutbox.Kind.TEST,
        )
    else:
        text = f"{subject}\n\nAlerts will arrive here. Open: {site_link(reverse('alerts:rule_list'))}\n"
        html = ""
    if channel is None:
        identity = _message_id(
            organization_id=organization.pk, identity=f"{rule.pk if rule else 'digest'}.{window}"
        )
    else:
        identity = str(uuid.uuid4())
    row = AlertOutbox(
        organization=organization,
        rule=rule,
        kind=kind,
        window=window,
        recipient="" if channel is not None else str(target),
        channel=channel,
        next_attempt_at=now,
        message_id=identity,
        subject=subject,
        text=text,
        html="" if channel is not None else html,
        measured={"items": [m.figures for m in items]},
    )
    row._carried_rules = [m.rule.pk for m in items]  # type: ignore[attr-defined]
    return row


def _alert_row(
    *, organization: Organization, breach: Measurement, target: Target, now: datetime
) -> AlertOutbox:
    """The alert of one rule's breach to one target."""
    return outbox_row(
        organization=organization,
        kind=AlertOutbox.Kind.ALERT,
        window=breach.window,
        target=target,
        items=[breach],
        now=now,
    )


def outbox_insert(rows: list[AlertOutbox]) -> list[AlertOutbox]:
    """INSERT ... ON CONFLICT DO NOTHING; returns the rows actually inserted (found by their
    fresh identities) with their ``rules`` linked."""
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
    breaches share one row per (window, target) for mail and Slack; a breach missing from a
    digest row written earlier for the same window (a rule evaluated in a later sweep) gets its
    own alert row. Returns the number of rows inserted."""
    rows: list[AlertOutbox] = []
    digests: dict[tuple[str, str], tuple[Target, list[Measurement]]] = {}
    for breach in breaches:
        for target in rule_targets(breach.rule):
            if breach.rule.digest and _digestible(target):
                digests.setdefault((breach.window, _target_key(target)), (target, []))[1].append(breach)
            else:
                rows.append(_alert_row(organization=organization, breach=breach, target=target, now=now))
    digest_rows = {
        key: outbox_row(
            organization=organization,
            kind=AlertOutbox.Kind.DIGEST,
            window=key[0],
            target=target,
            items=items,
            now=now,
        )
        for key, (target, items) in digests.items()
    }
    inserted = outbox_insert(rows + list(digest_rows.values()))
    won = {row.message_id for row in inserted}
    late: list[AlertOutbox] = []
    for key, candidate in digest_rows.items():
        if candidate.message_id in won:
            continue
        target, items = digests[key]
        existing = AlertOutbox.objects.get(
            organization=organization,
            rule__isnull=True,
            window=candidate.window,
            recipient=candidate.recipient,
            channel=candidate.channel,
        )
        carried = set(existing.rules.values_list("pk", flat=True))
        late.extend(
            _alert_row(organization=organization, breach=item, target=target, now=now)
            for item in items
            if item.rule.pk not in carried
        )
    created = len(inserted) + len(outbox_insert(late))
    if created:
        schedule_delivery()
    return created


def schedule_delivery() -> None:
    """With ``ALERTS_DELIVER_ON_COMMIT``, enqueue delivery once the transaction commits."""
    if settings.ALERTS_DELIVER_ON_COMMIT:
        transaction.on_commit(enqueue_delivery)


def enqueue_delivery() -> None:
    try:
        enqueue(ALERTS_DELIVER)
    except Exception:  # the periodic delivery picks the rows up anyway
        logger.warning("Could not enqueue alert delivery; the periodic task will send.", exc_info=True)
