"""``manage.py bench_jobs``: the standard scenario through Celery with real worker processes.

    manage.py bench_jobs --users 10000000 --concurrency 1 --concurrency 2
    manage.py bench_jobs --kill-repeats 10 --users 393216 [--kill-target child --kill-target main]

Uses the configured database and broker (run it on PostgreSQL + Redis for the recorded figures).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from planner.devtools.benchmark import KILL_TARGETS, jobs_benchmark, kill_experiment


class Command(BaseCommand):
    help = "Time runs through Celery with 1..N worker processes, or repeat the kill -9 recovery experiment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=10_000_000)
        parser.add_argument("--concurrency", type=int, action="append", help="Worker processes (repeatable).")
        parser.add_argument(
            "--kill-repeats", type=int, default=0, help="Run the kill -9 experiment N times per target."
        )
        parser.add_argument(
            "--kill-target",
            choices=KILL_TARGETS,
            action="append",
            help="Which worker process to kill: the pool process running the block, or the main process "
            "(repeatable; default both).",
        )
        parser.add_argument(
            "--log-dir", type=Path, default=None, help="Where worker logs go (default: a temp dir)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        log_dir = options["log_dir"] or Path(tempfile.mkdtemp(prefix="bench-jobs-"))
        if options["kill_repeats"]:
            report = kill_experiment(
                repeats=options["kill_repeats"],
                users=options["users"],
                log_dir=log_dir,
                targets=options["kill_target"] or KILL_TARGETS,
            )
        else:
            report = jobs_benchmark(
                users=options["users"], concurrencies=options["concurrency"] or [1, 2], log_dir=log_dir
            )
        report["worker_logs"] = str(log_dir)
        self.stdout.write(json.dumps(report, indent=2))
