"""``manage.py seed_demo``: create or restore the demo organisation, product and scenario."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.devtools.demo import DEMO_PASSWORD, DEMO_PRICE_DATE, DEMO_USERNAME, demo_seed


class Command(BaseCommand):
    help = (
        "Create (or restore) the demo: user 'demo', organisation 'Demo AI', product 'Demo Copilot' "
        "and scenario 'Baseline'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--price-date",
            type=datetime.date.fromisoformat,
            default=DEMO_PRICE_DATE,
            help=f"Catalog price date pinned in the demo scenario (YYYY-MM-DD, default {DEMO_PRICE_DATE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = demo_seed(price_date=options["price_date"])
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: organisation '{organization.name}'. "
                f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
            )
        )
