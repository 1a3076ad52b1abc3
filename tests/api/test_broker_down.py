"""A run started while the broker is down: the request answers 202 at once with a queued run, and
the reaper dispatches it once the broker is back (the run row is the outbox)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from planner.celery import app
from planner.simulation import runs
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import runs_reap
from tests.api.conftest import KeyClient

STALE = timedelta(minutes=10)


@contextmanager
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs send their chunks to a Redis port nothing listens on (connections refused), through
    Celery's real publishing path."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with app.connection_for_write(f"redis://127.0.0.1:{port}/0") as dead:

        def send(name: str, *args: object) -> None:
            app.tasks[name].apply_async(args=args, connection=dead)

        with monkeypatch.context() as patch:
            patch.setattr(runs, "enqueue", send)
            yield


def test_a_run_started_while_the_broker_is_down_is_accepted_then_dispatched_by_the_reaper(
    key_client: KeyClient,
    scenario: Scenario,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = key_client()
    with broker_down(monkeypatch):
        started_at = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/scenarios/{scenario.pk}/runs/", {"users": 1000}, format="json")
        elapsed = time.monotonic() - started_at
    assert response.status_code == 202, response.content
    assert elapsed < 2.0
    run = SimulationRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.dispatched_at) == (SimulationRun.Status.QUEUED, None)

    # The broker is back: the reaper's next pass (a beat task every 5 s) sends every block.
    sent: list[tuple[int, list[int]]] = []
    report = runs_reap(
        now=timezone.now() + timedelta(seconds=10),
        stale_after=STALE,
        enqueue=lambda r, b: sent.append((r, b)),
    )
    assert report.requeued_runs == [run.pk]
    assert sorted(block for run_id, blocks in sent if run_id == run.pk for block in blocks) == list(
        range(run.blocks_total)
    )
    run.refresh_from_db()
    assert run.dispatched_at is not None
    # Dispatched once: the next pass leaves it to the workers (and, once stale, to the
    # stale-heartbeat rule, set here well beyond the passes).
    assert (
        runs_reap(
            now=timezone.now() + timedelta(seconds=20),
            stale_after=STALE,
            enqueue=lambda r, b: sent.append((r, b)),
        ).requeued_runs
        == []
    )
