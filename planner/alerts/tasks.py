"""Celery tasks of alerts (docs/ALERTS.md)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from planner.alerts.delivery import outbox_deliver
from planner.alerts.evaluate import alerts_evaluate_due


@shared_task(name="planner.alerts_sweep", ignore_result=True)
def alerts_sweep_task() -> None:
    """Periodic: evaluate the alert rules that are due (docs/ALERTS.md)."""
    alerts_evaluate_due(now=timezone.now())


@shared_task(name="planner.alerts_deliver", ignore_result=True)
def alerts_deliver_task() -> None:
    """Send the alert mails whose attempt has come (periodic, and enqueued after new rows)."""
    outbox_deliver(now=timezone.now())
