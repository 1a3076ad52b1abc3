"""``manage.py seed_demo``: create or restore the demo organisation, products and scenarios, and
run each scenario once so the first start shows answers."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from planner.devtools.demo import DEMO_PASSWORD, DEMO_PRICE_DATE, DEMO_USERNAME, demo_seed
from planner.devtools.demo_runs import demo_runs_seed


class Command(BaseCommand):
    help = (
        "Create (or restore) the demo: user 'demo', organisation 'Demo AI', product 'Demo Copilot' "
        "with scenarios 'Baseline', 'Capped plan' and 'Routed plan', then run every demo scenario "
        "whose inputs have no run yet and evaluate the alert rules once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--price-date",
            type=datetime.date.fromisoformat,
            default=DEMO_PRICE_DATE,
            help=f"Catalog price date pinned in the demo scenario (YYYY-MM-DD, default {DEMO_PRICE_DATE}).",
        )
        parser.add_argument(
            "--now",
            type=datetime.datetime.fromisoformat,
            default=None,
            help="The clock the demo's actual usage runs up to (ISO 8601 with offset; default: now).",
        )
        parser.add_argument(
            "--no-runs",
            action="store_true",
            help="Seed the data only: run no scenario and evaluate no alert rule.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even under production settings, which refuse it: the demo user is a superuser "
            "with a published password.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.SEED_DEMO_REQUIRES_FORCE and not options["force"]:
            raise CommandError(
                f"Refusing to seed the demo under production settings: it would create the superuser "
                f"{DEMO_USERNAME}/{DEMO_PASSWORD}, whom anyone can sign in as. Pass --force to do it anyway."
            )
        now = options["now"] or timezone.now()
        try:
            organization = demo_seed(price_date=options["price_date"], now=now)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        if not options["no_runs"]:
            try:
                seeded = demo_runs_seed(organization, now=now)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            for name, run in seeded.runs.items():
                made = "ran" if run in seeded.created else "kept"
                self.stdout.write(f"{made} run #{run.pk} of {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: organisation '{organization.name}'. "
                f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
            )
        )
