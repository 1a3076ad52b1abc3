"""Significant changes in compare (``planner.simulation.compare``, ``selectors.run_batches``).

Pure tests run the engine stage by stage (``prepare``, ``simulate_block``, ``merge``,
``summarize``) on the standard scenario with one month; the last tests store a run's blocks in
the database the way a worker does (``chunk_execute``, then ``run_merge``) and read the compare
page.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from scipy import stats as sps

from planner.engine import merge, prepare, simulate_block, summarize
from planner.engine.reference import standard_scenario_linear
from planner.engine.stats import Z95
from planner.engine.types import EngineInput
from planner.products.services import tier_update
from planner.simulation import runs
from planner.simulation.compare import (
    RunBatches,
    TierBatches,
    TierFigure,
    run_batches_from_arrays,
    tier_figures,
)
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.scenarios import scenario_duplicate, scenario_update
from planner.simulation.selectors import run_batches

USERS = 20_000
FIGURES = ("Gross margin", "Underwater users", "Monthly loss on them", "COGS per user, p95")

Run = tuple[dict[str, Any], dict[str, Any], RunBatches]


def snapshot_of(inputs: EngineInput) -> dict[str, Any]:
    """The parts of a run snapshot that compare reads: tier keys and subscribers, workload keys."""
    return {
        "tiers": [{"key": t.key, "subscribers": t.subscribers, "live_tier": None} for t in inputs.tiers],
        "workloads": [{"key": w.key} for w in inputs.workloads],
    }


def simulated(inputs: EngineInput, *, seed: int, users: int = USERS) -> Run:
    """A run's snapshot, results document and per-batch sums, through the engine's stages."""
    prepared = prepare(inputs, users=users, seed=seed)
    merged = merge(prepared, [simulate_block(prepared, b) for b in range(prepared.blocks)])
    batches = run_batches_from_arrays(
        seed=seed, users=users, month_one=merged.moments[0, :, :, 0, :], batch_users=merged.batch_users
    )
    return snapshot_of(inputs), summarize(prepared, merged), batches


def compared(*runs_: Run, batches: bool = True) -> dict[tuple[str, str], TierFigure]:
    """``tier_figures`` of the runs by (tier, figure)."""
    rows = tier_figures(
        [r[0] for r in runs_], [r[1] for r in runs_], [r[2] for r in runs_] if batches else None
    )
    return {(row.tier, row.figure): row for row in rows}


def with_pro_fee(inputs: EngineInput, fee: float) -> EngineInput:
    tiers = tuple(dataclasses.replace(t, monthly_price=fee) if t.key == "pro" else t for t in inputs.tiers)
    return dataclasses.replace(inputs, tiers=tiers)


@pytest.fixture(scope="module")
def standard() -> EngineInput:
    return standard_scenario_linear(horizon_months=1)


@pytest.fixture(scope="module")
def baseline(standard: EngineInput) -> Run:
    return simulated(standard, seed=7)


@pytest.fixture(scope="module")
def pro_plus_5(standard: EngineInput) -> Run:
    """Pro at $25 instead of $20, same seed and users: the same simulated users."""
    return simulated(with_pro_fee(standard, 25.0), seed=7)


@pytest.fixture(scope="module")
def pro_plus_5_other_seed(standard: EngineInput) -> Run:
    return simulated(with_pro_fee(standard, 25.0), seed=8)


def test_a_run_compared_with_itself_changes_nothing_and_marks_nothing(baseline: Run) -> None:
    rows = compared(baseline, baseline)
    assert len(rows) == 3 * len(FIGURES)
    for row in rows.values():
        assert row.deltas[1] == 0.0 and row.significant == (False, False)
        assert row.errors[0] is None and row.paired[0] is None
        assert row.paired[1] is (row.figure != "COGS per user, p95")  # a quantile is never paired
        if row.paired[1]:
            assert row.errors[1] == 0.0  # the same batches: the difference has no noise at all


def test_a_5_dollar_fee_change_on_pro_is_significant_with_a_small_paired_error(
    baseline: Run, pro_plus_5: Run
) -> None:
    paired = compared(baseline, pro_plus_5)
    unpaired = compared(baseline, pro_plus_5, batches=False)
    margin = paired["pro", "Gross margin"]
    error = margin.errors[1]
    assert margin.paired == (None, True) and error is not None
    assert margin.deltas[1] is not None and margin.deltas[1] > 0
    assert margin.significant == (False, True)
    # Revenue per user is the fee (no overage on Pro) and COGS is the same per simulated user, so
    # the change is (COGS/20 - COGS/25) / revenue and noisy only through the COGS mean: its
    # paired error is a fraction of the unpaired one, which holds both runs' noise in full.
    unpaired_error = unpaired["pro", "Gross margin"].errors[1]
    assert unpaired_error is not None and unpaired["pro", "Gross margin"].paired == (None, False)
    assert error < unpaired_error / 3
    for figure in ("Underwater users", "Monthly loss on them"):
        row = paired["pro", figure]
        assert row.paired[1] and row.deltas[1] is not None and row.deltas[1] < 0  # a higher fee
        assert row.significant[1], (figure, row.deltas, row.errors)
    # Untouched tiers drew the same users: no change, and an error of exactly 0.
    for tier in ("free", "team"):
        for figure in FIGURES[:3]:
            row = paired[tier, figure]
            assert row.deltas[1] == 0.0 and row.errors[1] == 0.0 and not row.significant[1]
    p95 = paired["pro", "COGS per user, p95"]
    assert p95.paired[1] is False and p95.deltas[1] == 0.0 and not p95.significant[1]


def test_runs_with_different_seeds_are_compared_unpaired(baseline: Run, pro_plus_5_other_seed: Run) -> None:
    rows = compared(baseline, pro_plus_5_other_seed)
    assert {row.paired[1] for row in rows.values()} == {False}
    margin = rows["pro", "Gross margin"]
    first, other = baseline[1]["tiers"][1], pro_plus_5_other_seed[1]["tiers"][1]
    expected = np.hypot(first["gross_margin_pct"]["mc_error"], other["gross_margin_pct"]["mc_error"])
    assert margin.errors[1] == pytest.approx(expected, rel=1e-12)
    share = rows["pro", "Underwater users"]
    p = np.array([first["underwater"]["share"], other["underwater"]["share"]])
    n = np.array([first["simulated_users"], other["simulated_users"]])
    assert share.errors[1] == pytest.approx(float(np.sqrt(np.sum(p * (1 - p) / n))), rel=1e-12)
    p95 = rows["pro", "COGS per user, p95"]
    low, high = first["cogs_per_user"]["p95"]["interval"]
    low2, high2 = other["cogs_per_user"]["p95"]["interval"]
    assert p95.errors[1] == pytest.approx(np.hypot(high - low, high2 - low2) / (2 * Z95), rel=1e-12)


def test_pairing_needs_the_same_users_and_plan_shape(baseline: Run, pro_plus_5: Run) -> None:
    snapshot, results, batches = pro_plus_5
    more_users: Run = (
        snapshot,
        results,
        RunBatches(seed=batches["seed"], users=USERS + 1, tiers=batches["tiers"]),
    )
    renamed: Run = ({**snapshot, "workloads": snapshot["workloads"][::-1]}, results, batches)
    shifted = [TierBatches(**{**t, "users": t["users"] + 1}) for t in batches["tiers"]]
    other_allocation: Run = (snapshot, results, RunBatches(seed=batches["seed"], users=USERS, tiers=shifted))
    # A run of another engine version may have drawn other users for the same seed (version 4
    # changed the copula factor): never paired.
    other_engine: Run = ({**snapshot, "package_versions": {"engine": "3"}}, results, batches)
    for other in (more_users, renamed, other_allocation, other_engine):
        assert {row.paired[1] for row in compared(baseline, other).values()} == {False}
    missing = compared(baseline, pro_plus_5, batches=False)
    assert {row.paired[1] for row in missing.values()} == {False}


#: Seed pairs of the "no real difference" check.
NULL_PAIRS = 24
#: The largest rate at which a true null is marked significant that the errors allow: 5% for an
#: exact standard error; batch means over 16 batches make ``delta / error`` a t with 15 degrees
#: of freedom (30 when two runs' errors add), and P(|t_15| > 1.96) = 0.069.
NULL_RATE = float(2 * sps.t.sf(Z95, 15))
#: Chance that one family exceeds its bound although every test holds NULL_RATE: 1 in 1,000,
#: split over the four figure families (Bonferroni).
FAMILY_ALPHA = 0.001 / len(FIGURES)


def null_bound(tests: int) -> int:
    """The most marks out of ``tests`` a figure family may show: the smallest k with
    P(Binomial(tests, NULL_RATE) > k) <= FAMILY_ALPHA (tests are independent: different seeds,
    and each tier's users are drawn independently of the other tiers')."""
    bound = 0
    while sps.binom.sf(bound, tests, NULL_RATE) > FAMILY_ALPHA:
        bound += 1
    return bound


@pytest.mark.study
def test_same_inputs_with_different_seeds_are_marked_at_about_the_nominal_rate(standard: EngineInput) -> None:
    marked: Counter[str] = Counter()
    tested: Counter[str] = Counter()
    for pair in range(NULL_PAIRS):
        rows = compared(simulated(standard, seed=1000 + 2 * pair), simulated(standard, seed=1001 + 2 * pair))
        for row in rows.values():
            assert row.paired[1] is False
            if row.errors[1]:  # a figure that is 0 in both runs (Free's gross margin) has no error
                tested[row.figure] += 1
                marked[row.figure] += row.significant[1]
    for figure in FIGURES:
        assert tested[figure] >= 2 * NULL_PAIRS, figure
        assert marked[figure] <= null_bound(tested[figure]), (figure, marked[figure], tested[figure])
    # ...and the errors are not so wide that nothing is ever marked: with 5% over all tests,
    # seeing at most one mark has a chance below 1e-4 at these counts.
    total = sum(tested.values())
    assert sps.binom.cdf(1, total, 0.05) < 1e-4
    assert sum(marked.values()) > 1, (marked, tested)


# --- Stored runs and the compare page ------------------------------------------------------


def executed_in_blocks(scenario: Scenario) -> SimulationRun:
    """A run of ``scenario`` computed the way workers do: every block stored by ``chunk_execute``
    (synchronously, in this process), then merged."""
    run = runs.run_create(scenario=scenario)
    # The engine setup is cached per run id, and ids are reused after a rolled-back test.
    runs._prepared.cache_clear()
    runs.chunk_execute(run_id=run.pk, blocks=list(range(run.blocks_total)), worker="test:1")
    merged = runs.run_merge(run_id=run.pk)
    assert merged is not None and merged.status == SimulationRun.Status.SUCCEEDED, merged and merged.error
    return merged


@pytest.mark.django_db
def test_run_batches_reads_the_stored_blocks_and_none_without_them(scenario: Scenario) -> None:
    run = executed_in_blocks(scenario)
    batches = run_batches(run=run)
    assert batches is not None and (batches["seed"], batches["users"]) == (run.seed, run.users)
    assert run.results is not None
    for tier, stored in zip(batches["tiers"], run.results["tiers"], strict=True):
        assert (
            tier["users"].sum() == stored["simulated_users"] and tier["users"].size == 16 * run.blocks_total
        )
        assert tier["underwater"].sum() / tier["users"].sum() == pytest.approx(stored["underwater"]["share"])
        assert tier["revenue"].sum() / tier["users"].sum() == pytest.approx(
            stored["revenue_per_user"]["value"]
        )
    RunBlock.objects.filter(run=run).delete()  # blocks cleaned
    assert run_batches(run=run) is None
    in_process = runs.run_execute(run=runs.run_create(scenario=scenario))  # stores no blocks
    assert run_batches(run=in_process) is None


@pytest.mark.django_db
def test_compare_page_marks_a_significant_fee_change_as_paired(
    client: Client, user: User, scenario: Scenario
) -> None:
    executed_in_blocks(scenario)
    variant = scenario_duplicate(scenario=scenario, name="Pro at 25")
    tier_update(tier=variant.tiers.get(name="Pro"), data={"monthly_fee": Decimal("25")})
    executed_in_blocks(variant)
    reseeded = scenario_update(
        scenario=scenario_duplicate(scenario=variant, name="Reseeded"), data={"seed": 43}
    )
    executed_in_blocks(reseeded)
    client.force_login(user)
    response = client.get(reverse("runs:compare"), {"scenario": [scenario.pk, variant.pk, reseeded.pk]})
    assert response.status_code == 200
    rows = {(row.tier, row.figure): row for row in response.context["tier_figures"]}
    margin = rows["Pro", "Gross margin"]
    assert margin.paired == (None, True, False) and margin.significant[1]
    assert rows["Free", "Gross margin"].significant == (False, False, False)
    html = response.content.decode()
    assert 'id="compare-significance-note"' in html
    assert 'title="Significant: the 95% interval of the change excludes 0 (paired)"' in html
    assert html.count('<span class="marker" aria-hidden="true">●</span>') == sum(
        sum(row.significant) for row in rows.values()
    )
    assert 'class="delta muted" title="Not significant' in html
