"""Optimization jobs: a goal seek or a grid run as passes through the run machinery (blocks
stored by ``chunk_execute``, merged by ``run_merge``) answers exactly what the same search in
one process answers, plans its passes one at a time, survives a repeated merge, and stays out
of the scenario's runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from planner.engine.sensitivity import sweep
from planner.products.services import tier_update
from planner.simulation import runs
from planner.simulation.adapter import engine_input_from_snapshot
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.optimizations import (
    ConstraintRequest,
    VaryRequest,
    optimization_apply,
    optimization_start,
    sensitivity_start,
)
from planner.simulation.optimize import Targets, scenario_goal_seek, scenario_grid_search
from planner.simulation.plans import scenario_tiers
from planner.simulation.selectors import run_progress, runs_for_organization
from planner.simulation.sensitivity import scenario_sensitivity

pytestmark = pytest.mark.django_db

USERS = 6_000


def execute_like_workers(job: SimulationRun, *, max_rounds: int = 5) -> tuple[SimulationRun, list[float]]:
    """Run ``job`` the way workers do, in this process: each pass's missing blocks through
    ``chunk_execute``, then the merge their last block enqueued; returns the finished job and
    the progress fractions seen after each pass."""
    # The engine setup is cached per (run id, pass), and ids are reused after a rolled-back test.
    runs._prepared.cache_clear()
    runs._users.cache_clear()
    seen = []
    for _ in range(max_rounds):
        job.refresh_from_db()
        if job.is_finished:
            break
        done = set(RunBlock.objects.filter(run=job, state="done").values_list("block", flat=True))
        missing = [b for b in range(job.blocks_total) if b not in done]
        runs.chunk_execute(run_id=job.pk, blocks=missing, worker="test:1")
        runs.run_merge(run_id=job.pk)
        job.refresh_from_db()
        seen.append(run_progress(run=job).fraction)
    assert job.status == SimulationRun.Status.SUCCEEDED, job.error
    return job, seen


def pro_cap_for_95_percent(scenario: Scenario, *, users: int) -> SimulationRun:
    """A goal seek job of more than one pass: the largest cap on Pro for a 95% gross margin."""
    return optimization_start(
        scenario=scenario,
        tier="Pro",
        vary=[VaryRequest("cap", 0, 3000, 1)],
        constraints=[ConstraintRequest("gross_margin", min=0.95)],
        users=users,
    )


def test_a_goal_seek_job_answers_what_the_same_search_in_one_process_answers(scenario: Scenario) -> None:
    job = pro_cap_for_95_percent(scenario, users=USERS)
    assert (job.kind, job.status, job.blocks_total) == ("optimization", "queued", 1)
    assert job.spec["request"]["vary"] == [
        {"setting": "cap", "min": 0, "max": 3000, "step": 1, "lever": None}
    ]
    finished, progress = execute_like_workers(job)
    in_process = scenario_goal_seek(
        scenario=scenario, tier="Pro", vary="cap:0:3000:1", targets=Targets(gross_margin=0.95), users=USERS
    )
    answer = finished.results
    assert answer is not None and answer["feasible"] and answer["value"] == in_process["value"]
    assert answer["figures"] == in_process["figures"] and answer["adjacent"] == in_process["adjacent"]
    assert answer["passes"] == in_process["passes"] == finished.spec["state"]["passes"] > 1
    # Each pass added its blocks as it was planned; progress only grows and ends at 1.
    assert finished.blocks_total == answer["passes"] * finished.spec["blocks_per_pass"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert finished.progress == 1.0


def test_a_grid_job_answers_what_the_grid_in_one_process_answers(scenario: Scenario) -> None:
    job = optimization_start(
        scenario=scenario,
        tier="Pro",
        vary=[VaryRequest("fee", 20, 40, 5), VaryRequest("cap", 0, 2000, 500)],
        constraints=[ConstraintRequest("underwater_share", max=0.2)],
        users=USERS,
    )
    finished, _ = execute_like_workers(job)
    in_process = scenario_grid_search(
        scenario=scenario,
        tier="Pro",
        vary=("fee:20:40:5", "cap:0:2000:500"),
        targets=Targets(underwater_share=0.2),
        users=USERS,
    )
    answer = finished.results
    assert answer is not None and answer["grid"] == in_process["grid"]
    assert answer["frontier"] == in_process["frontier"] and answer["value"] == in_process["value"]


def test_a_second_merge_of_a_pass_changes_nothing(scenario: Scenario) -> None:
    job = pro_cap_for_95_percent(scenario, users=USERS)
    runs._prepared.cache_clear()
    runs._users.cache_clear()
    runs.chunk_execute(run_id=job.pk, blocks=[0], worker="test:1")
    runs.run_merge(run_id=job.pk)
    job.refresh_from_db()
    after_first: dict[str, Any] = {"spec": job.spec, "blocks_total": job.blocks_total}
    runs.run_merge(run_id=job.pk)  # the reaper's, or a redelivered task: pass 2 is not done
    job.refresh_from_db()
    assert {"spec": job.spec, "blocks_total": job.blocks_total} == after_first
    assert job.spec["state"]["passes"] == 1 and job.blocks_total == 2 and job.merge_enqueued_at is None


def test_optimizations_are_not_runs_of_the_scenario(scenario: Scenario) -> None:
    run = runs.run_create(scenario=scenario, users=USERS)
    job = optimization_start(
        scenario=scenario,
        tier="Pro",
        vary=[VaryRequest("fee", 10, 30, 1)],
        constraints=[ConstraintRequest("gross_margin", min=0.5)],
        users=USERS,
    )
    listed = set(
        runs_for_organization(organization=scenario.product.organization).values_list("pk", flat=True)
    )
    assert run.pk in listed and job.pk not in listed


@pytest.mark.parametrize(
    ("tier", "vary", "constraints", "message"),
    [
        (None, [VaryRequest("fee")], [ConstraintRequest("underwater_share", max=0.1)], "vary[0].setting: "),
        ("Max", [VaryRequest("cap")], [ConstraintRequest("underwater_share", max=0.1)], "tier: "),
        ("Pro", [VaryRequest("cap", -1)], [ConstraintRequest("underwater_share", max=0.1)], "vary[0].min: "),
        (
            "Pro",
            [VaryRequest("seats")],
            [ConstraintRequest("underwater_share", max=0.1)],
            "vary[0].setting: ",
        ),
        (
            "Pro",
            [VaryRequest("overage_price")],
            [ConstraintRequest("underwater_share", max=0.1)],
            "vary[0].setting: the tier has no included credits",
        ),
        (
            "Pro",
            [VaryRequest("routing_share", lever="nope")],
            [ConstraintRequest("underwater_share", max=0.1)],
            "vary[0].lever: ",
        ),
        ("Pro", [VaryRequest("cap")], [ConstraintRequest("underwater_share", max=1.5)], "constraints[0].max"),
        ("Pro", [VaryRequest("cap")], [ConstraintRequest("gross_margin", min=60)], "constraints[0].min: "),
        ("Pro", [VaryRequest("cap")], [], "constraints: "),
    ],
)
def test_bad_requests_name_the_field_and_create_nothing(
    scenario: Scenario,
    tier: str | None,
    vary: list[VaryRequest],
    constraints: list[ConstraintRequest],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        optimization_start(scenario=scenario, tier=tier, vary=vary, constraints=constraints, users=USERS)
    assert not SimulationRun.objects.exists()


def test_a_sensitivity_job_gives_the_tornado_of_the_same_analysis_in_one_process(scenario: Scenario) -> None:
    fewer = {"model_price": None, "usage_spread": None, "model_mix": None}  # fewer passes, faster
    job = sensitivity_start(scenario=scenario, tier="Pro", ranges=fewer, users=2_000)
    total = job.spec["state"]["total"]
    assert job.kind == "sensitivity" and total > 2 and job.spec["blocks_expected"] == total
    finished, progress = execute_like_workers(job, max_rounds=total + 1)
    in_process = scenario_sensitivity(scenario=scenario, tier="Pro", ranges=fewer, users=2_000)
    del in_process["scenario"]
    assert finished.results is not None
    assert {k: v for k, v in finished.results.items() if k != "seconds"} == in_process
    assert len(progress) == total and progress == sorted(progress)


def test_bad_sensitivity_requests_name_the_field(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match=r"ranges\.usage_median"):
        sensitivity_start(scenario=scenario, ranges={"usage_median": [0.5, -0.5]}, users=2_000)
    with pytest.raises(ValueError, match="tier: "):
        sensitivity_start(scenario=scenario, tier="Max", users=2_000)
    with pytest.raises(ValueError, match="metric: "):
        sensitivity_start(scenario=scenario, metric="profit", users=2_000)
    assert not SimulationRun.objects.exists()


def test_the_total_of_one_paying_tier_is_that_tier_and_applies_to_it(scenario: Scenario) -> None:
    """The fixture's only paying tier is Pro (Free charges nothing): the all-paying-tiers total
    answers exactly what a search on Pro does, and applying it caps Pro."""
    total = optimization_start(
        scenario=scenario,
        tier=None,
        vary=[VaryRequest("cap", 0, 3000, 1)],
        constraints=[ConstraintRequest("gross_margin", min=0.95)],
        users=USERS,
    )
    finished, _ = execute_like_workers(total)
    pro, _ = execute_like_workers(pro_cap_for_95_percent(scenario, users=USERS))
    assert finished.results is not None and pro.results is not None
    assert finished.results["value"] == pro.results["value"]
    assert finished.results["figures"]["bounds"] == pytest.approx(pro.results["figures"]["bounds"], rel=1e-12)
    applied = optimization_apply(job=finished)
    cap = finished.results["value"]["hard_cap"]
    assert [float(t.hard_cap_credits or 0) for t in scenario_tiers(applied).filter(name="Pro")] == [cap]
    assert scenario_tiers(applied).get(name="Free").hard_cap_credits == 30  # not a paying tier


def test_a_sweep_job_gives_the_sweep_of_the_same_input_in_one_process(scenario: Scenario) -> None:
    job = sensitivity_start(
        scenario=scenario, tier="Pro", sweep={"input": "usage_median", "points": 3}, users=2_000
    )
    assert job.spec["state"]["total"] == 3  # the baseline, then the ends (the middle point is the plan)
    finished, _ = execute_like_workers(job, max_rounds=5)
    inputs = engine_input_from_snapshot(finished.snapshot)
    in_process = sweep(inputs, input="usage_median", points=3, users=2_000, seed=scenario.seed, tier="Pro")
    assert finished.results is not None
    assert {k: v for k, v in finished.results.items() if k not in ("seconds", "sweep")} == in_process
    with pytest.raises(ValueError, match=r"sweep\.input: 'weather' cannot be swept"):
        sensitivity_start(scenario=scenario, sweep={"input": "weather", "points": 3}, users=2_000)
    with pytest.raises(ValueError, match=r"sweep\.points: from 2 to 21"):
        sensitivity_start(scenario=scenario, sweep={"input": "usage_median", "points": 50}, users=2_000)


def test_a_seat_price_is_searched_as_the_fee_it_bills_and_answered_per_seat(scenario: Scenario) -> None:
    pro = scenario_tiers(scenario).get(name="Pro")
    tier_update(tier=pro, data={"monthly_fee": Decimal(0), "seat_fee": Decimal("10"), "seats": 2})
    target = [ConstraintRequest("gross_margin", min=0.9)]
    per_seat = optimization_start(
        scenario=scenario, tier="Pro", vary=[VaryRequest("seat_fee", 5, 50)], constraints=target, users=USERS
    )
    by_fee = optimization_start(
        scenario=scenario,
        tier="Pro",
        vary=[VaryRequest("fee", 10, 100, 0.02)],
        constraints=target,
        users=USERS,
    )
    seat_answer, fee_answer = (execute_like_workers(job)[0].results for job in (per_seat, by_fee))
    assert seat_answer is not None and fee_answer is not None
    assert seat_answer["value"] == {"seat_fee": pytest.approx(fee_answer["value"]["fee"] / 2, abs=1e-9)}
    assert seat_answer["figures"]["bounds"] == fee_answer["figures"]["bounds"]
    assert seat_answer["current"] == 10 and seat_answer["seats"] == 2
    applied = scenario_tiers(optimization_apply(job=SimulationRun.objects.get(pk=per_seat.pk))).get(
        name="Pro"
    )
    assert applied.seat_fee == Decimal(str(seat_answer["value"]["seat_fee"])).quantize(Decimal("0.01"))
    with pytest.raises(ValueError, match=r"vary\[0\]\.setting: the tier is not priced per seat"):
        optimization_start(scenario=scenario, tier="Free", vary=[VaryRequest("seat_fee")], constraints=target)


def test_the_reaper_requeues_a_lost_pass_and_cancel_stops_the_job(scenario: Scenario) -> None:
    """A pass whose blocks were lost (worker gone, message lost) is re-queued by the runs'
    reaper like a run's; a cancelled job's chunks stop before their next block."""
    job = pro_cap_for_95_percent(scenario, users=USERS)
    runs._prepared.cache_clear()
    runs._users.cache_clear()
    runs.chunk_execute(run_id=job.pk, blocks=[0], worker="test:1")
    runs.run_merge(run_id=job.pk)  # pass 2 planned: block 1; its message never arrives
    queued: list[tuple[int, list[int]]] = []
    later = timezone.now() + timedelta(minutes=5)
    report = runs.runs_reap(now=later, enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert report.requeued_runs == [job.pk] and queued == [(job.pk, [1])]
    runs.run_cancel(run=job)
    assert runs.chunk_execute(run_id=job.pk, blocks=[1], worker="test:1") == 0
    job.refresh_from_db()
    assert job.status == "cancelled" and job.blocks_done == 1
