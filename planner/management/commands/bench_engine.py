"""``manage.py bench_engine --users N --months M [--repeat R] [--floor] [--json]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.benchmark import draw_floor, engine_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = "Benchmark the engine on the standard scenario (BENCHMARKS.md); prints user-months per second."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=1_000_000)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument("--repeat", type=int, default=3, help="Runs to take the median of.")
        parser.add_argument(
            "--floor", action="store_true", help="Also run the random-draw floor and the ratio."
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report = benchmark_run(engine_benchmark, options)
        if options["floor"]:
            floor = draw_floor(
                users=options["users"], months=options["months"], workloads=report["workloads"]
            )
            if floor is not None:
                report["floor_user_months_per_s"] = floor["user_months_per_s"]
                report["ratio_to_floor"] = round(report["user_months_per_s"] / floor["user_months_per_s"], 3)
                report["ratio_to_floor_excluding_setup"] = round(
                    report["user_months_per_s_excluding_setup"] / floor["user_months_per_s"], 3
                )
        report_write(self.stdout, report, as_json=options["json"])
