"""The engine benchmark of shared/design/BENCHMARKS.md (``manage.py bench_engine``).

Runs the standard scenario priced with real catalog models from the bundled genai-prices data
(no database), pinned to ``BENCH_PRICE_DATE``, and reports simulated user-months per second,
with and without the per-run setup (request pools and cost tables), and the peak RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from genai_prices import data as genai_data

from planner import engine
from planner.engine.reference import standard_scenario
from planner.engine.types import EngineInput
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
