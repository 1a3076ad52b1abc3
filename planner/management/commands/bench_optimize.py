"""``manage.py bench_optimize --users N [--repeat R] [--via-worker [--concurrency C]] [--json]``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.bench_decisions import optimize_benchmark, optimize_jobs_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = "Time a 20-candidate goal seek against one run of the standard scenario (BENCHMARKS.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=200_000)
        parser.add_argument("--repeat", type=int, default=3, help="Runs to take the median of.")
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--via-worker",
            action="store_true",
            help="Through a real Celery worker (the API's path): the demo's standard benchmark scenario.",
        )
        parser.add_argument(
            "--concurrency", type=int, default=2, help="Worker processes (with --via-worker)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["via_worker"]:
            report_write(self.stdout, benchmark_run(optimize_benchmark, options), as_json=options["json"])
            return
        with tempfile.TemporaryDirectory() as log_dir:
            report = optimize_jobs_benchmark(
                users=options["users"],
                repeat=options["repeat"],
                concurrency=options["concurrency"],
                log_dir=Path(log_dir),
            )
        report_write(self.stdout, report, as_json=options["json"])
