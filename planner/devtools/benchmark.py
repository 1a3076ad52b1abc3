"""Benchmarks of shared/design/BENCHMARKS.md: the engine (``manage.py bench_engine``) and
simulation jobs through Celery with real worker processes (``manage.py bench_jobs``).

Runs the standard scenario priced with real catalog models from the bundled genai-prices data
(no database), pinned to ``BENCH_PRICE_DATE``, and reports simulated user-months per second,
with and without the per-run setup (request pools and cost tables), and the peak RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from genai_prices import data as genai_data

from planner import engine
from planner.devtools.demo import BENCHMARK_PRODUCT_NAME, BENCHMARK_SCENARIO_NAME, demo_seed
from planner.devtools.worker_processes import celery_worker_process, wait_for
from planner.engine.reference import standard_scenario
from planner.engine.types import EngineInput
from planner.simulation import runs
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from pricing.calculator import PriceSchedule, VectorPricer
from pricing.catalog import structure_from_genai

BENCH_PRICE_DATE = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
BENCH_MODELS = {
    "small": ("openai", "gpt-4o-mini"),
    "frontier": ("openai", "gpt-4o"),
    "reasoning": ("openai", "o3"),
}
FLOOR_SCRIPT = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "draw_floor.py"


def catalog_pricer(
    provider_id: str, model_id: str, at: dt.datetime = BENCH_PRICE_DATE
) -> tuple[str, VectorPricer]:
    """A pricer for a bundled catalog model at ``at`` (reads genai-prices' data, no database)."""
    provider = next(p for p in genai_data.providers if p.id == provider_id)
    model = next(m for m in provider.models if m.id == model_id)
    schedule = PriceSchedule.from_structure(structure_from_genai(model.get_prices(at, None)))
    return f"{provider_id}/{model_id}", VectorPricer(schedule)


def benchmark_inputs(months: int) -> EngineInput:
    """The standard benchmark scenario with catalog prices."""
    return standard_scenario(
        small=catalog_pricer(*BENCH_MODELS["small"]),
        frontier=catalog_pricer(*BENCH_MODELS["frontier"]),
        reasoning=catalog_pricer(*BENCH_MODELS["reasoning"]),
        horizon_months=months,
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_benchmark(*, users: int, months: int, repeat: int, seed: int = 7) -> dict[str, Any]:
    """Time ``repeat`` full runs (median reported) of the standard scenario on one core."""
    inputs = benchmark_inputs(months)
    setup_times, block_times = [], []
    results: dict[str, Any] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        prepared = engine.prepare(inputs, users=users, seed=seed)
        prepared_at = time.perf_counter()
        blocks = [engine.simulate_block(prepared, b) for b in range(prepared.blocks)]
        results = engine.summarize(prepared, engine.merge(prepared, blocks))
        finished = time.perf_counter()
        setup_times.append(prepared_at - started)
        block_times.append(finished - prepared_at)
    setup = statistics.median(setup_times)
    compute = statistics.median(block_times)
    user_months = users * months
    pro = next(t for t in results["tiers"] if t["key"] == "pro")
    return {
        "users": users,
        "months": months,
        "workloads": len(inputs.workloads),
        "repeat": repeat,
        "setup_seconds": round(setup, 3),
        "simulate_seconds": round(compute, 3),
        "user_months_per_s": round(user_months / (setup + compute)),
        "user_months_per_s_excluding_setup": round(user_months / compute),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "check": {
            "pro_cogs_per_user": pro["cogs_per_user"]["mean"],
            "pro_underwater_share": pro["underwater"]["share"],
        },
    }


def draw_floor(*, users: int, months: int, workloads: int) -> dict[str, Any] | None:
    """Run shared/bench/draw_floor.py in a subprocess (same machine, same moment), if present."""
    if not FLOOR_SCRIPT.exists():
        return None
    out = subprocess.run(
        [
            sys.executable,
            str(FLOOR_SCRIPT),
            "--users",
            str(users),
            "--months",
            str(months),
            "--workloads",
            str(workloads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    floor: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return floor


def benchmark_scenario() -> Scenario:
    """The demo's standard benchmark scenario (seeding the demo first if needed)."""
    scenario = Scenario.objects.filter(
        product__name=BENCHMARK_PRODUCT_NAME, name=BENCHMARK_SCENARIO_NAME
    ).first()
    if scenario is None:
        demo_seed()
        scenario = Scenario.objects.get(product__name=BENCHMARK_PRODUCT_NAME, name=BENCHMARK_SCENARIO_NAME)
    active = SimulationRun.objects.filter(organization=scenario.product.organization, status__in=runs.ACTIVE)
    for run in active:
        runs.run_cancel(run=run)
    return scenario


def _comparable(results: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (results or {}).items() if k != "seconds"}


def _finished(run_id: int) -> SimulationRun | None:
    run = SimulationRun.objects.get(pk=run_id)
    return run if run.is_finished else None


def wait_finished(run_id: int, timeout: float) -> SimulationRun:
    run: SimulationRun = wait_for(
        lambda: _finished(run_id), timeout=timeout, what=f"run {run_id}", interval=0.2
    )
    return run


def jobs_benchmark(
    *, users: int, concurrencies: Sequence[int], log_dir: Path, timeout: float = 3600
) -> dict[str, Any]:
    """Run the standard scenario through Celery once per worker concurrency; compare results."""
    scenario = benchmark_scenario()
    rows: list[dict[str, Any]] = []
    reference: dict[str, Any] | None = None
    for concurrency in concurrencies:
        with celery_worker_process(concurrency=concurrency, log_dir=log_dir) as worker:
            started = time.perf_counter()
            run = runs.run_start(scenario=scenario, users=users)
            run = wait_finished(run.pk, timeout)
            seconds = time.perf_counter() - started
            rss = worker.peak_rss_mb()
        if run.status != SimulationRun.Status.SUCCEEDED:
            raise RuntimeError(f"run {run.pk} ended {run.status}: {run.error}")
        results = _comparable(run.results)
        reference = reference or results
        rows.append(
            {
                "concurrency": concurrency,
                "run": run.pk,
                "seconds": round(seconds, 2),
                "user_months_per_s": round(users * scenario.horizon_months / seconds),
                "peak_rss_mb_per_process": sorted(round(v, 1) for v in rss.values()),
                "identical_to_first": results == reference,
            }
        )
    report: dict[str, Any] = {"users": users, "months": scenario.horizon_months, "runs": rows}
    if len(rows) >= 2:
        report["speedup"] = round(rows[0]["seconds"] / rows[-1]["seconds"], 3)
    return report


KILL_TARGETS = ("child", "main")


def _reaping_wait(condition: Callable[[], Any], *, timeout: float, what: str, next_reap: list[float]) -> Any:
    """Poll ``condition`` like ``wait_for``, running the reaper every ``PLANNER_REAP_SECONDS`` as
    Celery beat would (``next_reap`` holds the time of the next pass, shared across waits)."""

    def reaping() -> Any:
        if time.monotonic() >= next_reap[0]:
            runs.runs_reap()
            next_reap[0] += settings.PLANNER_REAP_SECONDS
        return condition()

    return wait_for(reaping, timeout=timeout, what=what, interval=0.05)


def _kill_once(
    *, scenario: Scenario, users: int, target: str, repeat: int, log_dir: Path, timeout: float
) -> dict[str, Any]:
    """Start a run, SIGKILL the worker's pool process (``child``) or main process (``main``) while
    a block runs, and time until the killed block runs again (the resume) and the run finishes.

    The reaper runs every ``PLANNER_REAP_SECONDS`` from the run's start, as beat would, with the
    configured stale timeout. A killed main process takes its pool processes with it (Celery sets
    their parent-death signal); it is restarted at once, as a supervisor would.
    """
    with ExitStack() as workers:
        worker = workers.enter_context(celery_worker_process(concurrency=1, log_dir=log_dir))
        run = runs.run_start(scenario=scenario, users=users)
        next_reap = [time.monotonic() + settings.PLANNER_REAP_SECONDS]
        # Kill at a different point each time: while block ``repeat`` (or a later one) runs.
        running = RunBlock.objects.filter(
            run_id=run.pk, state=RunBlock.State.RUNNING, block__gte=repeat % run.blocks_total
        )
        block: RunBlock = _reaping_wait(
            running.first, timeout=timeout, what="a running block", next_reap=next_reap
        )
        if target == "child":
            os.kill(int(block.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        else:
            os.kill(worker.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        if target == "main":
            worker.process.wait(timeout=30)
            workers.enter_context(celery_worker_process(concurrency=1, log_dir=log_dir))
        killed = RunBlock.objects.filter(pk=block.pk)
        resumed = Q(attempts__gt=block.attempts) | Q(state=RunBlock.State.DONE) | ~Q(worker=block.worker)
        _reaping_wait(
            killed.filter(resumed).exists,
            timeout=timeout,
            what="the killed block to run again",
            next_reap=next_reap,
        )
        resumed_at = time.monotonic()
        final = _reaping_wait(
            lambda: _finished(run.pk), timeout=timeout, what=f"run {run.pk}", next_reap=next_reap
        )
    return {
        "run": run.pk,
        "killed_in_block": block.block,
        "resume_seconds": round(resumed_at - killed_at, 2),
        "finish_seconds": round(time.monotonic() - killed_at, 2),
        "status": final.status,
        "results": _comparable(final.results),
    }


def kill_experiment(
    *, repeats: int, users: int, log_dir: Path, targets: Sequence[str] = KILL_TARGETS, timeout: float = 900
) -> dict[str, Any]:
    """SIGKILL a worker process while a block of a run is running and let the worker and the
    reaper recover the run, ``repeats`` times per target (``child``: the pool process running the
    block; ``main``: the worker's main process); report the time to resume (median, maximum) and
    compare each result with an undisturbed run of the same inputs."""
    scenario = benchmark_scenario()
    with celery_worker_process(concurrency=1, log_dir=log_dir):
        undisturbed = wait_finished(runs.run_start(scenario=scenario, users=users).pk, timeout)
    expected = _comparable(undisturbed.results)
    report: dict[str, Any] = {
        "repeats": repeats,
        "users": users,
        "heartbeat_seconds": settings.PLANNER_HEARTBEAT_SECONDS,
        "stale_seconds": settings.PLANNER_RUN_STALE_SECONDS,
        "reap_seconds": settings.PLANNER_REAP_SECONDS,
    }
    for target in targets:
        outcomes = []
        for repeat in range(repeats):
            outcome = _kill_once(
                scenario=scenario, users=users, target=target, repeat=repeat, log_dir=log_dir, timeout=timeout
            )
            outcome["identical"] = outcome.pop("results") == expected
            outcomes.append(outcome)
        resumes = [o["resume_seconds"] for o in outcomes]
        report[target] = {
            "resume_seconds_median": round(statistics.median(resumes), 2),
            "resume_seconds_max": max(resumes),
            "completed_identical": sum(
                1 for o in outcomes if o["status"] == SimulationRun.Status.SUCCEEDED and o["identical"]
            ),
            "runs": outcomes,
        }
    return report
