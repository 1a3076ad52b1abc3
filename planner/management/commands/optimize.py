"""``manage.py optimize --scenario ID [--tier NAME] --vary SETTING[:MIN:MAX:STEP] [--target-margin 0.6]
[--target-underwater 0.05] [--max-loss 500] [--max-cap-hit 0.02] [--objective least_change|max_margin]
[--confidence 0.95] [--month 1|horizon] [--users N] [--seed S] --json``: a goal seek (one
--vary) or a grid and its Pareto frontier (two) in this process; without --tier, the total of
all paying tiers."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from planner.management.commands.simulate import _find_scenario, _positive_int
from planner.simulation.adapter import SimulationInputError
from planner.simulation.optimize import Targets, scenario_goal_seek, scenario_grid_search


class Command(BaseCommand):
    help = (
        "Find the least change of one plan setting that meets targets (month 1 or the horizon) "
        "with confidence; two --vary give a grid and its frontier."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", required=True, help="Scenario id or exact name.")
        parser.add_argument(
            "--tier", help="Tier name; without it, the total of all paying tiers (the setting on each)."
        )
        parser.add_argument("--vary", action="append", required=True, help="SETTING[:MIN:MAX:STEP]; once.")
        parser.add_argument("--lever", help="The key of the scenario's cost lever whose share --vary sets.")
        parser.add_argument("--target-margin", type=float, help="Gross margin at least (fraction).")
        parser.add_argument("--target-underwater", type=float, help="Underwater share at most (fraction).")
        parser.add_argument(
            "--max-loss", type=float, help="Monthly loss on underwater users at most (money)."
        )
        parser.add_argument("--max-cap-hit", type=float, help="Share of users hitting the cap at most.")
        parser.add_argument("--objective", choices=["least_change", "max_margin"], default="least_change")
        parser.add_argument("--confidence", type=float, default=0.95)
        parser.add_argument(
            "--month",
            choices=["1", "horizon"],
            default="1",
            help="Constraints on month 1 (default) or on the tier's totals over the horizon.",
        )
        parser.add_argument("--users", type=_positive_int, help="Simulated users (default: the scenario's).")
        parser.add_argument("--seed", type=int, help="Random seed (default: the scenario's).")
        parser.add_argument("--json", action="store_true", help="Print the answer as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        if len(options["vary"]) > 2:
            raise CommandError("--vary: one setting (goal seek) or two (grid and frontier), not more.")
        targets = Targets(
            gross_margin=options["target_margin"],
            underwater_share=options["target_underwater"],
            underwater_loss=options["max_loss"],
            cap_hit_share=options["max_cap_hit"],
        )
        scenario = _find_scenario(options["scenario"])
        month: int | str = 1 if options["month"] == "1" else "horizon"

        def progress(done: int, total: int) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\rpass {done}/{total}")

        if len(options["vary"]) == 2:
            try:
                answer = scenario_grid_search(
                    scenario=scenario,
                    tier=options["tier"],
                    vary=(options["vary"][0], options["vary"][1]),
                    targets=targets,
                    confidence=options["confidence"],
                    month=month,
                    users=options["users"],
                    seed=options["seed"],
                )
            except (ValueError, SimulationInputError) as error:
                raise CommandError(str(error)) from error
            self.stdout.write(json.dumps(answer, indent=2) if options["json"] else _frontier_text(answer))
            return
        try:
            answer = scenario_goal_seek(
                scenario=scenario,
                tier=options["tier"],
                vary=options["vary"][0],
                lever=options["lever"],
                targets=targets,
                objective=options["objective"],
                confidence=options["confidence"],
                month=month,
                users=options["users"],
                seed=options["seed"],
                progress=progress,
            )
        except (ValueError, SimulationInputError) as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps(answer, indent=2))
        elif answer["feasible"]:
            self.stdout.write(
                f"{answer['setting']} = {next(iter(answer['value'].values())):g}: {answer['figures']}"
            )
        else:
            self.stdout.write(
                f"No {answer['setting']} in range meets the targets; closest: {answer['closest']}"
            )


def _frontier_text(answer: dict[str, Any]) -> str:
    """The frontier, one line per point (best margin first)."""
    names = answer["settings"]
    lines = [f"Frontier of {' x '.join(names)} ({len(answer['frontier'])} of {len(answer['grid'])} points):"]
    for point in answer["frontier"]:
        setting = ", ".join(f"{name} {point[name]:g}" for name in names)
        lines.append(
            f"  {setting}: margin/user {point['margin_per_user']['value']:.2f}, "
            f"underwater {point['underwater_share']['value']:.2%}, "
            f"cap hit {point['cap_hit_share']['value']:.2%}"
        )
    return "\n".join(lines)
