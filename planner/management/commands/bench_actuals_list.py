"""``manage.py bench_actuals_list --customers N [--months M] [--repeat R] [--json]`` (PostgreSQL)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.actuals_list_benchmark import actuals_list_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = "Generate customers and their month rollups, then time the actuals customer list's pages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=100_000)
        parser.add_argument("--months", type=int, default=3)
        parser.add_argument("--repeat", type=int, default=7)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report_write(self.stdout, benchmark_run(actuals_list_benchmark, options), as_json=options["json"])
