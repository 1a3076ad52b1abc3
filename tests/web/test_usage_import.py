"""The usage CSV import by product and names (issue 19): the product picker on the actuals page,
tier and workload names resolved among that product's live tiers, ids still accepted, errors that
name the line and column and list the tiers there are, the ids shown on the page, and tier
pickers of live tiers only."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from planner.actuals.models import CustomerTierPeriod, UsageRecord
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario
from planner.web.forms.actuals import LiveTierChoiceField
from planner.web.forms.integrations import BillingMappingForm

pytestmark = pytest.mark.django_db

HEADER = "event_id,customer,tier,timestamp,model,workload,input_tokens,output_tokens,requests\n"


def _csv(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("usage.csv", (HEADER + "".join(f"{row}\n" for row in rows)).encode())


def _row(event: str, tier: str, workload: str = "Chat") -> str:
    return f"{event},cust-{event},{tier},2026-11-02T10:00:00+00:00,openai/gpt-4o,{workload},1000,200,1"


@pytest.fixture
def two_products(product_factory: Any, scenario: Scenario, priced_models: Any) -> tuple[Product, Product]:
    """The scenario's product (live Free and Pro, and the scenario's own copies of them) and a
    second product with live tiers and workloads of the same names."""
    return scenario.product, product_factory(name="Research")


def test_a_tier_name_two_products_use_imports_when_the_product_is_chosen(
    signed_in: Client, two_products: tuple[Product, Product]
) -> None:
    first, research = two_products
    upload = _csv(_row("e1", "Pro"), _row("e2", "Free", "Agent"))
    refused = signed_in.post(reverse("actuals:upload"), {"file": upload})
    assert refused.status_code == 400
    errors = refused.context["row_errors"]
    assert [(e.line, e.field) for e in errors] == [(2, "tier"), (2, "workload"), (3, "tier"), (3, "workload")]
    assert "ambiguous" in errors[
        0
    ].reason and f"Research: Pro (id {live_tiers(research).get(name='Pro').pk})" in (errors[0].reason)
    assert not UsageRecord.objects.exists()

    upload = _csv(_row("e1", "Pro"), _row("e2", "Free", "Agent"))
    done = signed_in.post(reverse("actuals:upload"), {"file": upload, "product": research.pk})
    assert done.status_code == 302
    assert set(UsageRecord.objects.values_list("workload__product", flat=True)) == {research.pk}
    tiers = dict(CustomerTierPeriod.objects.values_list("customer__external_id", "tier_id"))
    assert tiers == {
        "cust-e1": live_tiers(research).get(name="Pro").pk,
        "cust-e2": live_tiers(research).get(name="Free").pk,
    }


def test_ids_are_still_accepted_within_the_chosen_product(
    signed_in: Client, two_products: tuple[Product, Product]
) -> None:
    first, research = two_products
    pro = live_tiers(first).get(name="Pro")
    chat = first.workloads.get(name="Chat")
    upload = _csv(_row("e1", str(pro.pk), str(chat.pk)))
    assert signed_in.post(reverse("actuals:upload"), {"file": upload, "product": first.pk}).status_code == 302
    # Another product's tier id is not one of the chosen product's live tiers.
    upload = _csv(_row("e2", str(pro.pk), str(chat.pk)))
    refused = signed_in.post(reverse("actuals:upload"), {"file": upload, "product": research.pk})
    assert refused.status_code == 400
    assert [(e.line, e.field) for e in refused.context["row_errors"]] == [(2, "tier"), (2, "workload")]
    assert UsageRecord.objects.count() == 1


def test_an_unknown_tier_names_line_and_column_and_lists_the_products_tiers(
    signed_in: Client, two_products: tuple[Product, Product], scenario: Scenario
) -> None:
    first, _ = two_products
    response = signed_in.post(
        reverse("actuals:upload"),
        {"file": _csv(_row("e1", "Pro"), _row("e2", "Platinum")), "product": first.pk},
    )
    assert response.status_code == 400
    (error,) = response.context["row_errors"]
    assert (error.line, error.field) == (3, "tier")
    free, pro = live_tiers(first).get(name="Free"), live_tiers(first).get(name="Pro")
    assert error.reason == (
        f"Tier “Platinum” is not one of the live tiers of the product {first.name}; they are: "
        f"Free (id {free.pk}), Pro (id {pro.pk})."
    )
    html = response.content.decode()
    assert '<th scope="col">Line</th><th scope="col">Column</th>' in html
    assert "<td>3</td><td>tier</td>" in html
    # The scenario's copy of Pro is not a tier a customer can be on: never offered.
    assert scenario.tiers.get(name="Pro").pk not in (free.pk, pro.pk)
    assert not UsageRecord.objects.exists()


def test_the_page_preselects_the_only_product_and_shows_live_tier_ids(
    signed_in: Client, scenario: Scenario
) -> None:
    page = signed_in.get(reverse("actuals:index"))
    form = page.context["form"]
    assert form["product"].value() == scenario.product.pk
    assert [value for value, _ in form.fields["product"].choices] == [scenario.product.pk]
    html = page.content.decode()
    ids_table = html[html.index('id="csv-ids"') :]
    for tier in live_tiers(scenario.product):
        assert f'{tier.name} <span class="muted">id {tier.pk}</span>' in ids_table
    for tier in scenario.tiers.all():
        assert f"id {tier.pk}<" not in ids_table


def test_tier_pickers_list_live_tiers_grouped_by_product(two_products: tuple[Product, Product]) -> None:
    first, research = two_products
    form = BillingMappingForm(organization=first.organization)
    field = form.fields["default_tier"]
    assert isinstance(field, LiveTierChoiceField)
    assert field.queryset is not None
    offered = set(field.queryset.values_list("pk", flat=True))
    live = set(Tier.objects.filter(scenario__isnull=True).values_list("pk", flat=True))
    assert offered == live and Tier.objects.filter(scenario__isnull=False).exists()
    choices: list[Any] = list(field.choices)  # type: ignore[arg-type]
    groups = {label: [name for _, name in options] for label, options in choices[1:]}
    assert groups == {first.name: ["Free", "Pro"], research.name: ["Free", "Pro"]}
    html = str(form["default_tier"])
    assert f'<optgroup label="{research.name}">' in html
