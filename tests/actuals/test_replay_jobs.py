"""Replay jobs (issue 15, item 3): a replay on the run machinery gives the in-process replay's
figures; blocks are idempotent; cancel, reaper and failures behave like runs'."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.models import ReplayRow
from planner.actuals.replay import replay_period
from planner.actuals.replay_jobs import replay_start
from planner.actuals.replay_selectors import stored_replay_rows
from planner.devtools.demo import DEMO_PRODUCT_NAME, demo_seed
from planner.products.models import Product
from planner.simulation import runs
from planner.simulation.adapter import SimulationInputError
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)
OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


@pytest.fixture
def demo(priced_models: dict[str, Any]) -> tuple[Organization, Product]:
    organization = demo_seed(now=NOW)
    return organization, Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)


def _capped(product: Product) -> Scenario:
    """A scenario with Pro capped hard at 300 credits and a routing lever on every workload."""
    scenario = scenario_create(product=product, name="Capped", seed=1)
    pro = next(t for t in scenario_tiers(scenario) if t.name == "Pro")
    small = next(m["model"] for w in product.workloads.all() for m in w.model_mix.values("model"))
    scenario.levers = [
        {"key": "l1", "label": "Cap Pro", "tiers": [pro.pk], "hard_cap": 300.0},
        {"key": "l2", "label": "Route", "routing_model": small, "routing_share": 0.3},
    ]
    scenario.save()
    return scenario


def _drain(job: SimulationRun) -> SimulationRun:
    """Run every block of ``job`` in this process, then the merge the last block enqueued."""
    runs.run_dispatch(run_id=job.pk, enqueue=lambda run_id, blocks: None)
    runs.chunk_execute(run_id=job.pk, blocks=list(range(job.blocks_total)), worker="test:1")
    finished = runs.run_merge(run_id=job.pk)
    assert finished is not None
    return finished


@override_settings(PLANNER_REPLAY_BLOCK_CUSTOMERS=7)
def test_job_equals_the_in_process_replay(demo: tuple[Organization, Product]) -> None:
    organization, product = demo
    scenario = _capped(product)
    job = replay_start(
        organization=organization, scenario=scenario, period_from=OCT, period_to=NOV, bootstrap=300
    )
    assert job.kind == "replay" and job.blocks_total == -(-job.users // 7) and job.blocks_total > 3
    job = _drain(job)
    assert job.status == "succeeded", job.error
    expected = replay_period(
        organization=organization, scenario=scenario, period_from=OCT, period_to=NOV, bootstrap=300
    )
    want = expected.to_json(rows=False)
    assert job.results is not None
    got = {k: v for k, v in job.results.items() if k not in ("seconds", "product", "customer_months")}
    assert got == want
    assert job.results["customer_months"] == len(expected.customer_months)
    assert stored_replay_rows(job) == expected.customer_months
    assert job.results["flipped_customers"] > 0 and job.results["customers_cut_count"] > 0
    assert sum(RunBlock.objects.filter(run=job).values_list("users", flat=True)) == job.users


@override_settings(PLANNER_REPLAY_BLOCK_CUSTOMERS=10)
def test_a_block_computed_twice_writes_each_row_once(demo: tuple[Organization, Product]) -> None:
    organization, product = demo
    job = replay_start(organization=organization, product=product, period_from=OCT, period_to=NOV)
    runs.chunk_execute(run_id=job.pk, blocks=[0], worker="test:1")
    fields = [f.attname for f in ReplayRow._meta.concrete_fields if not f.primary_key]
    first = list(ReplayRow.objects.filter(run=job).order_by("customer_id", "period").values(*fields))
    # A redelivered chunk whose block row was lost (a crash between the upsert and the count).
    RunBlock.objects.filter(run=job, block=0).delete()
    runs.chunk_execute(run_id=job.pk, blocks=[0], worker="test:2")
    again = list(ReplayRow.objects.filter(run=job).order_by("customer_id", "period").values(*fields))
    assert again == first
    assert len(first) > 0


@override_settings(PLANNER_REPLAY_BLOCK_CUSTOMERS=10)
def test_cancel_stops_the_blocks_and_the_reaper_requeues_a_stale_replay(
    demo: tuple[Organization, Product],
) -> None:
    organization, product = demo
    job = replay_start(organization=organization, product=product, period_from=OCT, period_to=NOV)
    runs.chunk_execute(run_id=job.pk, blocks=[0], worker="test:1")
    queued: list[tuple[int, list[int]]] = []
    SimulationRun.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    report = runs.runs_reap(enqueue=lambda run_id, blocks: queued.append((run_id, blocks)))
    assert job.pk in report.requeued_runs
    assert sorted(b for _, blocks in queued for b in blocks) == list(range(1, job.blocks_total))
    runs.run_cancel(run=job)
    assert runs.chunk_execute(run_id=job.pk, blocks=[1], worker="test:1") == 0
    job.refresh_from_db()
    assert job.status == "cancelled" and job.blocks_done == 1


def test_requests_refused_with_the_field(demo: tuple[Organization, Product]) -> None:
    organization, product = demo
    with pytest.raises(ValueError, match="^to: the range ends before it starts"):
        replay_start(organization=organization, product=product, period_from=NOV, period_to=OCT)
    with pytest.raises(ValueError, match="^to: a replay covers at most 36 months"):
        replay_start(
            organization=organization, product=product, period_from=OCT, period_to=dt.date(2029, 11, 1)
        )
    with pytest.raises(ValueError, match="^bootstrap: "):
        replay_start(organization=organization, product=product, period_from=OCT, period_to=NOV, bootstrap=-1)
    with pytest.raises(SimulationInputError, match="nothing to replay"):
        replay_start(
            organization=organization,
            product=product,
            period_from=dt.date(2020, 1, 1),
            period_to=dt.date(2020, 2, 1),
        )
    assert not SimulationRun.objects.replays().exists()


def test_a_replay_is_no_simulation(demo: tuple[Organization, Product]) -> None:
    organization, product = demo
    job = replay_start(organization=organization, product=product, period_from=OCT, period_to=NOV)
    assert job.scenario_id is None and str(job) == f"Replay {job.pk} (queued)"
    assert not SimulationRun.objects.simulations().filter(pk=job.pk).exists()
    assert not SimulationRun.objects.decisions().filter(pk=job.pk).exists()
    assert SimulationRun.objects.replays().get() == job
