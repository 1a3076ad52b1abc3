"""``manage.py bench_margins --customers N --records M [--repeat R] [--json]`` (PostgreSQL)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.usage_benchmark import margins_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = "Generate customers and usage records for one month, then time the margin reports."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=100_000)
        parser.add_argument("--records", type=int, default=10_000_000)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report_write(self.stdout, benchmark_run(margins_benchmark, options), as_json=options["json"])
