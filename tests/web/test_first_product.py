"""New product (issue 19): from a template in one click, or the guided four steps (plan ->
workloads -> usage -> run); every 400 names the field at fault."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Organization
from planner.products.models import Product, UsageDistribution
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.plans import scenario_tiers

pytestmark = pytest.mark.django_db

PLAN = {
    "product": "Tutor",
    "tier_0_name": "Free",
    "tier_0_monthly_fee": "0",
    "tier_0_included_credits": "30",
    "tier_0_hard_cap_credits": "30",
    "tier_0_subscribers": "1000",
    "tier_1_name": "Pro",
    "tier_1_monthly_fee": "15",
    "tier_1_subscribers": "200",
}


def test_new_product_offers_three_templates_the_guide_and_a_blank_start(
    signed_in: Client, organization: Organization
) -> None:
    response = signed_in.get(reverse("scenarios:product_new"))
    html = response.content.decode()
    assert response.status_code == 200
    for key in ("chat-app", "coding-copilot", "research-assistant"):
        assert f'id="template-{key}"' in html and f'value="{key}"' in html
    assert reverse("scenarios:guided_plan") in html and "Start blank" in html


def test_the_dashboard_empty_state_links_to_templates_and_the_guide(
    signed_in: Client, organization: Organization
) -> None:
    html = signed_in.get(reverse("dashboard")).content.decode()
    assert reverse("scenarios:product_new") in html and reverse("scenarios:guided_plan") in html


def test_a_template_creates_its_product_and_baseline_in_one_click(
    signed_in: Client, organization: Organization, template_catalog: None
) -> None:
    response = signed_in.post(reverse("scenarios:product_from_template"), {"template": "coding-copilot"})
    scenario = Scenario.objects.get(product__organization=organization)
    assert response.status_code == 302 and response["Location"] == reverse(
        "scenarios:editor", args=[scenario.pk]
    )
    assert (scenario.product.name, scenario.name) == ("Coding copilot", "Baseline")
    editor = signed_in.get(response["Location"]).content.decode()
    assert "from the template" in editor and "Agent edit" in editor

    response = signed_in.post(reverse("scenarios:product_from_template"), {"template": "crm"}, follow=True)
    assert "No product template &#x27;crm&#x27;" in response.content.decode()
    assert Product.objects.count() == 1


def test_the_guided_flow_walks_plan_workloads_usage_to_the_first_run(
    signed_in: Client, organization: Organization, priced_models: dict[str, Any]
) -> None:
    plan = signed_in.get(reverse("scenarios:guided_plan"))
    assert plan.status_code == 200 and 'value="Team"' in plan.content.decode()  # the defaults
    response = signed_in.post(reverse("scenarios:guided_plan"), PLAN)
    scenario = Scenario.objects.get(product__name="Tutor")
    assert response["Location"] == reverse("scenarios:guided_workloads", args=[scenario.pk])
    tiers = list(scenario_tiers(scenario))
    assert [(t.name, t.monthly_fee, t.live_tier is not None) for t in tiers] == [
        ("Free", 0, True),
        ("Pro", 15, True),
    ]
    assert str(tiers[1].payment_fee_pct) == "0.029000" and tiers[0].payment_fee_pct == 0

    workloads_url = reverse("scenarios:guided_workloads", args=[scenario.pk])
    assert "OpenAI" in signed_in.get(workloads_url).content.decode()
    response = signed_in.post(
        workloads_url, {"name": "Chat", "preset": "chat", "model": "openai/gpt-4o-mini"}
    )
    assert response["Location"] == workloads_url
    response = signed_in.post(
        workloads_url, {"name": "Tutor agent", "preset": "agent", "model": "openai/o3", "next": "1"}
    )
    assert response["Location"] == reverse("scenarios:guided_usage", args=[scenario.pk])
    agent = scenario.product.workloads.get(name="Tutor agent")
    assert agent.calls_per_request_median == 10.0 and agent.reasoning_tokens_median == 2_000.0
    assert agent.model_mix.get().uses_reasoning

    usage_url = reverse("scenarios:guided_usage", args=[scenario.pk])
    page = signed_in.get(usage_url)
    form = page.context["form"]
    chat = scenario.product.workloads.get(name="Chat")
    pro = tiers[1]
    assert form[f"usage_{pro.pk}_{chat.pk}_median"].initial == 60.0  # a paying tier's default
    assert form[f"usage_{tiers[0].pk}_{chat.pk}_median"].initial == 20.0  # free: a third
    data = {name: form[name].initial for name in form.fields}
    data[f"usage_{pro.pk}_{chat.pk}_median"], data[f"usage_{pro.pk}_{chat.pk}_p90"] = 100, 900
    response = signed_in.post(usage_url, data)
    assert response["Location"] == reverse("scenarios:guided_run", args=[scenario.pk])
    for tier in (pro, pro.live_tier):
        usage = UsageDistribution.objects.get(tier=tier, workload=chat, segment=None)
        assert (usage.kind, usage.median, usage.p90) == ("lognormal", 100, 900)

    response = signed_in.post(
        reverse("scenarios:guided_run", args=[scenario.pk]), {"simulated_users": 5_000, "horizon_months": 6}
    )
    run = SimulationRun.objects.get(scenario=scenario)
    assert response["Location"] == reverse("runs:detail", args=[run.pk])
    assert (run.users, run.status, run.snapshot["scenario"]["horizon_months"]) == (5_000, "queued", 6)


def _error_ids(response: Any) -> str:
    return response.content.decode()


def test_guided_forms_answer_400_naming_the_field(
    signed_in: Client, organization: Organization, priced_models: dict[str, Any]
) -> None:
    url = reverse("scenarios:guided_plan")
    response = signed_in.post(url, {**PLAN, "tier_1_monthly_fee": ""})
    assert response.status_code == 400 and 'id="id_tier_1_monthly_fee_error"' in _error_ids(response)
    response = signed_in.post(url, {**PLAN, "tier_0_included_credits": "50", "tier_0_hard_cap_credits": "20"})
    assert response.status_code == 400 and 'id="id_tier_0_hard_cap_credits_error"' in _error_ids(response)
    response = signed_in.post(url, {**PLAN, "tier_2_subscribers": "5"})
    assert response.status_code == 400 and 'id="id_tier_2_name_error"' in _error_ids(response)
    assert not Product.objects.exists()

    signed_in.post(url, PLAN)
    scenario = Scenario.objects.get()
    workloads_url = reverse("scenarios:guided_workloads", args=[scenario.pk])
    response = signed_in.post(workloads_url, {"name": "Chat", "preset": "chat", "model": "acme/none"})
    assert response.status_code == 400 and 'id="id_model_error"' in _error_ids(response)
    # usage before any workload goes back to step 2
    assert signed_in.get(reverse("scenarios:guided_usage", args=[scenario.pk]))["Location"] == workloads_url

    signed_in.post(workloads_url, {"name": "Chat", "preset": "chat", "model": "openai/gpt-4o"})
    usage_url = reverse("scenarios:guided_usage", args=[scenario.pk])
    form = signed_in.get(usage_url).context["form"]
    data = {name: form[name].initial for name in form.fields}
    cell = next(name for name in form.fields if name.endswith("_p90"))
    response = signed_in.post(usage_url, {**data, cell: 0.5})
    assert response.status_code == 400 and f'id="id_{cell}_error"' in _error_ids(response)

    run_url = reverse("scenarios:guided_run", args=[scenario.pk])
    response = signed_in.post(run_url, {"simulated_users": 10, "horizon_months": 12})
    assert response.status_code == 400 and 'id="id_simulated_users_error"' in _error_ids(response)
    assert not SimulationRun.objects.exists()


def test_guided_steps_of_another_organisation_are_404(
    signed_in: Client, other_client: Client, organization: Organization, priced_models: dict[str, Any]
) -> None:
    signed_in.post(reverse("scenarios:guided_plan"), PLAN)
    scenario = Scenario.objects.get()
    for name in ("guided_workloads", "guided_usage", "guided_run"):
        assert other_client.get(reverse(f"scenarios:{name}", args=[scenario.pk])).status_code == 404
