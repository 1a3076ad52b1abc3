"""Accounts and members (planner.accounts.services), scenario duplication and usage CSV parsing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from planner.accounts.models import Membership, Organization
from planner.accounts.services import (
    member_invite,
    membership_remove,
    membership_role_set,
    organization_signup,
)
from planner.actuals.usage_csv import UsageCsvInvalid, usage_csv_records
from planner.products.models import Product
from planner.products.selectors import live_tiers
from planner.products.services import tier_create
from planner.simulation.scenarios import scenario_create, scenario_duplicate

pytestmark = pytest.mark.django_db


def test_signup_takes_a_free_slug_and_refuses_bad_currency_and_zone() -> None:
    Organization.objects.create(name="Taken", slug="nimbus")
    _, organization = organization_signup(
        username="nina", email="", password="a long enough passphrase", organization_name="Nimbus"
    )
    assert organization.slug == "nimbus-2"
    with pytest.raises(ValidationError) as error:
        organization_signup(
            username="olga",
            email="",
            password="a long enough passphrase",
            organization_name="X",
            currency="dollars",
            time_zone="Mars/Olympus",
        )
    assert set(error.value.message_dict) == {"currency", "time_zone"}
    assert not get_user_model().objects.filter(username="olga").exists()


def test_invite_twice_is_refused_and_roles_keep_an_owner(organization: Organization, user: Any) -> None:
    membership, password = member_invite(organization=organization, identifier="dan", role="editor")
    assert password and membership.user.check_password(password)
    with pytest.raises(ValidationError, match="already a member"):
        member_invite(organization=organization, identifier="dan", role="viewer")
    owner = Membership.objects.get(user=user, organization=organization)
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(membership=owner)
    membership_role_set(membership=membership, role="owner")
    membership_remove(membership=owner)
    assert list(Membership.objects.filter(organization=organization).values_list("role", flat=True)) == [
        "owner"
    ]


def test_duplicate_numbers_the_copy(product: Product) -> None:
    scenario = scenario_create(product=product, name="Plan", seed=7)
    first, second = scenario_duplicate(scenario=scenario), scenario_duplicate(scenario=scenario)
    assert (first.name, second.name, first.seed) == ("Plan (copy)", "Plan (copy 2)", 7)


def test_csv_names_tiers_by_name_and_flags_ambiguous_ones(
    product: Product, organization: Organization
) -> None:
    content = (
        b"event_id,customer,tier,timestamp,model,requests\n"
        b"a,c1,Pro,2026-11-01T10:00:00+00:00,openai/gpt-4o,3\n"
        b"b,c2,Free,2026-11-01T10:00:00+00:00,openai/gpt-4o,\n"
    )
    records = usage_csv_records(organization=organization, content=content)
    pro = live_tiers(product).get(name="Pro")
    assert records[0] == {
        "event_id": "a",
        "customer": "c1",
        "timestamp": "2026-11-01T10:00:00+00:00",
        "model": "openai/gpt-4o",
        "requests": 3,
        "tier": pro.pk,
    }
    assert "requests" not in records[1]  # empty cells keep the record's default
    other = Product.objects.create(organization=organization, name="Other")
    tier_create(product=other, name="Pro")
    with pytest.raises(UsageCsvInvalid) as error:
        usage_csv_records(organization=organization, content=content)
    assert [(e.line, e.field) for e in error.value.errors] == [(2, "tier")]
    assert "ambiguous" in error.value.errors[0].reason


def test_csv_refuses_unknown_columns_and_non_utf8(organization: Organization) -> None:
    with pytest.raises(UsageCsvInvalid) as error:
        usage_csv_records(organization=organization, content=b"event_id,customer,timestamp,colour\n")
    assert error.value.errors[0].field == "colour"
    with pytest.raises(UsageCsvInvalid, match="1 problem"):
        usage_csv_records(organization=organization, content="é".encode("latin-1"))
