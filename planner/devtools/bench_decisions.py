"""``bench_optimize``: a goal seek against one run of the same scenario, in one invocation.

The standard scenario (``planner.devtools.benchmark.benchmark_inputs``, 12 months) is run once
in full, then Pro's hard cap is goal-sought over 20 lattice values (100..2,000 credits, step
100) for a 90% gross margin, both on the same number of users and the same seed; each is timed
``repeat`` times and the medians are compared.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from planner import engine
from planner.devtools.benchmark import benchmark_inputs
from planner.engine.decisions import Constraint, Vary, goal_seek


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
