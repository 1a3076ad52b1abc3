"""The demo's answers on first start: every demo scenario run once, the alert rules evaluated.

``demo_runs_seed`` runs each scenario of the demo (``planner.devtools.demo.DEMO_SCENARIOS``;
scenarios added in the app are left alone) through the real engine the way
a worker does (``planner.simulation.runs.run_execute_in_blocks``: blocks stored, then merged),
so the dashboard, the results, compare and the alerts have content before anyone presses Run.
It is idempotent: a scenario whose latest successful run was made from the inputs it has now
(the same snapshot, users and seed) is not run again, so seeding twice adds no run, and a
scenario edited since (or restored by ``demo_seed``) gets one new run.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from planner.accounts.models import Organization
from planner.alerts.evaluate import alert_evaluate
from planner.alerts.models import AlertRule
from planner.devtools.demo import DEMO_SCENARIOS
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create, run_execute_in_blocks
from planner.simulation.snapshot import scenario_snapshot

logger = logging.getLogger(__name__)

#: Users of a demo run at most: the benchmark scenario's 1,000,000 would take its run from about
#: 1.5 s to 6 s of CPU, and the whole first start must stay within 30 s (docs/BENCHMARKS.md).
DEMO_RUN_USERS = 200_000


@dataclass(frozen=True)
class DemoRuns:
    """What ``demo_runs_seed`` did: the latest successful run of each scenario (by scenario
    name, "product / scenario"), which of them it made now, and the rules it evaluated."""

    runs: dict[str, SimulationRun]
    created: list[SimulationRun]
    rules_evaluated: int


def _canonical(snapshot: dict[str, Any] | None) -> str:
    return json.dumps(snapshot, sort_keys=True, cls=DjangoJSONEncoder)


def _users(scenario: Scenario) -> int:
    return min(scenario.simulated_users, DEMO_RUN_USERS)


def _current_run(scenario: Scenario) -> SimulationRun | None:
    """The scenario's latest successful run if it was made from the scenario as it is now."""
    latest = (
        scenario.runs.simulations()
        .filter(status=SimulationRun.Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None or (latest.users, latest.seed) != (_users(scenario), scenario.seed):
        return None
    return latest if _canonical(latest.snapshot) == _canonical(scenario_snapshot(scenario=scenario)) else None


def demo_runs_seed(organization: Organization, *, now: datetime.datetime) -> DemoRuns:
    """Run every demo scenario of ``organization`` that has no run of its current inputs (its seed,
    its simulated users up to ``DEMO_RUN_USERS``), then evaluate its alert rules once at ``now``
    when a run was made or a rule was never evaluated (a breach queues its mail, as the sweep
    would).

    Raises ``RuntimeError`` naming the scenario when a run fails: the demo must run."""
    latest: dict[str, SimulationRun] = {}
    created: list[SimulationRun] = []
    scenarios = Scenario.objects.filter(product__organization=organization).select_related("product")
    for product_name, scenario_name in DEMO_SCENARIOS:
        scenario = scenarios.get(product__name=product_name, name=scenario_name)
        run = _current_run(scenario)
        if run is None:
            run = run_execute_in_blocks(run=run_create(scenario=scenario, users=_users(scenario)))
            if run.status != SimulationRun.Status.SUCCEEDED:
                raise RuntimeError(f"The demo scenario {scenario.name!r} failed to run: {run.error}")
            logger.info("demo run run_id=%s scenario=%r", run.pk, scenario.name)
            created.append(run)
        latest[f"{scenario.product.name} / {scenario.name}"] = run
    rules = AlertRule.objects.filter(organization=organization, enabled=True).order_by("pk")
    if not created:
        rules = rules.filter(last_evaluated_at__isnull=True)
    evaluated = 0
    for rule in rules:
        alert_evaluate(rule=rule, now=now)
        evaluated += 1
    return DemoRuns(runs=latest, created=created, rules_evaluated=evaluated)
