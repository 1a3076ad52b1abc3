"""Simulation jobs through a real broker and real Celery worker processes (no eager mode).

The worker processes share the test database (``PLANNER_USE_TEST_DATABASE=1``) and the broker of
the settings: Redis in CI, the filesystem broker of the embedded default elsewhere. Tests use
committed transactions (``transaction=True``) so the workers see the data.
"""

from __future__ import annotations

import functools
import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from planner import engine
from planner.celery import app
from planner.devtools.worker_processes import WorkerProcess, celery_worker_process, wait_for
from planner.simulation import runs
from planner.simulation.adapter import SimulationInputError, engine_input_from_snapshot
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.optimize import Targets, scenario_goal_seek
from planner.simulation.scenarios import scenario_update
from planner.simulation.selectors import run_progress
from tests.simulation.test_optimization_jobs import pro_cap_for_95_percent

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def celery_worker(tmp_path: Path, concurrency: int = 1) -> Iterator[WorkerProcess]:
    """A real worker sharing this test database and broker (``PLANNER_USE_TEST_DATABASE=1``)."""
    env = {"PLANNER_USE_TEST_DATABASE": "1", "DJANGO_SETTINGS_MODULE": "planner.settings.test"}
    with celery_worker_process(concurrency=concurrency, log_dir=tmp_path, env=env) as worker:
        yield worker


def finished(run_id: int) -> SimulationRun | None:
    run = SimulationRun.objects.get(pk=run_id)
    return run if run.is_finished else None


@pytest.fixture(autouse=True)
def empty_broker() -> None:
    """Start every test with an empty queue (messages of an earlier, interrupted test are gone)."""
    app.control.purge()


@pytest.fixture
def job_scenario(scenario: Scenario) -> Scenario:
    """A scenario of six blocks whose blocks take long enough to be caught mid-run."""
    return scenario_update(
        scenario=scenario, data={"horizon_months": 24, "simulated_users": 6 * engine.BLOCK_SIZE}
    )


def expected_results(run: SimulationRun) -> dict[str, Any]:
    """The undisturbed result: the engine run in this process from the run's snapshot."""
    results = engine.simulate(engine_input_from_snapshot(run.snapshot), users=run.users, seed=run.seed)
    return dict(json.loads(json.dumps(results)))


def comparable(results: dict[str, Any] | None) -> dict[str, Any]:
    assert results is not None
    return {k: v for k, v in results.items() if k != "seconds"}


def test_run_through_the_broker_shows_progress_and_matches_the_engine(
    job_scenario: Scenario, tmp_path: Path, settings: Any
) -> None:
    settings.PLANNER_CHUNK_BLOCKS = 1
    with celery_worker(tmp_path, concurrency=1):
        run = runs.run_start(scenario=job_scenario)
        seen: set[int] = set()

        def done_or_record() -> SimulationRun | None:
            seen.add(SimulationRun.objects.values_list("blocks_done", flat=True).get(pk=run.pk))
            return finished(run.pk)

        final = wait_for(done_or_record, timeout=240, what="the run to finish")
    assert final.status == SimulationRun.Status.SUCCEEDED, final.error
    assert any(0 < done < 6 for done in seen), f"no mid-run progress observed: {sorted(seen)}"
    progress = run_progress(run=final)
    assert (progress.blocks_done, progress.users_simulated, progress.fraction, progress.eta_seconds) == (
        6,
        run.users,
        1.0,
        None,
    )
    assert comparable(final.results) == expected_results(final)


def test_one_and_two_workers_give_identical_results(
    job_scenario: Scenario, tmp_path: Path, settings: Any
) -> None:
    settings.PLANNER_CHUNK_BLOCKS = 1
    results = []
    for concurrency in (1, 2):
        with celery_worker(tmp_path, concurrency=concurrency):
            run = runs.run_start(scenario=job_scenario)
            final = wait_for(functools.partial(finished, run.pk), timeout=240, what="the run to finish")
        assert final.status == SimulationRun.Status.SUCCEEDED, final.error
        results.append(comparable(final.results))
    assert results[0] == results[1]


def test_worker_killed_inside_a_chunk_then_restarted_completes_identically(
    job_scenario: Scenario, tmp_path: Path, settings: Any
) -> None:
    settings.PLANNER_CHUNK_BLOCKS = 2
    with celery_worker(tmp_path, concurrency=1) as worker:
        run = runs.run_start(scenario=job_scenario)
        # Provably inside a chunk: a block is marked running with a heartbeat by the worker.
        block = wait_for(
            lambda: (
                RunBlock.objects.filter(
                    run_id=run.pk, state=RunBlock.State.RUNNING, heartbeat_at__isnull=False
                )
                .values_list("block", flat=True)
                .first()
                is not None
            ),
            timeout=120,
            what="a block to start",
            interval=0.005,
        )
        assert block
        worker.stop(signal.SIGKILL)
    assert SimulationRun.objects.get(pk=run.pk).status == SimulationRun.Status.RUNNING
    with celery_worker(tmp_path, concurrency=1):
        report = runs.runs_reap(stale_after=timedelta(0))
        assert report.requeued_runs == [run.pk]
        final = wait_for(lambda: finished(run.pk), timeout=240, what="the recovered run to finish")
    assert final.status == SimulationRun.Status.SUCCEEDED, final.error
    assert RunBlock.objects.filter(run=final, attempts__gte=2).exists()
    assert comparable(final.results) == expected_results(final)


def test_a_chunk_delivered_twice_is_counted_once(
    job_scenario: Scenario, tmp_path: Path, settings: Any
) -> None:
    settings.PLANNER_CHUNK_BLOCKS = 3
    with celery_worker(tmp_path, concurrency=1):
        run = runs.run_start(scenario=job_scenario)
        # The same chunk delivered again, through the broker, while the run is going on.
        runs.run_dispatch(run_id=run.pk)
        final = wait_for(lambda: finished(run.pk), timeout=240, what="the run to finish")
    assert final.status == SimulationRun.Status.SUCCEEDED, final.error
    assert final.blocks_done == final.blocks_total == 6
    assert RunBlock.objects.filter(run=final).count() == 6
    assert comparable(final.results) == expected_results(final)


def test_cancel_stops_the_chunks(job_scenario: Scenario, tmp_path: Path, settings: Any) -> None:
    settings.PLANNER_CHUNK_BLOCKS = 6
    with celery_worker(tmp_path, concurrency=1):
        run = runs.run_start(scenario=job_scenario)
        wait_for(lambda: RunBlock.objects.filter(run_id=run.pk).exists(), timeout=120, what="the first block")
        cancelled = runs.run_cancel(run=SimulationRun.objects.get(pk=run.pk))
        assert cancelled.status == SimulationRun.Status.CANCELLED
        time.sleep(3)  # long enough for several more blocks, had the chunk gone on
        done = RunBlock.objects.filter(run=run, state=RunBlock.State.DONE).count()
    assert done < 6
    assert SimulationRun.objects.get(pk=run.pk).status == SimulationRun.Status.CANCELLED


def test_reaper_requeues_stale_runs_and_fails_exhausted_ones(scenario: Scenario) -> None:
    queued: list[tuple[int, list[int]]] = []
    run = runs.run_start(scenario=scenario)  # one block, nothing consumes the broker here
    app.control.purge()
    fresh = runs.runs_reap(enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert fresh.requeued_runs == [] and queued == []

    later = timezone.now() + timedelta(seconds=settings.PLANNER_RUN_STALE_SECONDS + 1)
    stale = runs.runs_reap(now=later, enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert stale.requeued_runs == [run.pk] and queued == [(run.pk, [0])]

    RunBlock.objects.create(run=run, block=0, attempts=settings.PLANNER_MAX_BLOCK_ATTEMPTS)
    much_later = later + timedelta(seconds=settings.PLANNER_RUN_STALE_SECONDS + 1)
    failed = runs.runs_reap(now=much_later, enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert failed.failed_runs == [run.pk]
    final = SimulationRun.objects.get(pk=run.pk)
    assert final.status == SimulationRun.Status.FAILED
    assert "Block 0 was attempted 3 times" in final.error


def test_chunk_execute_skips_done_blocks_and_a_block_out_of_attempts_fails_the_run(
    scenario: Scenario,
) -> None:
    run = runs.run_start(scenario=scenario)
    app.control.purge()
    assert runs.chunk_execute(run_id=run.pk, blocks=[0]) == 1
    assert runs.chunk_execute(run_id=run.pk, blocks=[0]) == 0  # redelivery: nothing recomputed
    assert SimulationRun.objects.get(pk=run.pk).blocks_done == 1

    other = runs.run_start(scenario=scenario)
    app.control.purge()
    RunBlock.objects.create(run=other, block=0, attempts=settings.PLANNER_MAX_BLOCK_ATTEMPTS)
    assert runs.chunk_execute(run_id=other.pk, blocks=[0]) == 0
    failed = SimulationRun.objects.get(pk=other.pk)
    assert failed.status == SimulationRun.Status.FAILED and "could not be completed" in failed.error


def test_limits_are_clear_validation_errors(scenario: Scenario, settings: Any) -> None:
    settings.PLANNER_MAX_SIMULATED_USERS = 10_000
    with pytest.raises(SimulationInputError, match="users must be between 1 and 10,000"):
        runs.run_start(scenario=scenario, users=50_000)
    settings.PLANNER_MAX_SIMULATED_USERS = 20_000_000
    settings.PLANNER_MAX_CONCURRENT_RUNS = 1
    runs.run_start(scenario=scenario)
    app.control.purge()
    with pytest.raises(SimulationInputError, match="already has 1 runs queued or running"):
        runs.run_start(scenario=scenario)


def test_reaper_requeues_a_dead_chunk_while_other_chunks_keep_the_run_alive(scenario: Scenario) -> None:
    queued: list[tuple[int, list[int]]] = []
    run = runs.run_start(scenario=scenario)
    app.control.purge()
    long_ago = timezone.now() - timedelta(seconds=settings.PLANNER_RUN_STALE_SECONDS + 1)
    RunBlock.objects.create(run=run, block=0, attempts=1, heartbeat_at=long_ago)  # its worker died
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.RUNNING, heartbeat_at=timezone.now()
    )

    report = runs.runs_reap(enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert report.requeued_runs == [run.pk] and queued == [(run.pk, [0])]
    # A second reaper right after finds nothing left to claim.
    again = runs.runs_reap(enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert again.requeued_runs == [] and len(queued) == 1


def test_an_optimization_runs_its_passes_through_the_broker_and_matches_the_search_in_process(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Each pass's blocks are dispatched after the previous pass's merge commits, by the worker
    that merged it; the answer is the in-process search's."""
    users = 2 * engine.BLOCK_SIZE + 100  # three blocks per pass
    with celery_worker(tmp_path, concurrency=2):
        job = pro_cap_for_95_percent(scenario, users=users)
        final = wait_for(lambda: finished(job.pk), timeout=240, what="the optimization to finish")
    assert final.status == SimulationRun.Status.SUCCEEDED, final.error
    in_process = scenario_goal_seek(
        scenario=scenario, tier="Pro", vary="cap:0:3000:1", targets=Targets(gross_margin=0.95), users=users
    )
    answer = comparable(final.results)
    assert answer["passes"] == in_process["passes"] > 1
    assert (answer["value"], answer["figures"]) == (in_process["value"], in_process["figures"])
    assert final.blocks_total == final.blocks_done == 3 * answer["passes"]
