"""``manage.py reprice_usage --model PROVIDER/MODEL --since YYYY-MM-DD``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.actuals.reprice import usage_records_reprice
from pricing.models import AIModel


class Command(BaseCommand):
    help = "Reprice usage records of a model from a date with the catalog prices now in force."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="provider/model, e.g. openai/o3")
        parser.add_argument("--since", required=True, help="YYYY-MM-DD (UTC midnight)")

    def handle(self, *args: Any, **options: Any) -> None:
        provider, _, slug = options["model"].partition("/")
        model = AIModel.objects.filter(provider__slug=provider, slug=slug).first()
        if model is None:
            raise CommandError(f"No model {options['model']!r} in the price catalog.")
        try:
            since = datetime.strptime(options["since"], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as exc:
            raise CommandError("--since must be a date, YYYY-MM-DD.") from exc
        result = usage_records_reprice(model=model, since=since)
        self.stdout.write(
            f"{result.records} records checked, {result.changed} repriced, "
            f"{result.customer_months} customer months recomputed."
        )
