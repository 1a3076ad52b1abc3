"""``manage.py sensitivity --scenario ID [--tier NAME] [--users N] [--seed S] [--json]``: the
sensitivity tornado of a scenario in this process (``planner.simulation.sensitivity``)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.management.commands.simulate import _find_scenario, _positive_int
from planner.simulation.adapter import SimulationInputError
from planner.simulation.sensitivity import scenario_sensitivity


class Command(BaseCommand):
    help = "Rank the main inputs by how much they move each tier's gross margin (a tornado)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", required=True, help="Scenario id or exact name.")
        parser.add_argument("--tier", help="Tier name (default: every tier).")
        parser.add_argument("--users", type=_positive_int, help="Simulated users (default: the scenario's).")
        parser.add_argument("--seed", type=int, help="Random seed (default: the scenario's).")
        parser.add_argument("--json", action="store_true", help="Print the answer as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        scenario = _find_scenario(options["scenario"])

        def progress(done: int, total: int) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\rpass {done}/{total}")

        try:
            answer = scenario_sensitivity(
                scenario=scenario,
                tier=options["tier"],
                users=options["users"],
                seed=options["seed"],
                progress=progress,
            )
        except (ValueError, SimulationInputError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(answer, indent=2) if options["json"] else tornado_text(answer))


def tornado_text(answer: dict[str, Any]) -> str:
    """Per tier, one line per input ranked by swing: the gross margin at the low and the high end
    with the paired 95% half-width of each change; "(noise)" marks a swing within its interval."""
    lines = [f"Sensitivity of gross margin ({answer['users']:,} users, seed {answer['seed']}):"]
    for tier in answer["tiers"]:
        base = tier["baseline"]["gross_margin"]["value"]
        lines.append(f"\n{tier['key']} (baseline {base:.1f}%)")
        for bar in tier["bars"]:
            ends = []
            for side in ("low", "high"):
                figure = bar[side]["figures"]["gross_margin"]
                half = 1.959963984540054 * figure["delta_error"]
                ends.append(f"{bar[side]['label'].rsplit(' ', 1)[-1]}: {figure['value']:.1f}% (±{half:.2f})")
            noise = "  (noise)" if bar["within_noise"] else ""
            lines.append(f"  {bar['label']:<44} swing {bar['swing']:6.2f}  {'  '.join(ends)}{noise}")
    if answer["skipped"]:
        lines.append("\nSkipped: " + "; ".join(f"{s['input']} ({s['reason']})" for s in answer["skipped"]))
    return "\n".join(lines)
