"""``manage.py bench_replay [--customers N] [--records M] [--workers W] [--repeat R] [--json]``
(PostgreSQL; the configured broker, Redis for the recorded figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.replay_benchmark import replay_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = (
        "Generate three months of customers' usage in SQL, then time replay jobs of a scenario "
        "through real Celery workers (BENCHMARKS.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=100_000)
        parser.add_argument("--records", type=int, default=10_000_000)
        parser.add_argument("--workers", type=int, default=2, help="Worker processes (one prefork worker).")
        parser.add_argument("--repeat", type=int, default=3, help="Replay jobs to take the median of.")
        parser.add_argument(
            "--in-process", action="store_true", help="Also time replay_period of the same request here."
        )
        parser.add_argument("--keep", action="store_true", help="Keep the generated organisation.")
        parser.add_argument(
            "--log-dir", type=Path, default=None, help="Where worker logs go (default: a temp dir)."
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report = benchmark_run(replay_benchmark, options)
        report_write(self.stdout, report, as_json=options["json"])
