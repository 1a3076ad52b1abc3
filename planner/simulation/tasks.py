"""Celery tasks of simulation runs (docs/JOBS.md): thin wrappers over planner.simulation.runs."""

from __future__ import annotations

import os

from celery import shared_task
from django.conf import settings

from planner.simulation import runs


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
