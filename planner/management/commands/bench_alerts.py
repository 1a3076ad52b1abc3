"""``manage.py bench_alerts [--organizations 10 --rules 10 --rounds 10 --failure-rate 0.3]``.

Runs ``planner.devtools.alerts_benchmark`` in a scratch database created for the run and
dropped afterwards (the test database of the settings: ``test_<name>`` on PostgreSQL, the test
file in DATA_DIR on SQLite), never in the app's own data. ``--nomigrations`` builds the scratch
schema from the models instead of the migrations.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from planner.devtools.alerts_benchmark import alerts_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = "Evaluate alert rules many times against a flaky local SMTP server; check every breach arrives."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organizations", type=int, default=10)
        parser.add_argument("--rules", type=int, default=10, help="Rules per organisation.")
        parser.add_argument(
            "--rounds", type=int, default=10, help="Daily windows (each evaluates every rule)."
        )
        parser.add_argument("--failure-rate", type=float, default=0.3)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--nomigrations", action="store_true")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["nomigrations"]:
            connection.settings_dict.setdefault("TEST", {})["MIGRATE"] = False
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            report = benchmark_run(alerts_benchmark, options)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        report_write(self.stdout, report, as_json=options["json"])
        if not report["ok"]:
            raise CommandError("Some breach was not delivered or a Message-ID repeated without cause.")
