"""Percent in, percent out (issue 19): rate inputs take and show percent and store the exact
fraction; an alert threshold reads the same in the form and the API; money on the results page
follows one precision rule per table; the CSV names its units."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.test import Client
from django.urls import reverse

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import ApiKey, Organization
from planner.alerts.models import AlertRule
from planner.products.models import Segment
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario, SimulationRun
from planner.web.forms.decisions import FixItForm
from planner.web.forms.fields import PercentField
from planner.web.forms.scenarios import (
    LeverForm,
    ScenarioForm,
    TierForm,
    WorkloadForm,
    WorkloadOverrideForm,
)
from planner.web.forms.segments import SegmentForm
from tests.api.conftest import client_for

FORMS: dict[str, Callable[..., forms.BaseForm]] = {
    "tier": TierForm,
    "scenario": ScenarioForm,
    "workload": WorkloadForm,
    "override": WorkloadOverrideForm,
    "segment": SegmentForm,
    "lever": LeverForm,
    "fix_it": FixItForm,
}
#: Every rate input of the web forms: (form, field, the stored type, lowest and highest percent).
PERCENT_FIELDS = [
    ("tier", "payment_fee_pct", Decimal, 0, 100),
    ("tier", "churn_monthly", float, 0, 100),
    ("tier", "new_subscribers_growth_monthly", float, -99, 1000),
    ("scenario", "price_trend_yearly", float, -99, 100),
    ("scenario", "usage_growth_monthly", float, -50, 100),
    ("scenario", "discount_rate_yearly", float, 0, 100),
    ("scenario", "target_margin", float, -100, 100),
    ("workload", "prompt_cache_share", float, 0, 100),
    ("workload", "prompt_cache_write_share", float, 0, 100),
    ("workload", "response_cache_hit_rate", float, 0, 100),
    ("workload", "batch_share", float, 0, 100),
    ("workload", "distillation", float, 0, 100),
    ("workload", "mix_0_share", float, 0, 100),
    ("override", "mix_3_share", float, 0, 100),
    ("segment", "share", float, 0, 100),
    ("lever", "routing_share", float, 0, 100),
    ("lever", "response_cache_hit_rate", float, 0, 100),
    ("lever", "prompt_cache_share", float, 0, 100),
    ("lever", "distillation", float, 0, 100),
    ("lever", "batch_share", float, 0, 100),
    ("fix_it", "max_underwater_pct", float, 0, 100),
    ("fix_it", "min_margin_pct", float, -1000, 100),
    ("fix_it", "max_cap_hit_pct", float, 0, 100),
]


@pytest.mark.parametrize(("form", "name", "stored", "low", "high"), PERCENT_FIELDS)
def test_each_rate_input_takes_percent_and_stores_the_exact_fraction(
    form: str, name: str, stored: type, low: int, high: int
) -> None:
    field = FORMS[form]().fields[name]
    assert isinstance(field, PercentField) and "%" in str(field.label), field.label
    assert field.clean("60") == stored(Decimal("0.6")) and type(field.clean("60")) is stored
    # 33.3333 / 100 in floats is 0.33333299999999996; the field divides exactly.
    assert field.clean("33.3333") == stored(Decimal("0.333333"))
    assert field.clean(str(high)) == stored(Decimal(high) / 100)
    with pytest.raises(forms.ValidationError) as refused:
        field.clean(str(high + 1))
    assert f"must be between {low} and {high}%" in refused.value.messages[0]


@pytest.mark.parametrize(("form", "name", "stored", "low", "high"), PERCENT_FIELDS)
def test_each_rate_input_shows_the_stored_fraction_in_percent(
    form: str, name: str, stored: type, low: int, high: int
) -> None:
    for fraction, shown in ((stored(Decimal("0.6")), "60"), (stored(Decimal("0.333333")), "33.3333")):
        html = str(FORMS[form](initial={name: fraction})[name])
        assert f'value="{shown}"' in html and '<span class="adornment" aria-hidden="true">%</span>' in html


def _tier_post(form: TierForm, **changes: str) -> dict[str, Any]:
    data = {name: "" if form[name].value() is None else form[name].value() for name in TierForm.Meta.fields}
    return data | changes


def test_a_tier_typed_in_percent_is_stored_as_fractions_and_shown_in_percent_again(
    signed_in: Client, scenario: Scenario
) -> None:
    product = scenario.product
    pro = live_tiers(product).get(name="Pro")
    url = reverse("products:tier_edit", args=[product.pk, pro.pk])
    data = _tier_post(TierForm(instance=pro), payment_fee_pct="33.3333", churn_monthly="60")
    assert signed_in.post(url, data).status_code == 302
    pro.refresh_from_db()
    assert pro.payment_fee_pct == Decimal("0.333333") and pro.churn_monthly == 0.6
    page = signed_in.get(url).content.decode()
    assert 'name="payment_fee_pct" value="33.3333"' in page and 'name="churn_monthly" value="60"' in page
    refused = signed_in.post(url, data | {"churn_monthly": "150"})
    assert refused.status_code == 400
    assert "must be between 0 and 100%" in refused.context["form"].errors["churn_monthly"][0]
    pro.refresh_from_db()
    assert pro.churn_monthly == 0.6


@pytest.mark.parametrize(
    ("form_class", "defaults"),
    [
        (TierForm, {"payment_fee_pct": "0", "churn_monthly": "0", "new_subscribers_growth_monthly": "0"}),
        (WorkloadForm, {"response_cache_hit_rate": "0", "batch_share": "0", "distillation": "0"}),
    ],
)
def test_a_new_object_s_percent_inputs_start_from_the_model_defaults(
    form_class: type[forms.ModelForm], defaults: dict[str, str]
) -> None:
    """A declared percent field gets no initial value from the model: without one, a new tier's
    required "Monthly churn (%)" rendered empty and the browser refused the form as sent."""
    html = str(form_class())
    for name, shown in defaults.items():
        assert re.search(rf'name="{name}" value="{shown}"', html), name


@pytest.mark.parametrize(
    ("stored", "shown"),
    [(Decimal("20.0000"), "20.00"), (Decimal("0.3000"), "0.30"), (Decimal("0.0015"), "0.0015"), (0, "0.00")],
)
def test_money_inputs_show_cents_not_the_column_s_four_decimals(stored: Decimal, shown: str) -> None:
    html = str(TierForm(initial={"monthly_fee": stored})["monthly_fee"])
    assert f'value="{shown}"' in html


def test_a_new_tier_saves_as_the_form_renders_it(signed_in: Client, scenario: Scenario) -> None:
    url = reverse("scenarios:tier_new", args=[scenario.pk])
    data = _tier_post(TierForm(), name="Enterprise", monthly_fee="99", subscribers="40")
    assert signed_in.post(url, data).status_code == 302
    enterprise = scenario.tiers.get(name="Enterprise")
    assert (enterprise.payment_fee_pct, enterprise.churn_monthly) == (Decimal(0), 0.0)


def test_scenario_settings_segments_and_levers_take_percent(signed_in: Client, scenario: Scenario) -> None:
    editor = reverse("scenarios:editor", args=[scenario.pk])
    settings = {
        "name": "Baseline",
        "horizon_months": 3,
        "simulated_users": 20_000,
        "price_date": "2026-11-01",
        "price_trend_yearly": "-30",
        "usage_growth_monthly": "33.3333",
        "discount_rate_yearly": "10",
        "target_margin": "60",
    }
    assert signed_in.post(editor, settings).status_code == 302
    scenario.refresh_from_db()
    assert (scenario.price_trend_yearly, scenario.usage_growth_monthly) == (-0.3, 0.333333)
    assert (scenario.discount_rate_yearly, scenario.target_margin) == (0.1, 0.6)
    page = signed_in.get(editor).content.decode()
    for name, shown in (
        ("price_trend_yearly", "-30"),
        ("target_margin", "60"),
        ("usage_growth_monthly", "33.3333"),
    ):
        assert f'name="{name}" value="{shown}"' in page
    refused = signed_in.post(editor, settings | {"target_margin": "150"})
    assert "must be between -100 and 100%" in refused.context["scenario_form"].errors["target_margin"][0]

    pro = scenario.tiers.get(name="Pro")
    add = reverse("scenarios:segment_add", args=[scenario.pk])
    assert signed_in.post(add, {"tier": pro.pk, "name": "Heavy", "share": "33.3333"}).status_code == 302
    heavy = Segment.objects.get(tier=pro, name="Heavy")
    assert heavy.share == 0.333333
    edit = signed_in.get(reverse("scenarios:segment_edit", args=[scenario.pk, heavy.pk])).content.decode()
    assert 'value="33.3333"' in edit

    lever = {"label": "Route 60", "routing_model": "openai/gpt-4o-mini", "routing_share": "60"}
    assert signed_in.post(reverse("scenarios:lever_add", args=[scenario.pk]), lever).status_code == 302
    scenario.refresh_from_db()
    assert scenario.levers[-1]["routing_share"] == 0.6
    assert "route 60% to openai/gpt-4o-mini" in signed_in.get(editor).content.decode()


# --- Alert thresholds: in = out ------------------------------------------------------------------


def _rule_post(scenario: Scenario, **changes: str) -> dict[str, str]:
    tier = live_tiers(scenario.product).get(name="Pro")
    data = {
        "name": "Pro underwater",
        "scope": "actual",
        "metric": "underwater_share",
        "tier": str(tier.pk),
        "comparator": "gt",
        "threshold": "12.5",
        "schedule": "daily",
        "recipients": "founder@example.com",
        "enabled": "on",
    }
    return data | changes


def _api(organization: Organization) -> Any:
    _, plain = api_key_create(organization=organization, name="numbers", scopes=list(ApiKey.SCOPES))
    return client_for(plain)


def test_an_alert_threshold_typed_in_the_form_reads_the_same_in_the_api_and_the_form(
    signed_in: Client, scenario: Scenario, organization: Organization
) -> None:
    created = signed_in.post(reverse("alerts:rule_create"), _rule_post(scenario))
    assert created.status_code == 302, created.content
    rule = AlertRule.objects.get(name="Pro underwater")
    api = _api(organization).get(f"/api/v1/alert-rules/{rule.pk}/").json()
    assert Decimal(api["threshold"]) == Decimal("12.5")  # percent, as docs/ALERTS.md says
    form = signed_in.get(reverse("alerts:rule_edit", args=[rule.pk])).content.decode()
    assert re.search(r'name="threshold" value="12\.5"', form), "the edit form shows 12.5"
    assert "Share of underwater" in form and "(%)" in form and "in USD ($)" in form


def test_an_alert_threshold_created_through_the_api_shows_as_typed_in_the_form(
    signed_in: Client, scenario: Scenario, organization: Organization
) -> None:
    body = {
        "name": "Margin floor",
        "metric": "gross_margin_pct",
        "tier": live_tiers(scenario.product).get(name="Pro").pk,
        "comparator": "lt",
        "threshold": "12.5",
        "recipients": ["founder@example.com"],
    }
    created = _api(organization).post("/api/v1/alert-rules/", body, format="json")
    assert created.status_code == 201, created.content
    form = signed_in.get(reverse("alerts:rule_edit", args=[created.json()["id"]])).content.decode()
    assert re.search(r'name="threshold" value="12\.5"', form)


# --- Money on the results page ----------------------------------------------------------------

MONEY = re.compile(r"(?<![\w.])[−-]?\$(?P<digits>[\d,]+(?:\.(?P<decimals>\d+))?)")
CELL = re.compile(r"<(td|dd)(?P<attrs>[^>]*)>(?P<body>.*?)</\1>", re.DOTALL)


def _significant(digits: str) -> int:
    return len(digits.replace(",", "").replace(".", "").lstrip("0"))


def _money_rule_broken(digits: str, decimals: str | None) -> str | None:
    """Why a figure breaks the amount rule (``None``: it follows it)."""
    value = float(digits.replace(",", ""))
    if value >= 1000:
        return "an amount from 1,000 has no decimals" if decimals else None
    if value >= 0.01 or value == 0:
        return None if decimals is not None and len(decimals) == 2 else "cents below 1,000"
    return None if _significant(digits) <= 2 else "two significant digits below a cent"


def _unit_cost_rule_broken(digits: str, decimals: str | None) -> str | None:
    value = float(digits.replace(",", ""))
    if value >= 1000:
        return "a price from 1,000 has no decimals" if decimals else None
    if value >= 1 or value == 0:
        return None if decimals is not None and len(decimals) == 2 else "cents from 1 to 1,000"
    if decimals is None or len(decimals) < 2 or _significant(digits) > 3:
        return "three significant digits below 1"
    return None


def test_money_in_each_table_of_the_results_page_follows_one_precision_rule(
    signed_in: Client, finished_run: SimulationRun
) -> None:
    html = signed_in.get(reverse("runs:detail", args=[finished_run.pk])).content.decode()
    checked = {"amount": 0, "unit cost": 0}
    broken = []
    for cell in CELL.finditer(html):
        per_unit = "unit-cost" in cell["attrs"]
        for figure in MONEY.finditer(cell["body"]):
            rule = _unit_cost_rule_broken if per_unit else _money_rule_broken
            why = rule(figure["digits"], figure["decimals"])
            checked["unit cost" if per_unit else "amount"] += 1
            if why:
                broken.append((figure.group(0), why))
    assert not broken, broken
    assert checked["amount"] >= 10 and checked["unit cost"] >= 4, checked  # the check saw the tables
    page = html.split('id="chart-data"')[0]  # the chart JSON keeps its plain numbers and keys
    assert "$0.0000" not in page  # the old four-decimal COGS


def test_the_results_csv_names_its_units_and_keeps_plain_numbers(
    signed_in: Client, finished_run: SimulationRun
) -> None:
    text = signed_in.get(reverse("runs:export", args=[finished_run.pk, "csv"])).content.decode()
    header = text.splitlines()[0].split(",")
    for money_column in ("cogs_p99_usd", "revenue_per_user_usd", "underwater_monthly_loss_usd"):
        assert money_column in header
    assert "gross_margin_pct" in header and "underwater_share" in header
    pro = next(row for row in csv.DictReader(io.StringIO(text)) if row["tier"] == "Pro")
    assert finished_run.results is not None
    tier = next(t for t in finished_run.results["tiers"] if t["key"] == "Pro")
    assert float(pro["cogs_p99_usd"]) == tier["cogs_per_user"]["p99"]["value"]  # unformatted
    assert "$" not in text and "%" not in text
