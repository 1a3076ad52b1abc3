"""``manage.py bench_api [--connections 20] [--seconds 15] [--workers N] [--warmup 3]``: API read latency."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.api_benchmark import api_benchmark


class Command(BaseCommand):
    help = "Serve the API with gunicorn on loopback and measure read latency with wrk (docs/BENCHMARKS.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connections", type=int, default=20)
        parser.add_argument("--seconds", type=int, default=15)
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 2,
            help="gunicorn worker processes (default: cores)",
        )
        parser.add_argument(
            "--warmup", type=int, default=3, help="unrecorded seconds before each measurement"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = api_benchmark(
            connections=options["connections"],
            seconds=options["seconds"],
            workers=options["workers"],
            warmup=options["warmup"],
        )
        self.stdout.write(json.dumps(report, indent=2))
