"""The product page and its live plan: live tiers only (a scenario's tier id is a 404), edits
that change the live plan and never a scenario's copy, usage of a live tier, a new scenario
copied from the live plan, tenancy, viewers, and the page's query budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Membership, Organization
from planner.actuals.models import Customer, CustomerTierPeriod
from planner.products.models import Product, Tier, UsageDistribution
from planner.products.selectors import live_tiers
from planner.products.services import tier_update
from planner.simulation.models import Scenario
from planner.web.forms.scenarios import TierForm

pytestmark = pytest.mark.django_db


def _live(product: Product, name: str) -> Tier:
    return live_tiers(product).get(name=name)


def _tier_data(tier: Tier, **changes: Any) -> dict[str, Any]:
    """The tier form's fields as the page would post them, with ``changes``."""
    form = TierForm(instance=tier)  # what the inputs show: rates in percent
    data = {name: "" if form[name].value() is None else form[name].value() for name in TierForm.Meta.fields}
    data.update(changes)
    return data


def _viewer_client(client: Client, organization: Organization) -> Client:
    viewer = get_user_model().objects.create_user("vera", password="pw")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    return client


def test_page_shows_the_live_plan_only_within_a_query_budget(
    signed_in: Client, scenario: Scenario, django_assert_max_num_queries: Any
) -> None:
    product = scenario.product
    tier_update(tier=scenario.tiers.get(name="Pro"), data={"name": "Scenario Pro"})
    with django_assert_max_num_queries(12):
        response = signed_in.get(reverse("products:detail", args=[product.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert [t.name for t in response.context["tiers"]] == ["Free", "Pro"]
    assert all(t.scenario_id is None for t in response.context["tiers"])
    assert "Scenario Pro" not in html
    assert "The live plan is what your real customers are on" in html
    pro = _live(product, "Pro")
    assert reverse("products:tier_edit", args=[product.pk, pro.pk]) in html
    assert reverse("products:tier_new", args=[product.pk]) in html
    chat = product.workloads.get(name="Chat")
    assert reverse("products:usage_edit", args=[product.pk, pro.pk, chat.pk]) in html
    assert reverse("scenarios:workload_edit", args=[scenario.pk, chat.pk]) in html  # first scenario
    assert reverse("scenarios:editor", args=[scenario.pk]) in html
    assert "New scenario from the live plan" in html
    # Each usage cell is the live tier's own distribution.
    rows = dict(response.context["usage_rows"])
    assert all(d is not None and d.tier.scenario_id is None for cells in rows.values() for _, d in cells)


def test_workloads_are_not_linked_without_a_scenario(signed_in: Client, product: Product) -> None:
    response = signed_in.get(reverse("products:detail", args=[product.pk]))
    assert response.status_code == 200
    assert response.context["workload_scenario"] is None
    assert "/workloads/" not in response.content.decode()


def test_editing_a_live_tier_changes_the_live_plan_not_the_scenarios_copy(
    signed_in: Client, scenario: Scenario
) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    url = reverse("products:tier_edit", args=[product.pk, pro.pk])
    page = signed_in.get(url)
    assert page.status_code == 200 and '<label for="id_monthly_fee">' in page.content.decode()
    response = signed_in.post(url, _tier_data(pro, monthly_fee="29"))
    assert response.status_code == 302
    assert response["Location"] == reverse("products:detail", args=[product.pk]) + "#live-plan"
    pro.refresh_from_db()
    assert pro.monthly_fee == Decimal("29")
    assert scenario.tiers.get(name="Pro").monthly_fee == Decimal("20")


def test_a_live_tier_form_shows_field_errors(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    url = reverse("products:tier_edit", args=[product.pk, pro.pk])
    response = signed_in.post(url, _tier_data(pro, name="Free"))
    assert response.status_code == 400
    assert "already exists in the live plan" in response.context["form"].errors["name"][0]
    assert 'id="id_name_error"' in response.content.decode()


def test_adding_a_live_tier_leaves_scenarios_alone(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    data = _tier_data(Tier(), name="Team", monthly_fee="99", subscribers="10")
    response = signed_in.post(reverse("products:tier_new", args=[product.pk]), data)
    assert response.status_code == 302
    team = _live(product, "Team")
    assert team.scenario_id is None and team.monthly_fee == Decimal("99")
    assert not scenario.tiers.filter(name="Team").exists()


def test_deleting_a_live_tier_keeps_the_scenarios_copy(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    response = signed_in.post(reverse("products:tier_delete", args=[product.pk, pro.pk]), follow=True)
    assert response.status_code == 200
    assert "Live tier “Pro” deleted." in response.content.decode()
    assert not live_tiers(product).filter(name="Pro").exists()
    copy = scenario.tiers.get(name="Pro")
    assert copy.live_tier_id is None


def test_a_live_tier_with_customers_history_is_not_deleted(
    signed_in: Client, scenario: Scenario, organization: Organization
) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    customer = Customer.objects.create(organization=organization, external_id="cus-1")
    CustomerTierPeriod.objects.create(customer=customer, tier=pro, effective_from=dt.date(2026, 1, 1))
    response = signed_in.post(reverse("products:tier_delete", args=[product.pk, pro.pk]), follow=True)
    assert response.status_code == 200
    assert "cannot be deleted: the tier history of 1 customer of your actual usage" in (
        response.content.decode()
    )
    assert Tier.objects.filter(pk=pro.pk).exists()
    assert UsageDistribution.objects.filter(tier=pro).count() == 2


def test_a_scenarios_tier_is_404_on_the_live_tier_urls(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    copy = scenario.tiers.get(name="Pro")
    chat = product.workloads.get(name="Chat")
    edit = reverse("products:tier_edit", args=[product.pk, copy.pk])
    assert signed_in.get(edit).status_code == 404
    assert signed_in.post(edit, _tier_data(copy, monthly_fee="1")).status_code == 404
    assert signed_in.post(reverse("products:tier_delete", args=[product.pk, copy.pk])).status_code == 404
    usage = reverse("products:usage_edit", args=[product.pk, copy.pk, chat.pk])
    assert signed_in.get(usage).status_code == 404
    assert signed_in.post(usage, {"kind": "gamma", "mean": 3, "shape": 1}).status_code == 404
    copy.refresh_from_db()
    assert copy.monthly_fee == Decimal("20")
    assert UsageDistribution.objects.get(tier=copy, workload=chat).kind == "lognormal"


def test_a_tier_of_another_product_is_404(
    signed_in: Client, scenario: Scenario, product_factory: Any
) -> None:
    other = product_factory(name="Other")
    response = signed_in.get(
        reverse("products:tier_edit", args=[scenario.product.pk, _live(other, "Pro").pk])
    )
    assert response.status_code == 404


def test_usage_edit_of_a_live_tier(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    chat = product.workloads.get(name="Chat")
    url = reverse("products:usage_edit", args=[product.pk, pro.pk, chat.pk])
    page = signed_in.get(url)
    assert page.status_code == 200 and '<label for="id_median">' in page.content.decode()
    response = signed_in.post(url, {"kind": "lognormal", "median": 50, "p90": 10})
    assert response.status_code == 400 and "below the median" in response.context["form"].errors["p90"][0]
    response = signed_in.post(url, {"kind": "gamma", "mean": 30, "shape": 0.7})
    assert response.status_code == 302
    assert response["Location"] == reverse("products:detail", args=[product.pk]) + "#usage"
    live = UsageDistribution.objects.get(tier=pro, workload=chat)
    assert (live.kind, live.mean, live.shape) == ("gamma", 30, 0.7)
    copy = UsageDistribution.objects.get(tier=scenario.tiers.get(name="Pro"), workload=chat)
    assert (copy.kind, copy.median) == ("lognormal", 40)


def test_new_scenario_from_the_live_plan_copies_it(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    tier_update(tier=pro, data={"monthly_fee": Decimal("35")})
    url = reverse("products:scenario_new", args=[product.pk])
    response = signed_in.post(url, {"name": "Price test"})
    created = Scenario.objects.get(product=product, name="Price test")
    assert response.status_code == 302
    assert response["Location"] == reverse("scenarios:editor", args=[created.pk])
    copies = {t.name: t for t in created.tiers.all()}
    assert set(copies) == {"Free", "Pro"}
    assert copies["Pro"].live_tier_id == pro.pk and copies["Pro"].monthly_fee == Decimal("35")
    assert UsageDistribution.objects.filter(tier__scenario=created).count() == 4
    assert scenario.tiers.get(name="Pro").monthly_fee == Decimal("20")  # the older copy stays
    assert signed_in.get(url).status_code == 405


def test_new_scenario_with_a_taken_name_shows_the_error(signed_in: Client, scenario: Scenario) -> None:
    product = scenario.product
    response = signed_in.post(reverse("products:scenario_new", args=[product.pk]), {"name": "Baseline"})
    assert response.status_code == 400
    assert "already exists" in response.context["scenario_form"].errors["name"][0]
    assert 'id="id_name_error"' in response.content.decode()
    assert product.scenarios.count() == 1


def test_other_organisations_product_is_404(other_client: Client, scenario: Scenario) -> None:
    product = scenario.product
    pro = _live(product, "Pro")
    chat = product.workloads.get(name="Chat")
    assert other_client.get(reverse("products:detail", args=[product.pk])).status_code == 404
    assert other_client.get(reverse("products:tier_edit", args=[product.pk, pro.pk])).status_code == 404
    edit = reverse("products:tier_edit", args=[product.pk, pro.pk])
    assert other_client.post(edit, _tier_data(pro, monthly_fee="1")).status_code == 404
    assert other_client.post(reverse("products:tier_delete", args=[product.pk, pro.pk])).status_code == 404
    usage = reverse("products:usage_edit", args=[product.pk, pro.pk, chat.pk])
    assert other_client.post(usage, {"kind": "gamma", "mean": 3, "shape": 1}).status_code == 404
    assert (
        other_client.post(reverse("products:scenario_new", args=[product.pk]), {"name": "X"}).status_code
        == 404
    )
    pro.refresh_from_db()
    assert pro.monthly_fee == Decimal("20") and product.scenarios.count() == 1


def test_viewers_read_the_page_but_cannot_write(
    client: Client, organization: Organization, scenario: Scenario
) -> None:
    product = scenario.product
    viewer = _viewer_client(client, organization)
    pro = _live(product, "Pro")
    chat = product.workloads.get(name="Chat")
    page = viewer.get(reverse("products:detail", args=[product.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("products:tier_edit", args=[product.pk, pro.pk]) not in html
    assert "New scenario from the live plan" not in html
    edit = reverse("products:tier_edit", args=[product.pk, pro.pk])
    assert viewer.get(edit).status_code == 404
    assert viewer.post(edit, _tier_data(pro, monthly_fee="1")).status_code == 404
    assert viewer.post(reverse("products:tier_new", args=[product.pk]), {"name": "X"}).status_code == 404
    assert viewer.post(reverse("products:tier_delete", args=[product.pk, pro.pk])).status_code == 404
    usage = reverse("products:usage_edit", args=[product.pk, pro.pk, chat.pk])
    assert viewer.post(usage, {"kind": "gamma", "mean": 3, "shape": 1}).status_code == 404
    assert viewer.post(reverse("products:scenario_new", args=[product.pk]), {"name": "X"}).status_code == 404
    pro.refresh_from_db()
    assert pro.monthly_fee == Decimal("20") and product.scenarios.count() == 1
    assert live_tiers(product).count() == 2
