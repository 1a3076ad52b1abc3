"""``manage.py bench_catalog_search``: median latency of catalog searches over the full catalog.

A benchmark, not a test: it prints timings (docs/BENCHMARKS.md records them). Each query runs the
same ``pricing.selectors.catalog_search`` call the catalog page makes (100 rows, current prices
annotated) and is evaluated to a list, so the figure includes the SQL and building the rows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pricing.catalog import catalog_import
from pricing.models import AIModel
from pricing.selectors import catalog_search

#: A mix of typical searches: provider names, model families, two-word queries, no match, empty.
QUERIES = (
    ("", "relevance"),
    ("gpt", "relevance"),
    ("gpt-4o", "relevance"),
    ("claude", "input"),
    ("anthropic sonnet", "relevance"),
    ("llama 70b", "-output"),
    ("gemini flash", "output"),
    ("mistral", "relevance"),
    ("deepseek", "input"),
    ("o3", "relevance"),
    ("no-such-model-xyz", "relevance"),
)


class Command(BaseCommand):
    help = "Time catalog searches over the full price catalog and print the median in milliseconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=20, help="Rounds over the query set (default 20).")
        parser.add_argument(
            "--limit", type=int, default=100, help="Rows per search (default 100, as the page)."
        )
        parser.add_argument(
            "--import",
            action="store_true",
            dest="import_first",
            help="Import the catalog first (idempotent).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["import_first"]:
            catalog_import()
        models = AIModel.objects.count()
        if models == 0:
            raise CommandError("The catalog is empty: run `manage.py import_prices` (or pass --import).")
        for query, sort in QUERIES:  # warm-up: connection, query plans, page cache
            list(catalog_search(query=query, limit=options["limit"], sort=sort))
        timings: list[float] = []
        for _ in range(options["repeat"]):
            for query, sort in QUERIES:
                started = time.perf_counter()
                list(catalog_search(query=query, limit=options["limit"], sort=sort))
                timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        self.stdout.write(
            f"catalog search over {models:,} models: {len(timings)} searches, "
            f"median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms"
        )
