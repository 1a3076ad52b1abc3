"""Celery tasks of actual usage (docs/ACTUALS.md)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from planner.actuals.reprice import usage_records_reprice
from planner.actuals.rollup import customer_months_fold_all
from pricing.models import AIModel


@shared_task(name="planner.usage_reprice", acks_late=True, reject_on_worker_lost=True)
def usage_reprice_task(model_id: int, since: str | None) -> None:
    """Reprice a model's usage records from ``since`` (ISO 8601; None: all) after a price change
    (idempotent: repricing twice changes nothing the second time)."""
    usage_records_reprice(
        model=AIModel.objects.get(pk=model_id),
        since=None if since is None else datetime.fromisoformat(since),
    )


@shared_task(name="planner.usage_rollup_fold", ignore_result=True)
def usage_rollup_fold_task() -> None:
    """Fold every organisation's rollup journal into its customer-months (periodic; readers fold
    on their own before reading, so this only keeps the journal small)."""
    customer_months_fold_all()
