"""Celery tasks: thin wrappers that take ids and call planner.services.runs (docs/JOBS.md),
planner.services.alerts (docs/ALERTS.md) and planner.services.usage (docs/ACTUALS.md)."""

from __future__ import annotations

import os
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from planner.services import alerts, runs, usage
from pricing.models import AIModel


@shared_task(
    name="planner.run_chunk",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.PLANNER_CHUNK_SOFT_TIME_LIMIT,
    time_limit=settings.PLANNER_CHUNK_TIME_LIMIT,
)
def run_chunk(self: object, run_id: int, blocks: list[int]) -> int:
    """Simulate some blocks of a run (idempotent: done blocks are skipped)."""
    hostname = getattr(getattr(self, "request", None), "hostname", None) or "worker"
    return runs.chunk_execute(run_id=run_id, blocks=blocks, worker=f"{hostname}:{os.getpid()}")


@shared_task(name="planner.run_merge", acks_late=True, reject_on_worker_lost=True)
def run_merge_task(run_id: int) -> None:
    """Merge a run's blocks into its results (idempotent)."""
    runs.run_merge(run_id=run_id)


@shared_task(name="planner.runs_reap", ignore_result=True)
def runs_reap_task() -> None:
    """Periodic: recover stale runs (see CELERY_BEAT_SCHEDULE in settings)."""
    runs.runs_reap()


@shared_task(name="planner.alerts_sweep", ignore_result=True)
def alerts_sweep_task() -> None:
    """Periodic: evaluate the alert rules that are due (docs/ALERTS.md)."""
    alerts.alerts_evaluate_due(now=timezone.now())


@shared_task(name="planner.alerts_deliver", ignore_result=True)
def alerts_deliver_task() -> None:
    """Send the alert mails whose attempt has come (periodic, and enqueued after new rows)."""
    alerts.outbox_deliver(now=timezone.now())


@shared_task(name="planner.usage_reprice", acks_late=True, reject_on_worker_lost=True)
def usage_reprice_task(model_id: int, since: str | None) -> None:
    """Reprice a model's usage records from ``since`` (ISO 8601; None: all) after a price change
    (idempotent: repricing twice changes nothing the second time)."""
    usage.usage_records_reprice(
        model=AIModel.objects.get(pk=model_id),
        since=None if since is None else datetime.fromisoformat(since),
    )
