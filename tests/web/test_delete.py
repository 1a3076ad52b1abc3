"""Deleting a scenario or a whole product from the editor: a confirmation page that says what
goes with it, then a POST; viewers and other organisations get 404; a product whose tiers
carry customers' history is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Membership, Organization
from planner.actuals.models import Customer, CustomerTierPeriod
from planner.products.models import Product
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario, SimulationRun

pytestmark = pytest.mark.django_db


def test_editor_offers_both_deletions_to_editors_only(
    signed_in: Client, client: Client, scenario: Scenario, organization: Organization
) -> None:
    page = signed_in.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    assert reverse("scenarios:delete", args=[scenario.pk]) in page
    assert reverse("scenarios:product_delete", args=[scenario.pk]) in page
    viewer = User.objects.create_user("vic", password="pw")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    page = client.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    assert reverse("scenarios:delete", args=[scenario.pk]) not in page
    for name in ("scenarios:delete", "scenarios:product_delete"):
        assert client.get(reverse(name, args=[scenario.pk])).status_code == 404
        assert client.post(reverse(name, args=[scenario.pk])).status_code == 404
    assert Scenario.objects.filter(pk=scenario.pk).exists()


def test_scenario_delete_confirms_then_deletes_with_its_runs(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    url = reverse("scenarios:delete", args=[scenario.pk])
    confirm = signed_in.get(url)
    assert confirm.status_code == 200
    assert confirm.context["summary"].runs == 1 and "1 run and its results" in confirm.content.decode()
    assert Scenario.objects.filter(pk=scenario.pk).exists()  # a GET changes nothing
    done = signed_in.post(url, follow=True)
    assert done.redirect_chain[-1][0] == reverse("dashboard")
    assert "Scenario “Baseline” and its runs deleted." in done.content.decode()
    assert not Scenario.objects.filter(pk=scenario.pk).exists()
    assert not SimulationRun.objects.filter(pk=finished_run.pk).exists()


def test_product_delete_takes_everything_of_the_product(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    product = scenario.product
    url = reverse("scenarios:product_delete", args=[scenario.pk])
    summary = signed_in.get(url).context["summary"]
    assert (summary.scenarios, summary.runs, summary.blocked_by_customers) == (1, 1, 0)
    assert (
        summary.tiers == product.all_tiers.count() > 0 and summary.workloads == product.workloads.count() > 0
    )
    assert signed_in.post(url).status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()
    assert not SimulationRun.objects.filter(pk=finished_run.pk).exists()


def test_product_with_customers_on_its_tiers_is_not_deleted(
    signed_in: Client, scenario: Scenario, organization: Organization
) -> None:
    customer = Customer.objects.create(organization=organization, external_id="cus-1")
    CustomerTierPeriod.objects.create(
        customer=customer, tier=live_tiers(scenario.product).all()[0], effective_from=dt.date(2026, 1, 1)
    )
    url = reverse("scenarios:product_delete", args=[scenario.pk])
    page = signed_in.get(url).content.decode()
    assert "It cannot be deleted: 1 customer of your actual usage is on its tiers" in page
    refused = signed_in.post(url)
    assert refused.status_code == 409 and Product.objects.filter(pk=scenario.product_id).exists()


def test_other_organisations_cannot_delete(other_client: Client, scenario: Scenario) -> None:
    for name in ("scenarios:delete", "scenarios:product_delete"):
        assert other_client.get(reverse(name, args=[scenario.pk])).status_code == 404
        assert other_client.post(reverse(name, args=[scenario.pk])).status_code == 404
    assert Scenario.objects.filter(pk=scenario.pk).exists()
