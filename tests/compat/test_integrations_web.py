"""The Integrations page: every vendor's base URL and line to copy, its mapping form (owners and
editors), refusals next to the field, viewers read only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from planner.accounts.models import Membership
from planner.actuals.compat.models import BillingMapping
from tests.compat.conftest import CompatSetup
from tests.factories import OrganizationFactory

URL = "/integrations/"


@pytest.fixture
def browser(user: User, compat: CompatSetup) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(compat: CompatSetup, vendor: str, **fields: Any) -> dict[str, Any]:
    values = {
        "token_kinds": "llm_input_tokens = input_tokens\nllm_output_tokens: output_tokens",
        "customer_field": "",
        "tier_property": "plan",
        "default_tier": compat.tiers["Free"].pk,
        "default_provider": "openai",
        "model_property": "model",
        "credits_property": "",
        **fields,
    }
    return {f"{vendor}-{name}": value for name, value in values.items()}


def test_the_page_lists_every_vendor_with_its_line(browser: Client) -> None:
    page = browser.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<a href="/integrations/" aria-current="page">Integrations</a>' in html
    for line in (
        'Client(endpoint="http://testserver/compat/openmeter", token=KEY)',
        'Client(api_key=KEY, api_url="http://testserver/compat/lago/")',
        "stripe.api_base = &quot;http://testserver/compat/stripe&quot;",
        'Metronome(bearer_token=KEY, base_url="http://testserver/compat/metronome")'.replace('"', "&quot;"),
        "base_url=&quot;http://testserver/compat/orb&quot;",
    ):
        assert line.replace('"', "&quot;") in html
    assert 'href="/integrations/errors/"' in html
    assert 'data-copy="lago-line"' in html and 'id="id_lago-token_kinds"' in html
    assert "llm_input_tokens = input_tokens" in html  # the defaults, editable


def test_saving_a_mapping(browser: Client, compat: CompatSetup) -> None:
    response = browser.post(f"{URL}lago/", form(compat, "lago"))
    assert response.status_code == 302 and response["Location"] == "/integrations/#lago"
    mapping = BillingMapping.objects.get(organization=compat.organization, vendor="lago")
    assert mapping.token_kinds == {"llm_input_tokens": "input_tokens", "llm_output_tokens": "output_tokens"}
    assert (mapping.default_tier, mapping.tier_property, mapping.customer_field) == (
        compat.tiers["Free"],
        "plan",
        "external_subscription_id",
    )
    assert "Lago mapping saved." in browser.get(URL).content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"default_provider": "nope"}, "default_provider", "No provider"),
        ({"token_kinds": "llm_input_tokens = tokens"}, "token_kinds", "choose one of"),
        ({"token_kinds": "just a name"}, "token_kinds", "Line 1"),
        ({"model_property": ""}, "model_property", "required"),
    ],
)
def test_refusals_stand_next_to_the_field(
    browser: Client, compat: CompatSetup, fields: dict[str, str], field: str, message: str
) -> None:
    response = browser.post(f"{URL}orb/", form(compat, "orb", **fields))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_orb-{field}_error"' in html and message in html
    assert not BillingMapping.objects.exists()


def test_another_organisations_tier_is_not_a_choice(
    browser: Client, compat: CompatSetup, product_factory: Any
) -> None:
    foreign = product_factory(organization=OrganizationFactory.create(slug="elsewhere")).all_tiers.first()
    response = browser.post(f"{URL}lago/", form(compat, "lago", default_tier=foreign.pk))
    assert response.status_code == 400 and 'id="id_lago-default_tier_error"' in response.content.decode()
    assert not BillingMapping.objects.exists()


def test_viewers_read_only(browser: Client, user: User, compat: CompatSetup) -> None:
    Membership.objects.filter(user=user).update(role=Membership.Role.VIEWER)
    html = browser.get(URL).content.decode()
    assert "<dt>Token kinds</dt>" in html and 'id="id_lago-token_kinds"' not in html
    assert browser.post(f"{URL}lago/", form(compat, "lago")).status_code == 404
    assert browser.get(f"{URL}lago/").status_code == 405
    assert browser.post(f"{URL}chargebee/", {}).status_code == 404
    assert not BillingMapping.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(compat: CompatSetup) -> None:
    assert Client().get(URL)["Location"].startswith("/login/")
