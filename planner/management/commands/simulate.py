"""``manage.py simulate --scenario ID_OR_NAME [--users N] [--seed S] [--json]``: run synchronously."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.simulation.adapter import SimulationInputError
from planner.simulation.models import Scenario
from planner.simulation.reports import results_text
from planner.simulation.runs import run_create, run_execute


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Simulate a scenario in this process and print a per-tier report (or JSON with --json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", required=True, help="Scenario id or exact name.")
        parser.add_argument("--users", type=_positive_int, help="Simulated users (default: the scenario's).")
        parser.add_argument("--seed", type=int, help="Random seed (default: the scenario's).")
        parser.add_argument("--json", action="store_true", help="Print the run and its results as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        scenario = _find_scenario(options["scenario"])
        try:
            run = run_create(scenario=scenario, users=options["users"], seed=options["seed"])
        except SimulationInputError as error:
            raise CommandError(str(error)) from error
        show_progress = sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            if show_progress:
                bar = "#" * (30 * done // total)
                sys.stderr.write(f"\r[{bar:<30}] {done}/{total} blocks")
                sys.stderr.flush()

        run = run_execute(run=run, progress=progress)
        if show_progress:
            sys.stderr.write("\n")
        if run.status != run.Status.SUCCEEDED:
            raise CommandError(f"Run {run.pk} failed: {run.error}")
        if options["json"]:
            document = {"run": run.pk, "scenario": scenario.pk, "status": run.status, "results": run.results}
            self.stdout.write(json.dumps(document, indent=2))
        else:
            assert run.results is not None
            title = f"Run {run.pk}: scenario {scenario.name!r} of {scenario.product.name!r}"
            self.stdout.write(
                results_text(run.results, title=title, currency=scenario.product.organization.currency)
            )


def _find_scenario(ref: str) -> Scenario:
    queryset = Scenario.objects.select_related("product__organization")
    if ref.isdigit():
        found = queryset.filter(pk=int(ref)).first()
        if found is not None:
            return found
    matches = list(queryset.filter(name=ref))
    if not matches:
        raise CommandError(f"No scenario with id or name {ref!r}.")
    if len(matches) > 1:
        listed = ", ".join(f"{s.pk} ({s.product.organization.slug}/{s.product.name})" for s in matches)
        raise CommandError(f"Several scenarios are named {ref!r}: {listed}. Pass the id instead.")
    return matches[0]
