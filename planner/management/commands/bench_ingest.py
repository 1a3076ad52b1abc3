"""``manage.py bench_ingest --records N --batch B [--customers C] [--via VENDOR] [--json]``
(PostgreSQL). With ``--via``: the vendor's compatibility path against the native one
(``planner.devtools.compat_benchmark``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.compat_benchmark import compat_benchmark
from planner.devtools.usage_benchmark import ingest_benchmark
from planner.management.commands._benchmark import benchmark_run, report_write


class Command(BaseCommand):
    help = (
        "Ingest generated usage records through the service and through a raw COPY + INSERT ON CONFLICT "
        "of the same rows, interleaved batch by batch; prints both throughputs and their ratio."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--records", type=int, default=1_000_000)
        parser.add_argument("--batch", type=int, default=1_000)
        parser.add_argument("--customers", type=int, default=10_000)
        parser.add_argument(
            "--http", action="store_true", help="Also POST the batches to the API (in-process client)."
        )
        parser.add_argument(
            "--via",
            help="A billing vendor (openmeter, lago, stripe, metronome, orb): send the usage through its "
            "compatibility path and natively, and compare those two instead.",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        benchmark = compat_benchmark if options.get("via") else ingest_benchmark
        report_write(self.stdout, benchmark_run(benchmark, options), as_json=options["json"])
