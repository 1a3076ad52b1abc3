"""Lifetime figures on the web: the results page's lifetime card and cash chart, model costs
in the editor, and ``manage.py simulate --json``."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from planner.simulation.models import Scenario
from planner.simulation.runs import run_create, run_execute
from tests.simulation.test_lifetime_db import _lifetime_inputs

pytestmark = pytest.mark.django_db


def test_results_and_the_cli_show_the_lifetime(signed_in: Client, scenario: Scenario) -> None:
    _lifetime_inputs(scenario)
    run = run_execute(run=run_create(scenario=scenario))
    lifetime = (run.results or {})["total"]["lifetime"]
    assert lifetime["totals"]["model_costs"] == 30_000.0 + 5_000.0  # month 2 only, within 3 months
    assert lifetime["totals"]["fixed_costs"] == 3_000.0
    html = signed_in.get(reverse("runs:detail", args=[run.pk])).content.decode()
    share = lifetime["inference_share"]["value"]
    assert 'id="lifetime"' in html and f"{share * 100:.1f}%" in html
    assert 'id="chart-cash"' in html and "Inference share of model + inference cost" in html
    pro = next(t for t in (run.results or {})["tiers"] if t["key"] == "Pro")["lifetime"]
    assert pro["cac"] == 60.0 and pro["months"][1]["new_subscribers"] == 40.0
    out = io.StringIO()
    call_command("simulate", "--scenario", str(scenario.pk), "--users", "2000", "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["results"]["total"]["lifetime"]["totals"]["model_costs"] == 35_000.0
    assert "lifetime" in document["results"]["tiers"][1]


def test_model_costs_from_the_editor(signed_in: Client, scenario: Scenario) -> None:
    url = reverse("scenarios:model_cost_add", args=[scenario.pk])
    bad = signed_in.post(url, {"label": "Train", "month": 0, "amount": 10})
    assert bad.status_code == 400 and bad.context["model_cost_form"].errors["month"]
    ok = signed_in.post(url, {"label": "Fine-tune v1", "month": 1, "amount": 25000, "every_months": 6})
    assert ok.status_code == 302
    scenario.refresh_from_db()
    assert scenario.model_costs == [
        {"label": "Fine-tune v1", "month": 1, "amount": 25000.0, "every_months": 6}
    ]
    editor = signed_in.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    assert "Fine-tune v1" in editor and "then every 6 months" in editor
    assert editor.count('id="id_label"') == 1  # the cost form's fields have ids of their own
    signed_in.post(reverse("scenarios:model_cost_delete", args=[scenario.pk, 0]))
    scenario.refresh_from_db()
    assert scenario.model_costs == []
