"""``/api/v1/billing-mappings/``: the defaults without a row, PUT and PATCH, refusals naming the
field, scopes and roles, and a mapping taking effect on the next ingest."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from planner.accounts.api_keys import api_key_create
from planner.actuals.compat.ingest import VendorEvent, compat_ingest
from planner.actuals.compat.models import BillingMapping
from planner.actuals.models import UsageRecord
from planner.simulation.models import Scenario
from tests.compat.conftest import WHEN, CompatSetup
from tests.factories import OrganizationFactory, ProviderFactory

URL = "/api/v1/billing-mappings/"


@pytest.fixture
def api(compat: CompatSetup) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {compat.read_key}")
    return client


def errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_defaults_are_answered_without_a_row(api: APIClient) -> None:
    lago = api.get(f"{URL}lago/").json()
    assert lago["is_default"] is True and lago["default_tier"] is None
    assert lago["token_kinds"]["llm_input_tokens"] == "input_tokens"
    assert lago["customer_field"] == "external_subscription_id"
    assert api.get(f"{URL}openmeter/").json()["token_kinds"] == {"prompt": "multi"}
    listed = api.get(URL).json()
    assert [row["vendor"] for row in listed] == ["openmeter", "lago", "stripe", "metronome", "orb"]
    assert api.get(f"{URL}chargebee/").status_code == 404
    assert not BillingMapping.objects.exists()


def test_put_replaces_and_patch_changes_the_fields_given(api: APIClient, compat: CompatSetup) -> None:
    pro = compat.tiers["Pro"]
    put = api.put(
        f"{URL}metronome/",
        {"token_kinds": {"llm_usage": "multi"}, "default_tier": pro.pk, "default_provider": "openai"},
        format="json",
    )
    assert put.status_code == 200, put.content
    body = put.json()
    assert (body["is_default"], body["default_tier"], body["model_property"]) == (False, pro.pk, "model")
    assert body["customer_field"] == "customer_id" and body["tier_property"] == "tier"
    patched = api.patch(f"{URL}metronome/", {"credits_property": "credits"}, format="json").json()
    assert (patched["credits_property"], patched["default_tier"]) == ("credits", pro.pk)
    replaced = api.put(f"{URL}metronome/", {"model_property": "llm_model"}, format="json").json()
    assert (replaced["default_tier"], replaced["credits_property"], replaced["token_kinds"]) == (
        None,
        "",
        {"*": "multi"},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token_kinds": {"llm_input_tokens": "tokens"}}, "token_kinds"),
        ({"token_kinds": ["input_tokens"]}, "token_kinds"),
        ({"token_kinds": {"": "input_tokens"}}, "token_kinds"),
        ({"default_tier": "Pro"}, "default_tier"),
        ({"default_tier": True}, "default_tier"),
        ({"default_tier": 10**30}, "default_tier"),
        ({"default_provider": "nope"}, "default_provider"),
        ({"model_property": ""}, "model_property"),
        ({"customer_field": 3}, "customer_field"),
        ({"tier_property": "x" * 101}, "tier_property"),
        ({"credits_property": "a\x00b"}, "credits_property"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_refusals_name_the_field(api: APIClient, body: dict[str, Any], field: str) -> None:
    response = api.put(f"{URL}lago/", body, format="json")
    assert response.status_code == 400
    assert list(errors(response)) == [field]
    assert not BillingMapping.objects.exists()


def test_default_tier_must_be_a_live_tier_of_the_callers_organisation(
    api: APIClient, compat: CompatSetup, product_factory: Any, scenario: Scenario
) -> None:
    other = product_factory(organization=OrganizationFactory.create(slug="elsewhere"))
    foreign = other.all_tiers.get(name="Pro")
    response = api.patch(f"{URL}lago/", {"default_tier": foreign.pk}, format="json")
    assert response.status_code == 400 and "default_tier" in errors(response)
    scenario_tier = scenario.tiers.get(name="Pro")
    response = api.patch(f"{URL}lago/", {"default_tier": scenario_tier.pk}, format="json")
    assert response.status_code == 400 and "default_tier" in errors(response)


def test_a_body_that_is_not_an_object_is_refused(api: APIClient) -> None:
    response = api.put(f"{URL}lago/", [1, 2], format="json")
    assert response.status_code == 400


def test_scopes_and_roles(compat: CompatSetup, user: Any) -> None:
    _, read_only = api_key_create(organization=compat.organization, name="ro", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {read_only}")
    assert client.get(f"{URL}lago/").status_code == 200
    assert client.patch(f"{URL}lago/", {"default_provider": "openai"}, format="json").status_code == 403
    ingest = APIClient()
    ingest.credentials(HTTP_AUTHORIZATION=f"Api-Key {compat.key}")
    assert ingest.get(f"{URL}lago/").status_code == 403
    member = APIClient()
    member.force_login(user)
    assert member.patch(f"{URL}lago/", {"default_provider": "openai"}, format="json").status_code == 200
    assert APIClient().get(f"{URL}lago/").status_code in (401, 403)


def test_a_saved_mapping_takes_effect_on_the_next_ingest(api: APIClient, compat: CompatSetup) -> None:
    ProviderFactory.create(slug="azure")
    response = api.put(
        f"{URL}lago/",
        {
            "token_kinds": {"prompt_tokens": "input_tokens"},
            "customer_field": "account",
            "tier_property": "plan",
            "model_property": "llm",
        },
        format="json",
    )
    assert response.status_code == 200
    event = VendorEvent(
        key="t1",
        source="",
        name="prompt_tokens",
        customer="ignored-subscription",
        timestamp=WHEN,
        properties={"value": "7", "llm": "gpt-4o", "plan": "Free", "account": "acct-9"},
        value="7",
    )
    assert compat_ingest(organization=compat.organization, vendor="lago", events=[event], partial=False)[
        0
    ].status == ("created")
    record = UsageRecord.objects.select_related("customer").get()
    assert (record.customer.external_id, record.input_tokens) == ("acct-9", 7)
    assert record.customer.tier_periods.get().tier == compat.tiers["Free"]
