"""Replay in the browser (issue #15, "Done when"): from the actuals page, replay a capped plan on
the demo's usage through a real Celery worker, and read the customers who flipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from planner.actuals.replay import replay_period
from planner.actuals.selectors import usage_periods
from planner.celery import app
from planner.devtools.demo import DEMO_PASSWORD, DEMO_PRODUCT_NAME, DEMO_USERNAME, demo_seed
from planner.devtools.worker_processes import celery_worker_process
from planner.products.models import Product
from planner.simulation.models import SimulationRun
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create
from tests.web.test_browser import chromium, page, shot, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_replay_a_capped_plan_on_the_demo_usage_and_read_the_flipped_customers(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    organization = demo_seed()
    product = Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)
    capped = scenario_create(product=product, name="Capped Pro", seed=1)
    pro = scenario_tiers(capped).get(name="Pro")
    capped.levers = [{"key": "cap", "label": "Cap Pro at 150", "tiers": [pro.pk], "hard_cap": 150.0}]
    capped.save()
    # The demo seeds the two full months before this one, then this one to date.
    first, last = sorted(usage_periods(organization=organization))[:2]
    expected = replay_period(organization=organization, scenario=capped, period_from=first, period_to=last)
    flipped = sorted({row.external_id for row in expected.customer_months if row.flip})
    assert flipped, "the demo's capped plan must flip someone for this test to mean anything"

    env = {"PLANNER_USE_TEST_DATABASE": "1", "DJANGO_SETTINGS_MODULE": "planner.settings.test"}
    app.control.purge()
    with celery_worker_process(concurrency=1, log_dir=tmp_path, env=env):
        sign_in(page, DEMO_USERNAME, DEMO_PASSWORD)
        page.goto(page.base + "/actuals/")
        page.get_by_role("link", name="Replay past months").click()
        page.wait_for_url("**/actuals/replays/")
        form = page.locator("#replay-form")
        form.get_by_label("Plan to replay the usage under").select_option(
            label=f"{DEMO_PRODUCT_NAME}: scenario Capped Pro"
        )
        form.get_by_label("From", exact=True).select_option(f"{first:%Y-%m}")
        form.get_by_label("To", exact=True).select_option(f"{last:%Y-%m}")
        form.get_by_role("button", name="Replay").click()
        page.wait_for_url("**/actuals/replays/*/")
        page.locator("#replay-summary").wait_for(timeout=120_000)
    job = SimulationRun.objects.replays().get()
    assert job.status == "succeeded" and job.blocks_done == job.blocks_total
    sentence = page.locator("#flips-sentence").inner_text()
    assert sentence.startswith(f"{len(flipped)} customer")
    shown = page.locator("#flipped tbody tr td:first-child a").all_inner_texts()
    assert sorted(set(shown)) == flipped
    shot(page, "20-replay-capped-plan")
    page.locator("#flipped tbody tr td:first-child a").first.click()
    page.wait_for_url("**/actuals/customers/*/")
    assert page.locator("h1").inner_text() == shown[0]
