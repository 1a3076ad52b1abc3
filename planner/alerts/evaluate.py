"""Evaluating rules: measure each due rule, then write its breaches to the outbox.

One periodic sweep (``alerts_evaluate_due``) evaluates every enabled rule whose latest schedule
tick is later than the tick it last evaluated (``AlertRule.last_tick_at``), once, for the
window of that tick (``planner.alerts.schedules``); missed ticks are not replayed. The outbox
rows are written in the transaction that records the evaluation, so re-evaluating a window (a
duplicate beat tick, a task retry, two schedulers) adds none. One organisation's failure does
not stop the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from planner.accounts.models import Organization
from planner.alerts.measure import (
    alert_measure,
)
from planner.alerts.models import AlertOutbox, AlertRule
from planner.alerts.outbox import (
    outbox_insert,
    outbox_row,
    outbox_window_test,
    outbox_write,
    rule_targets,
    schedule_delivery,
)
from planner.alerts.rules import (
    logger,
)
from planner.alerts.schedules import schedule_previous_tick

# --- Evaluating -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    evaluated: int
    breaches: int
    rows_created: int


def _evaluate(
    *, organization: Organization, due: list[tuple[AlertRule, datetime]], now: datetime
) -> SweepResult:
    measurements = [alert_measure(rule=rule, tick=tick) for rule, tick in due]
    breaches = [m for m in measurements if m.breached]
    with transaction.atomic():
        created = outbox_write(organization=organization, breaches=breaches, now=now)
        for m in measurements:
            m.rule.last_measurement = {**m.figures, "evaluated_at": now.isoformat()}
            # Never move the tick backwards (two schedulers may finish out of order).
            AlertRule.objects.filter(pk=m.rule.pk).filter(
                Q(last_tick_at__isnull=True) | Q(last_tick_at__lt=m.tick)
            ).update(last_tick_at=m.tick)
            AlertRule.objects.filter(pk=m.rule.pk).update(
                last_evaluated_at=now, last_measurement=m.rule.last_measurement
            )
    return SweepResult(evaluated=len(measurements), breaches=len(breaches), rows_created=created)


def _rules() -> Any:
    return AlertRule.objects.select_related(
        "organization", "crontab", "scenario", "scenario__product", "tier", "tier__product"
    ).prefetch_related("channels")


def alert_evaluate(*, rule: AlertRule, now: datetime) -> SweepResult:
    """Evaluate one rule for the window of its latest tick at or before ``now`` (``now`` itself
    when its schedule never fired): outbox rows on a breach, none if that window has them."""
    rule = _rules().get(pk=rule.pk)
    tick = schedule_previous_tick(crontab=rule.crontab, now=now) or now
    return _evaluate(organization=rule.organization, due=[(rule, tick)], now=now)


def alerts_evaluate_due(*, now: datetime) -> SweepResult:
    """The sweep: evaluate every enabled rule with a schedule tick after its last evaluated one
    (after its creation, for a new rule), one organisation at a time. Missed ticks are not
    replayed: a rule is evaluated once, for its latest window."""
    due: dict[int, list[tuple[AlertRule, datetime]]] = {}
    organizations: dict[int, Organization] = {}
    for rule in _rules().filter(enabled=True).order_by("organization_id", "pk"):
        tick = schedule_previous_tick(crontab=rule.crontab, now=now)
        if tick is None or tick <= (rule.last_tick_at or rule.created_at):
            continue
        organizations[rule.organization_id] = rule.organization
        due.setdefault(rule.organization_id, []).append((rule, tick))
    totals = SweepResult(0, 0, 0)
    for organization_id, items in due.items():
        try:
            result = _evaluate(organization=organizations[organization_id], due=items, now=now)
        except Exception:  # one organisation's bad data must not stop the others
            logger.exception("Alert sweep failed for organisation %s", organization_id)
            continue
        totals = SweepResult(
            totals.evaluated + result.evaluated,
            totals.breaches + result.breaches,
            totals.rows_created + result.rows_created,
        )
    return totals


def alert_send_test(*, rule: AlertRule, now: datetime) -> list[AlertOutbox]:
    """ "Send a test alert now": measure the rule for the current window and queue a ``test``
    delivery to each recipient and enabled channel, breach or not. Does not count as the
    window's evaluation."""
    rule = _rules().get(pk=rule.pk)
    measurement = alert_measure(rule=rule, tick=now)
    window = outbox_window_test(organization=rule.organization, now=now)
    rows = [
        outbox_row(
            organization=rule.organization,
            kind=AlertOutbox.Kind.TEST,
            window=window,
            target=target,
            items=[measurement],
            now=now,
        )
        for target in rule_targets(rule)
    ]
    with transaction.atomic():
        inserted = outbox_insert(rows)
        schedule_delivery()
    return inserted
