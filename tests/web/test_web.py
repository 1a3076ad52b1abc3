"""Web minimum: login, the dashboard scoped to the user's organisations, API docs, admin pages."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from planner.accounts.selectors import organizations_for_user
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.scenarios import scenario_create, scenario_duplicate
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_dashboard_requires_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_without_external_assets(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/css/app.css" in html
    assert "https://" not in html


def test_login_then_logout(client: Client, user: Any) -> None:
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_dashboard_shows_only_own_organisations(
    client: Client, user: Any, product: Product, product_factory: Any
) -> None:
    scenario = scenario_create(product=product, name="Baseline", price_date=datetime.date(2026, 11, 1))
    SimulationRun.objects.create(scenario=scenario, seed=1, users=1_000, status=SimulationRun.Status.FAILED)
    SimulationRun.objects.create(
        scenario=scenario, seed=1, users=1_000, status=SimulationRun.Status.SUCCEEDED
    )
    stranger_org = OrganizationFactory.create(name="Rival Corp")
    stranger_product = product_factory(name="Rival Product", organization=stranger_org)
    scenario_create(product=stranger_product, name="Secret plan", price_date=datetime.date(2026, 11, 1))

    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Acme AI" in html and "Copilot" in html and "Baseline" in html
    assert "200,000" in html
    assert "succeeded" in html and "failed" not in html  # the latest run only
    assert "Rival" not in html and "Secret plan" not in html


def test_dashboard_for_user_without_organisation(client: Client, db: None) -> None:
    client.force_login(UserFactory.create(username="loner"))
    response = client.get("/")
    assert response.status_code == 200
    assert "not a member of any organisation" in response.content.decode()


def test_organizations_for_user_is_scoped(user: Any, organization: Any) -> None:
    other = MembershipFactory.create().organization
    assert list(organizations_for_user(user=user)) == [organization]
    assert other not in organizations_for_user(user=user)
    inactive = UserFactory.create(username="gone", is_active=False)
    MembershipFactory.create(user=inactive, organization=organization)
    assert not organizations_for_user(user=inactive).exists()


def test_api_schema_and_docs_are_served(client: Client, user: Any) -> None:
    client.force_login(user)
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Swagger UI's assets come from the sidecar package under STATIC_URL, never from a CDN.
    assert "swagger-ui-bundle.js" in page and "/static/drf_spectacular_sidecar/" in page
    assert "cdn." not in page and "unpkg" not in page


@pytest.fixture
def admin_client_with_demo(client: Client, product: Product) -> Client:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    scenario = scenario_create(product=product, name="Baseline", price_date=datetime.date(2026, 11, 1))
    SimulationRun.objects.create(scenario=scenario, seed=1, users=1_000, snapshot={"x": 1})
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "organization",
        "membership",
        "product",
        "tier",
        "workload",
        "workloadmodel",
        "usagedistribution",
        "workloadcorrelation",
        "scenario",
        "simulationrun",
    ],
)
def test_admin_pages_render_for_every_model(admin_client_with_demo: Client, model: str) -> None:
    from django.apps import apps

    changelist = admin_client_with_demo.get(reverse(f"admin:planner_{model}_changelist"))
    assert changelist.status_code == 200
    instance = apps.get_model("planner", model).objects.first()
    if instance is not None:
        assert (
            admin_client_with_demo.get(
                reverse(f"admin:planner_{model}_change", args=[instance.pk])
            ).status_code
            == 200
        )


def test_admin_refuses_model_mix_that_does_not_sum_to_one(
    admin_client_with_demo: Client, product: Product
) -> None:
    chat = product.workloads.get(name="Chat")
    rows = list(chat.model_mix.all())
    url = reverse("admin:planner_workload_change", args=[chat.pk])
    data: dict[str, Any] = {
        field: getattr(chat, field)
        for field in (
            "name",
            "position",
            "credits_per_request",
            "input_tokens_median",
            "input_tokens_p90",
            "output_tokens_median",
            "output_tokens_p90",
            "prompt_cache_share",
            "prompt_cache_write_share",
            "response_cache_hit_rate",
            "batch_share",
            "distillation",
        )
    }
    data |= {
        "product": product.pk,
        "reasoning_tokens_median": "",
        "reasoning_tokens_p90": "",
        "calls_per_request_median": "",
        "calls_per_request_p90": "",
        "model_mix-TOTAL_FORMS": len(rows),
        "model_mix-INITIAL_FORMS": len(rows),
        "model_mix-MIN_NUM_FORMS": 0,
        "model_mix-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate(rows):
        data |= {
            f"model_mix-{i}-id": row.pk,
            f"model_mix-{i}-workload": chat.pk,
            f"model_mix-{i}-model": row.model_id,
            f"model_mix-{i}-share": 0.4,
            f"model_mix-{i}-variant": "",
        }
    response = admin_client_with_demo.post(url, data)
    assert response.status_code == 200
    assert "Model shares must sum to 1" in response.content.decode()
    data["model_mix-0-share"] = 0.6
    assert admin_client_with_demo.post(url, data).status_code == 302
    assert sorted(chat.model_mix.values_list("share", flat=True)) == [0.4, 0.6]


def test_service_errors_land_on_their_fields_or_on_the_whole_form() -> None:
    from django import forms
    from django.core.exceptions import ValidationError

    from planner.web.views.common import form_errors_add

    class NameForm(forms.Form):
        name = forms.CharField()

    form = NameForm({"name": "x"})
    assert form.is_valid()
    form_errors_add(form, ValidationError({"name": "Taken.", "unknown_field": "Bad."}))
    form_errors_add(form, ValidationError("No field at all."))  # a plain error must not crash
    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Bad.", "No field at all."]


def _admin_post_data(response: Any) -> dict[str, Any]:
    """What the browser would POST back from an admin change form as it was rendered."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for bound in form:
            value = bound.value()
            if value is None or value is False:
                continue
            data[bound.html_name] = "on" if value is True else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def test_the_admin_edits_one_scenarios_plan_and_the_product_page_the_live_plan(
    admin_client_with_demo: Client, product: Product
) -> None:
    baseline = Scenario.objects.get(product=product, name="Baseline")
    other = scenario_duplicate(scenario=baseline, name="Other")
    url = reverse("admin:planner_scenario_change", args=[baseline.pk])
    page = admin_client_with_demo.get(url)
    data = _admin_post_data(page)
    pro = next(
        form.prefix
        for inline in page.context["inline_admin_formsets"]
        for form in inline.formset.forms
        if getattr(form.instance, "name", None) == "Pro"
    )
    data[f"{pro}-monthly_fee"] = "35"
    assert admin_client_with_demo.post(url, data).status_code == 302
    assert baseline.tiers.get(name="Pro").monthly_fee == Decimal("35")
    assert other.tiers.get(name="Pro").monthly_fee == Decimal("20")
    assert live_tiers(product).get(name="Pro").monthly_fee == Decimal("20")
    product_page = admin_client_with_demo.get(reverse("admin:planner_product_change", args=[product.pk]))
    tiers = next(i for i in product_page.context["inline_admin_formsets"] if i.formset.model is Tier)
    assert [f.instance.pk for f in tiers.formset.forms] == [t.pk for t in live_tiers(product)]
