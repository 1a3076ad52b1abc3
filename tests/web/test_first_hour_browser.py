"""A founder's first hour in the browser (issue 19, "Done when"): the demo as ``seed_demo`` leaves
it shows answers everywhere (dashboard, compare, alerts), then a product from a template runs
through a real Celery worker to its results page. Screenshots go to data/test-artifacts/web/."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from planner.celery import app
from planner.devtools import demo_runs
from planner.devtools.demo import DEMO_PASSWORD, DEMO_USERNAME
from planner.devtools.worker_processes import celery_worker_process
from planner.simulation.models import Scenario, SimulationRun
from tests.web.test_browser import chromium, page, shot, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_hour_demo_answers_then_a_template_product_to_its_results(
    page: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo_runs, "DEMO_RUN_USERS", 50_000)  # the benchmark's 1,000,000 would be slow here
    call_command("seed_demo", stdout=StringIO())
    scenarios = list(Scenario.objects.order_by("product__name", "name"))
    assert len(scenarios) == 4

    sign_in(page, DEMO_USERNAME, DEMO_PASSWORD)
    page.wait_for_function("() => document.querySelector('.sparkline').data !== undefined")
    table = page.locator("#scenarios-title + .table-scroll table")
    assert "never run" not in table.inner_text()
    rows = table.locator("tbody tr")
    assert rows.count() == len(scenarios)
    for i, scenario in enumerate(scenarios):
        cells = rows.nth(i).locator("td")
        assert scenario.name in cells.nth(0).inner_text()
        margin, underwater = cells.nth(2).inner_text(), cells.nth(3).inner_text()
        assert margin.endswith("%") and underwater.endswith("%"), (scenario.name, margin, underwater)
        assert "succeeded" in cells.nth(6).inner_text()
    shot(page, "30-first-hour-dashboard")

    # Compare has runs to compare: the demo's three plans side by side.
    page.get_by_role("link", name="Compare scenarios").click()
    for name in ("Baseline", "Capped plan", "Routed plan"):
        page.get_by_label(f"Demo Copilot · {name}", exact=True).check()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_function("() => document.getElementById('chart-compare-trajectory').data !== undefined")
    assert page.evaluate("document.getElementById('chart-compare-trajectory').data.length") == 3
    changes = page.locator("#compare-inputs").inner_text()
    assert "Hard cap" in changes and "gpt-4o-mini" in changes
    shot(page, "31-first-hour-compare")

    # The alerts have a measurement: the baseline's underwater Pro users, a breach.
    page.goto(page.base + "/alerts/")
    rule = page.locator("tr", has_text="Pro users underwater in the baseline")
    assert "breach" in rule.inner_text() and "%" in rule.inner_text()
    assert "not yet" not in page.locator("table").first.inner_text()
    shot(page, "32-first-hour-alerts")

    # A product from a template, its first run through a real worker, its results.
    env = {"PLANNER_USE_TEST_DATABASE": "1", "DJANGO_SETTINGS_MODULE": "planner.settings.test"}
    app.control.purge()
    with celery_worker_process(concurrency=1, log_dir=tmp_path, env=env):
        page.goto(page.base + "/")
        page.get_by_role("link", name="New product").click()
        page.wait_for_url("**/scenarios/products/new/")
        shot(page, "33-first-hour-new-product")
        page.get_by_role("button", name="Use the Chat app template").click()
        page.get_by_text("with its Baseline scenario from the template").wait_for()
        scenario = Scenario.objects.get(product__name="Chat app")
        assert page.url.endswith(f"/scenarios/{scenario.pk}/")
        shot(page, "34-first-hour-template-editor")
        page.get_by_role("button", name="Run simulation").click()
        page.wait_for_url("**/runs/*/")
        page.wait_for_function(
            "() => (document.getElementById('chart-percentiles') || {}).data !== undefined",
            timeout=120_000,
        )
    run = SimulationRun.objects.get(scenario=scenario)
    assert run.status == "succeeded" and run.blocks_done == run.blocks_total
    assert "of Pro users are underwater" in page.locator(".summary").inner_text()
    shot(page, "35-first-hour-template-results")


def test_the_guided_setup_in_the_browser_from_plan_to_the_run_page(
    page: Any,  # noqa: F811
    user: Any,
    organization: Any,
    priced_models: Any,
) -> None:
    """The four steps with their defaults (the run is queued: no worker here)."""
    sign_in(page)
    page.get_by_role("link", name="Guided setup").click()
    page.wait_for_url("**/scenarios/products/new/guided/")
    page.get_by_label("Product name").fill("Tutor")
    shot(page, "36-guided-plan")
    page.get_by_role("button", name="Next: workloads").click()
    page.wait_for_url("**/guided/workloads/")
    page.get_by_label("Workload name").fill("Homework chat")
    page.get_by_role("button", name="Add this workload").click()
    page.get_by_text("Workload “Homework chat” added.").wait_for()
    page.get_by_label("Workload name").fill("Essay agent")
    page.get_by_label("Agent task: a loop of about 10 calls").check()
    shot(page, "37-guided-workloads")
    page.get_by_role("button", name="Add it and go to usage").click()
    page.wait_for_url("**/guided/usage/")
    shot(page, "38-guided-usage")
    page.get_by_role("button", name="Next: run").click()
    page.wait_for_url("**/guided/run/")
    shot(page, "39-guided-run")
    page.get_by_label("Simulated users").fill("5000")
    page.get_by_role("button", name="Run the simulation").click()
    page.wait_for_url("**/runs/*/")
    scenario = Scenario.objects.get(product__name="Tutor")
    assert [w.name for w in scenario.product.workloads.order_by("position")] == [
        "Homework chat",
        "Essay agent",
    ]
    assert SimulationRun.objects.get(scenario=scenario).users == 5_000
    shot(page, "40-guided-first-run")
