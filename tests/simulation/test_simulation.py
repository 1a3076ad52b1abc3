"""Simulation runs through the service layer: snapshot, reproducibility, CLI, readable errors."""

from __future__ import annotations

import json
import math
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from planner import engine
from planner.products.models import UsageDistribution
from planner.simulation.adapter import SimulationInputError, engine_input_from_snapshot
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create, run_execute


def test_snapshot_freezes_prices_and_inputs(scenario: Scenario) -> None:
    run = run_create(scenario=scenario)
    snapshot = run.snapshot
    assert [t["key"] for t in snapshot["tiers"]] == ["Free", "Pro"]
    chat = snapshot["workloads"][0]
    assert {m["key"] for m in chat["models"]} == {"openai/gpt-4o-mini", "openai/gpt-4o"}
    assert all(m["structure"] for m in chat["models"])
    assert snapshot["package_versions"]["engine"] == engine.ENGINE_VERSION
    assert run.blocks_total == 1 and run.status == SimulationRun.Status.QUEUED


def test_a_run_reproduces_from_its_snapshot_after_edits(scenario: Scenario) -> None:
    run = run_execute(run=run_create(scenario=scenario))
    assert run.status == SimulationRun.Status.SUCCEEDED
    # Edit the product after the run: the snapshot, not the database, drives a re-run.
    UsageDistribution.objects.filter(tier__name="Pro").update(median=400, p90=4000)
    again = engine.simulate(engine_input_from_snapshot(run.snapshot), users=run.users, seed=run.seed)
    stored = json.loads(json.dumps(again))
    assert run.results is not None
    assert {k: v for k, v in run.results.items() if k != "seconds"} == stored


def test_results_flag_underwater_users_with_errors_and_no_nan(scenario: Scenario) -> None:
    results = run_execute(run=run_create(scenario=scenario)).results
    assert results is not None
    pro = next(t for t in results["tiers"] if t["key"] == "Pro")
    assert pro["paying"] is True
    assert (
        0
        <= pro["underwater"]["interval"][0]
        <= pro["underwater"]["share"]
        <= pro["underwater"]["interval"][1]
    )
    assert pro["cogs_per_user"]["mean"]["mc_error"] > 0
    assert pro["levers"][0]["cogs_change_per_user"]["value"] < 0
    free = next(t for t in results["tiers"] if t["key"] == "Free")
    assert free["acquisition_cost_per_user"]["value"] > 0

    def numbers(value: Any) -> list[float]:
        if isinstance(value, dict):
            return [x for v in value.values() for x in numbers(v)]
        if isinstance(value, list):
            return [x for v in value for x in numbers(v)]
        return [value] if isinstance(value, float) else []

    assert all(math.isfinite(x) for x in numbers(results))


def test_missing_usage_distribution_is_a_readable_error(scenario: Scenario) -> None:
    UsageDistribution.objects.filter(tier__name="Pro", workload__name="Agent").delete()
    with pytest.raises(SimulationInputError, match="Tier Pro, workload Agent: no usage distribution"):
        run_create(scenario=scenario)


def test_too_many_users_is_a_readable_error(scenario: Scenario, settings: Any) -> None:
    settings.PLANNER_MAX_SIMULATED_USERS = 1000
    with pytest.raises(SimulationInputError, match="users must be between 1 and 1,000"):
        run_create(scenario=scenario, users=5000)


def test_simulate_command_prints_json_per_tier(scenario: Scenario) -> None:
    out = StringIO()
    call_command("simulate", "--scenario", "Baseline", "--users", "5000", "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["status"] == "succeeded"
    assert {t["key"] for t in document["results"]["tiers"]} == {"Free", "Pro"}
    assert "underwater" in document["results"]["tiers"][1]


def test_simulate_command_prints_a_readable_report(scenario: Scenario) -> None:
    out = StringIO()
    call_command("simulate", "--scenario", str(scenario.pk), "--users", "5000", stdout=out)
    text = out.getvalue()
    assert "Monte Carlo simulation error" in text
    assert "Pro" in text and "underwater" in text


def test_simulate_command_rejects_unknown_scenario(db: None) -> None:
    with pytest.raises(CommandError, match="No scenario"):
        call_command("simulate", "--scenario", "nope")


def test_demo_scenario_shows_a_visible_share_of_underwater_pro_users(db: None) -> None:
    call_command("seed_demo", "--no-runs", stdout=StringIO())
    out = StringIO()
    call_command("simulate", "--scenario", "Baseline", "--users", "40000", "--json", stdout=out)
    pro = next(t for t in json.loads(out.getvalue())["results"]["tiers"] if t["key"] == "Pro")
    # "Visible": the 95% interval of the underwater share lies above 3% of Pro subscribers.
    assert pro["underwater"]["interval"][0] > 0.03
    assert pro["underwater"]["monthly_loss"]["value"] > 0
