"""``manage.py fuzz_api [--cases 20000] [--seconds 3600] [--steps 20] [--seed N] [--json]``: stateful
schemathesis against the API, in process, on the configured database (docs/RELIABILITY.md)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.devtools.fuzz import fuzz_api


class Command(BaseCommand):
    help = (
        "Run schemathesis's stateful tests (every check) against the API as a new seeded organisation "
        "of the configured database until --cases API calls or --seconds; print the failures by check. "
        "It writes to that database: use a scratch one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=20_000, help="API calls to make (default 20,000)")
        parser.add_argument("--seconds", type=float, default=3600.0, help="time limit (default 3600)")
        parser.add_argument("--steps", type=int, default=20, help="most calls in one scenario (default 20)")
        parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cases"] < 1 or options["seconds"] <= 0 or options["steps"] < 2:
            raise CommandError("--cases must be at least 1, --seconds above 0 and --steps at least 2.")
        report = fuzz_api(
            cases=options["cases"],
            seconds=options["seconds"],
            steps=options["steps"],
            seed=options["seed"],
            progress=lambda line: self.stderr.write(line),
        )
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        failures = report.pop("failures")
        for key, value in report.items():
            self.stdout.write(f"{key}: {value}")
        for failure in failures:
            self.stdout.write(f"\n--- {failure['check']}: {failure['operation']} ({failure['count']}x)")
            for key in ("title", "message", "status", "request", "response", "server_error"):
                if failure[key]:
                    self.stdout.write(f"{key}: {failure[key]}")
