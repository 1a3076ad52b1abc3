"""``manage.py import_prices``: load the price catalog bundled in genai-prices (offline)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pricing.catalog import catalog_import


class Command(BaseCommand):
    help = "Import every provider, model and price bundled in the installed genai-prices (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        report = catalog_import()
        self.stdout.write(str(report))
        if not report.changed:
            self.stdout.write("Nothing changed.")
