"""The "Fix it" panel of the results page, the decision page (progress, answer, frontier,
tornado) and applying an answer as a new scenario; the jobs run in this process the way workers
run them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.plans import scenario_tiers
from tests.simulation.test_optimization_jobs import execute_like_workers

pytestmark = pytest.mark.django_db

FIX = {
    "tier": "Pro",
    "change": "cap",
    "also": "",
    "max_underwater_pct": "",
    "confidence": "0.95",
    "month": "1",
}


def fix(client: Client, run: SimulationRun, **fields: str) -> Any:
    return client.post(
        reverse("scenarios:optimize", args=[run.scenario_id]), FIX | {"run": str(run.pk)} | fields
    )


def test_the_results_page_offers_the_fix_it_panel_with_the_paying_tiers(
    signed_in: Client, finished_run: SimulationRun
) -> None:
    html = signed_in.get(reverse("runs:detail", args=[finished_run.pk])).content.decode()
    assert 'id="fix-it"' in html and 'name="max_underwater_pct"' in html
    assert '<option value="Pro">Pro</option>' in html and '<option value="Free">' not in html
    assert 'value="response_cache_hit_rate@cache"' in html  # the scenario's lever's share


def test_a_form_without_a_target_shows_the_page_again_with_the_error(
    signed_in: Client, finished_run: SimulationRun
) -> None:
    response = fix(signed_in, finished_run)
    assert response.status_code == 400
    assert "Set at least one target." in response.content.decode()
    assert not SimulationRun.objects.exclude(kind="run").exists()


def test_a_service_error_is_shown_in_the_form_s_words(signed_in: Client, finished_run: SimulationRun) -> None:
    response = fix(signed_in, finished_run, change="overage_price", max_underwater_pct="5")
    assert response.status_code == 400
    assert "The tier has no included credits, so no overage to price" in response.content.decode()


def test_fix_pro_with_a_cap_then_apply_it_as_a_new_scenario(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    response = fix(signed_in, finished_run, min_margin_pct="95")
    assert response.status_code == 302
    job = SimulationRun.objects.get(kind="optimization")
    assert response.url == reverse("decisions:detail", args=[job.pk])
    assert job.spec["request"]["constraints"] == [{"metric": "gross_margin", "min": 0.95, "max": None}]
    waiting = signed_in.get(response.url).content.decode()
    assert 'id="run-progress"' in waiting and reverse("decisions:progress", args=[job.pk]) in waiting
    assert signed_in.get(reverse("decisions:progress", args=[job.pk])).json()["status"] == "queued"

    finished, _ = execute_like_workers(job)
    assert finished.results is not None
    cap = finished.results["value"]["hard_cap"]
    html = signed_in.get(reverse("decisions:detail", args=[job.pk])).content.decode()
    assert "The least change: <strong>hard cap" in html and f"{cap:,.0f} credits" in html
    assert "One step beyond" in html and 'id="apply"' in html

    applied = signed_in.post(reverse("decisions:apply", args=[job.pk]))
    new = Scenario.objects.exclude(pk=scenario.pk).get()
    assert applied.status_code == 302 and applied["Location"] == reverse("scenarios:editor", args=[new.pk])
    assert new.name == f"{scenario.name} (cap {cap:g})"
    pro = scenario_tiers(new).get(name="Pro")
    assert pro.hard_cap_credits == Decimal(str(cap)) or float(pro.hard_cap_credits) == cap
    assert scenario_tiers(scenario).get(name="Pro").hard_cap_credits is None  # the original is unchanged


def test_a_two_setting_grid_shows_the_frontier_and_applies_a_point(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    response = fix(signed_in, finished_run, change="fee", also="cap", max_underwater_pct="10")
    job = SimulationRun.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))
    finished, _ = execute_like_workers(job)
    html = signed_in.get(reverse("decisions:detail", args=[job.pk])).content.decode()
    assert 'id="chart-frontier"' in html and 'id="decision-data"' in html and 'id="frontier"' in html
    assert finished.results is not None
    point = finished.results["frontier"][1]
    signed_in.post(reverse("decisions:apply", args=[job.pk]), {"point": "1"})
    pro = scenario_tiers(Scenario.objects.exclude(pk=scenario.pk).get()).get(name="Pro")
    assert float(pro.monthly_fee) == pytest.approx(point["fee"], abs=0.005)
    assert float(pro.hard_cap_credits) == point["hard_cap"]


def test_a_sensitivity_page_draws_the_tornado(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    response = signed_in.post(reverse("scenarios:sensitivity", args=[scenario.pk]))
    job = SimulationRun.objects.get(kind="sensitivity")
    assert response["Location"] == reverse("decisions:detail", args=[job.pk])
    execute_like_workers(job, max_rounds=job.spec["state"]["total"] + 1)
    html = signed_in.get(response["Location"]).content.decode()
    assert 'id="chart-tornado"' in html and 'id="metric-picker"' in html
    assert "What moves each figure most" in html


def test_another_organisation_sees_no_decision(other_client: Client, finished_run: SimulationRun) -> None:
    job = SimulationRun.objects.create(
        scenario=finished_run.scenario, kind="optimization", seed=1, users=1000, blocks_total=1
    )
    for name in ("decisions:detail", "decisions:progress"):
        assert other_client.get(reverse(name, args=[job.pk])).status_code == 404
    for name in ("decisions:apply", "decisions:cancel"):
        assert other_client.post(reverse(name, args=[job.pk])).status_code == 404
    assert (
        other_client.post(reverse("scenarios:sensitivity", args=[finished_run.scenario_id])).status_code
        == 404
    )


def test_targets_over_the_horizon(signed_in: Client, finished_run: SimulationRun) -> None:
    response = fix(signed_in, finished_run, min_margin_pct="95", month="horizon")
    job = SimulationRun.objects.get(kind="optimization")
    assert response.status_code == 302 and job.spec["request"]["month"] == "horizon"
    execute_like_workers(job)
    html = signed_in.get(reverse("decisions:detail", args=[job.pk])).content.decode()
    assert "Figures Pro, over the horizon" in html and "Targets over the horizon for" in html


def test_sweep_one_input_from_the_tornado_page(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    signed_in.post(reverse("scenarios:sensitivity", args=[scenario.pk]))
    tornado = SimulationRun.objects.get(kind="sensitivity")
    execute_like_workers(tornado, max_rounds=tornado.spec["state"]["total"] + 1)
    html = signed_in.get(reverse("decisions:detail", args=[tornado.pk])).content.decode()
    assert 'id="sweep-form"' in html and '<option value="usage_median">' in html
    response = signed_in.post(
        reverse("scenarios:sensitivity", args=[scenario.pk]), {"sweep_input": "usage_median"}
    )
    job = SimulationRun.objects.filter(kind="sensitivity").exclude(pk=tornado.pk).get()
    assert response["Location"] == reverse("decisions:detail", args=[job.pk])
    assert job.spec["request"]["sweep"] == {"input": "usage_median", "points": 9}
    execute_like_workers(job, max_rounds=job.spec["state"]["total"] + 1)
    html = signed_in.get(reverse("decisions:detail", args=[job.pk])).content.decode()
    assert 'id="chart-sweep"' in html and "Gross margin as usage median moves" in html
