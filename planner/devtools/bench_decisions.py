"""``bench_optimize``: a goal seek against one run of the same scenario, in one invocation.

The standard scenario (``planner.devtools.benchmark.benchmark_inputs``, 12 months) is run once
in full, then Pro's hard cap is goal-sought over 20 lattice values (100..2,000 credits, step
100) for a 90% gross margin, both on the same number of users and the same seed; each is timed
``repeat`` times and the medians are compared. ``--via-worker`` compares them through a real
Celery worker instead (:func:`optimize_jobs_benchmark`).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from planner import engine
from planner.devtools.benchmark import benchmark_inputs, benchmark_scenario, wait_finished
from planner.devtools.worker_processes import celery_worker_process
from planner.engine.decisions import Constraint, Vary, goal_seek
from planner.simulation import runs
from planner.simulation.models import SimulationRun
from planner.simulation.optimizations import ConstraintRequest, VaryRequest, optimization_start


def optimize_benchmark(*, users: int, repeat: int, seed: int = 7) -> dict[str, Any]:
    """Median seconds of one full run and of a 20-candidate goal seek, and their ratio."""
    inputs = benchmark_inputs(12)
    vary = Vary("hard_cap", 100.0, 2_000.0, 100.0)
    run_times, seek_times = [], []
    answer: dict[str, Any] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        engine.simulate(inputs, users=users, seed=seed)
        run_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        answer = goal_seek(
            inputs,
            tier="pro",
            vary=vary,
            constraints=[Constraint("gross_margin", minimum=90.0)],
            users=users,
            seed=seed,
            points=20,
        )
        seek_times.append(time.perf_counter() - started)
    run, seek = statistics.median(run_times), statistics.median(seek_times)
    return {
        "users": users,
        "repeat": repeat,
        "run_seconds": round(run, 3),
        "goal_seek_seconds": round(seek, 3),
        "candidates": answer["candidates"],
        "passes": answer["passes"],
        "ratio_to_one_run": round(seek / run, 3),
        "answer": {"feasible": answer["feasible"], "value": answer["value"]},
    }


def optimize_jobs_benchmark(
    *, users: int, repeat: int, log_dir: Path, concurrency: int = 2, timeout: float = 3600
) -> dict[str, Any]:
    """The same comparison through a real Celery worker (the API's and the web's path): the
    standard scenario's run and the same 20-candidate goal seek as an optimization job (passes
    of blocks, merges between passes), alternating, timed from start to finished."""
    scenario = benchmark_scenario()
    run_times, seek_times = [], []
    job: SimulationRun | None = None
    with celery_worker_process(concurrency=concurrency, log_dir=log_dir):
        for _ in range(repeat):
            started = time.perf_counter()
            run = wait_finished(runs.run_start(scenario=scenario, users=users).pk, timeout)
            run_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            job = optimization_start(
                scenario=scenario,
                tier="Pro",
                vary=[VaryRequest("cap", 100.0, 2_000.0, 100.0)],
                constraints=[ConstraintRequest("gross_margin", min=0.9)],
                users=users,
            )
            job = wait_finished(job.pk, timeout)
            seek_times.append(time.perf_counter() - started)
            for finished in (run, job):
                if finished.status != SimulationRun.Status.SUCCEEDED:
                    raise RuntimeError(f"job {finished.pk} ended {finished.status}: {finished.error}")
    assert job is not None and job.results is not None
    run_median, seek_median = statistics.median(run_times), statistics.median(seek_times)
    return {
        "users": users,
        "repeat": repeat,
        "concurrency": concurrency,
        "run_seconds": [round(x, 2) for x in run_times],
        "goal_seek_seconds": [round(x, 2) for x in seek_times],
        "candidates": job.results["candidates"],
        "passes": job.results["passes"],
        "ratio_to_one_run": round(seek_median / run_median, 3),
        "answer": {"feasible": job.results["feasible"], "value": job.results["value"]},
    }
