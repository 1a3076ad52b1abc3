"""``manage.py bench_optimize --users N [--repeat R] [--json]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.bench_decisions import optimize_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = "Time a 20-candidate goal seek against one run of the standard scenario (BENCHMARKS.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=200_000)
        parser.add_argument("--repeat", type=int, default=3, help="Runs to take the median of.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report_write(self.stdout, benchmark_run(optimize_benchmark, options), as_json=options["json"])
