"""Crash recovery: the chunk's heartbeat thread, its settings, and the reaper's 15 s stale timeout.

The thread writes through its own database connection, so these tests commit
(``transaction=True``); the slow block is the engine's block function patched in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from planner import engine
from planner.simulation import runs
from planner.simulation.heartbeats import ChunkHeartbeat, heartbeat_beat
from planner.simulation.models import RunBlock, Scenario, SimulationRun

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
BEAT = 0.05


def heartbeat_threads(run_id: int) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"heartbeat-run-{run_id}"]


def heartbeats(run_id: int, block: int) -> tuple[datetime | None, datetime | None]:
    run = SimulationRun.objects.values_list("heartbeat_at", flat=True).get(pk=run_id)
    row = RunBlock.objects.values_list("heartbeat_at", flat=True).get(run_id=run_id, block=block)
    return run, row


@pytest.fixture
def fast_beats(settings: Any) -> None:
    settings.PLANNER_HEARTBEAT_SECONDS = BEAT


def slow_block(seconds: float, seen: list[Any], then: Callable[[], None] | None = None) -> Any:
    """An engine block function that records the heartbeats before and after ``seconds`` of work."""
    real = engine.simulate_block

    def simulate(prepared: engine.PreparedRun, block: int) -> engine.BlockAggregate:
        run_id = next(t for t in threading.enumerate() if t.name.startswith("heartbeat-run-")).name
        run_pk = int(run_id.rsplit("-", 1)[1])
        before = heartbeats(run_pk, block)
        time.sleep(seconds)
        seen.append((before, heartbeats(run_pk, block), bool(heartbeat_threads(run_pk))))
        if then is not None:
            then()
        return real(prepared, block)

    return simulate


def test_the_heartbeat_advances_while_a_slow_block_runs_and_stops_after(
    scenario: Scenario, fast_beats: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = runs.run_create(scenario=scenario)
    seen: list[Any] = []
    monkeypatch.setattr(engine, "simulate_block", slow_block(20 * BEAT, seen))

    assert runs.chunk_execute(run_id=run.pk, blocks=[0], worker="test:1") == 1

    [((run_before, block_before), (run_during, block_during), thread_alive)] = seen
    assert thread_alive
    assert run_before is not None and run_during is not None and run_during > run_before
    assert block_before is not None and block_during is not None and block_during > block_before
    assert heartbeat_threads(run.pk) == []
    finished = SimulationRun.objects.get(pk=run.pk)
    assert finished.blocks_done == 1 and finished.status == SimulationRun.Status.RUNNING
    time.sleep(5 * BEAT)
    assert SimulationRun.objects.get(pk=run.pk).heartbeat_at == finished.heartbeat_at


def test_the_heartbeat_stops_when_the_chunk_hits_its_soft_time_limit(
    scenario: Scenario, fast_beats: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = runs.run_create(scenario=scenario)

    def interrupted(prepared: engine.PreparedRun, block: int) -> engine.BlockAggregate:
        time.sleep(4 * BEAT)
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(engine, "simulate_block", interrupted)
    with pytest.raises(SoftTimeLimitExceeded):
        runs.chunk_execute(run_id=run.pk, blocks=[0], worker="test:1")
    assert heartbeat_threads(run.pk) == []
    stopped = heartbeats(run.pk, 0)
    time.sleep(5 * BEAT)
    assert heartbeats(run.pk, 0) == stopped


def test_the_heartbeat_never_keeps_a_cancelled_run_alive(scenario: Scenario) -> None:
    run = runs.run_create(scenario=scenario)
    SimulationRun.objects.filter(pk=run.pk).update(status=SimulationRun.Status.RUNNING)
    RunBlock.objects.create(run=run, block=0, attempts=1, worker="test:1")
    assert heartbeat_beat(run_id=run.pk, block=0, worker="test:1")
    run_beat, block_beat = heartbeats(run.pk, 0)
    assert block_beat == run_beat is not None
    # A block the reaper handed to another worker is not this thread's to keep alive.
    assert heartbeat_beat(run_id=run.pk, block=0, worker="other:2")
    assert heartbeats(run.pk, 0)[1] == block_beat

    runs.run_cancel(run=run)
    cancelled = heartbeats(run.pk, 0)
    with ChunkHeartbeat(run_id=run.pk, worker="test:1", interval=BEAT) as heartbeat:
        heartbeat.block = 0
        time.sleep(6 * BEAT)
        assert not heartbeat.running  # it saw the run is no longer running and ended
    assert heartbeat.beats == 0
    assert heartbeats(run.pk, 0) == cancelled


def settings_in_a_fresh_process(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.PLANNER_HEARTBEAT_SECONDS, s.PLANNER_RUN_STALE_SECONDS, "
        "s.PLANNER_REAP_SECONDS, s.CELERY_BEAT_SCHEDULE['planner-runs-reap']]))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "planner.settings.base", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_recovery_settings_come_from_the_environment() -> None:
    defaults = settings_in_a_fresh_process({})
    assert defaults.returncode == 0, defaults.stderr
    beat, stale, reap, entry = json.loads(defaults.stdout.splitlines()[-1])
    assert (beat, stale, reap) == (5, 15, 5)
    assert entry["schedule"] == 5 and entry["options"]["expires"] < 5

    configured = settings_in_a_fresh_process(
        {"PLANNER_HEARTBEAT_SECONDS": "2", "PLANNER_RUN_STALE_SECONDS": "8", "PLANNER_REAP_SECONDS": "3"}
    )
    assert configured.returncode == 0, configured.stderr
    beat, stale, reap, entry = json.loads(configured.stdout.splitlines()[-1])
    assert (beat, stale, reap) == (2, 8, 3)
    assert entry["schedule"] == 3 and entry["options"]["expires"] < 3

    too_tight = settings_in_a_fresh_process({"PLANNER_HEARTBEAT_SECONDS": "10"})
    assert too_tight.returncode != 0
    assert "PLANNER_RUN_STALE_SECONDS (15) must be at least twice PLANNER_HEARTBEAT_SECONDS" in (
        too_tight.stderr
    )
    nonsense = settings_in_a_fresh_process({"PLANNER_REAP_SECONDS": "-1"})
    assert "PLANNER_REAP_SECONDS must be a positive number of seconds" in nonsense.stderr


def test_a_run_whose_worker_was_killed_is_requeued_on_the_first_pass_after_15_seconds(
    scenario: Scenario, settings: Any
) -> None:
    settings.PLANNER_RUN_STALE_SECONDS = 15
    settings.PLANNER_REAP_SECONDS = 5
    run = runs.run_create(scenario=scenario)
    killed_at = timezone.now()
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.RUNNING, dispatched_at=killed_at, heartbeat_at=killed_at
    )
    RunBlock.objects.create(run=run, block=0, attempts=1, worker="dead:1", heartbeat_at=killed_at)
    queued: list[tuple[int, list[int]]] = []

    passes = []
    for tick in range(1, 5):  # beat's passes, every PLANNER_REAP_SECONDS after the last heartbeat
        now = killed_at + timedelta(seconds=tick * settings.PLANNER_REAP_SECONDS)
        report = runs.runs_reap(now=now, enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
        passes.append(report.requeued_runs)
    assert passes == [[], [], [run.pk], []]  # at 15 s, then claimed: not again at 20 s
    assert queued == [(run.pk, [0])]
