"""``manage.py bench_margins --customers N --records M [--repeat R] [--json]`` (PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.devtools.usage_benchmark import margins_benchmark


class Command(BaseCommand):
    help = "Generate customers and usage records for one month, then time the margin reports."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=100_000)
        parser.add_argument("--records", type=int, default=10_000_000)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = margins_benchmark(
                customers=options["customers"], records=options["records"], repeat=options["repeat"]
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        for key, value in report.items():
            self.stdout.write(f"{key}: {value}")
