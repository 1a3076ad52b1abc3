"""API fixtures: organisations A (``organization``, with a product, scenario and run) and B,
API keys, and clients authenticated with them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from planner.accounts.api_keys import api_key_create, api_key_revoke
from planner.accounts.models import ApiKey, Organization
from planner.actuals.compat.mappings import billing_mapping_save
from planner.actuals.compat.models import IngestionError
from planner.actuals.models import Customer
from planner.alerts.channels import alert_channel_create
from planner.alerts.rules import alert_rule_create
from planner.prices.self_hosted import self_hosted_create
from planner.prices.sheets import price_sheet_create, price_sheet_entry_add
from planner.products.models import Product
from planner.products.segments import segment_create
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.optimizations import ConstraintRequest, VaryRequest, optimization_start
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

ALL_SCOPES = list(ApiKey.SCOPES)
KeyClient = Callable[..., APIClient]


def client_for(key: str | None) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def key_client(organization: Organization) -> KeyClient:
    """``key_client(scopes=[...], organization=...)``: a client with a fresh key."""

    def build(*, scopes: list[str] | None = None, organization: Organization = organization) -> APIClient:
        _, plain = api_key_create(organization=organization, name="test", scopes=scopes or ALL_SCOPES)
        return client_for(plain)

    return build


@pytest.fixture
def other_organization(db: None) -> Organization:
    return OrganizationFactory.create(name="Rival Labs", slug="rival-labs")


@pytest.fixture
def other_user(other_organization: Organization) -> User:
    user = UserFactory.create(username="mallory")
    MembershipFactory.create(user=user, organization=other_organization)
    return user


@pytest.fixture
def revoked_key(organization: Organization) -> str:
    api_key, plain = api_key_create(organization=organization, name="old", scopes=ALL_SCOPES)
    api_key_revoke(api_key=api_key)
    return plain


@pytest.fixture
def seeded(product: Product, scenario: Scenario) -> dict[str, Any]:  # noqa: F811
    """Organisation A's objects: one of every kind the API serves (add new kinds here)."""
    run = SimulationRun.objects.create(scenario=scenario, seed=1, users=1_000, snapshot={}, blocks_total=1)
    customer = Customer.objects.create(organization=product.organization, external_id="seeded-customer")
    alert_channel, _ = alert_channel_create(
        organization=product.organization,
        name="Seeded channel",
        kind="webhook",
        url="https://hooks.example.com/seeded-channel",
    )
    alert_rule = alert_rule_create(
        organization=product.organization,
        name="Seeded alert",
        metric="underwater_share",
        comparator="gt",
        threshold=Decimal("10"),
        recipients=["seeded@example.com"],
    )
    price_sheet = price_sheet_create(
        organization=product.organization, name="Seeded sheet", effective_from=dt.date(2026, 1, 1)
    )
    price_sheet_entry_add(
        sheet=price_sheet,
        row={"kind": "private", "slug": "seeded-private", "input_mtok": "1", "output_mtok": "2"},
    )
    deployment = self_hosted_create(
        organization=product.organization,
        data={
            "name": "Seeded deployment",
            "gpu_hourly_cost": Decimal("2.50"),
            "gpus_per_replica": 2,
            "input_tokens_per_second": 5_000.0,
            "output_tokens_per_second": 1_000.0,
            "target_utilization": 0.6,
        },
    )
    segment = segment_create(tier=scenario.tiers.get(name="Pro"), name="Seeded segment", share=1.0)
    optimization = optimization_start(
        scenario=scenario,
        tier="Pro",
        vary=[VaryRequest("cap", 0, 1000, 1)],
        constraints=[ConstraintRequest("underwater_share", max=0.05)],
        users=1_000,
    )
    replay = SimulationRun.objects.create(
        kind=SimulationRun.Kind.REPLAY,
        organization=product.organization,
        seed=0,
        users=1,
        snapshot={},
        spec={"request": {"product": product.pk, "scenario": None, "from": "2026-01", "to": "2026-01"}},
        blocks_total=1,
    )
    billing_mapping = billing_mapping_save(
        organization=product.organization,
        vendor="lago",
        data={
            "customer_field": "seeded-mapping-field",
            "default_tier": product.all_tiers.get(scenario__isnull=True, name="Pro").pk,
        },
        partial=False,
    )
    ingestion_error = IngestionError.objects.create(
        organization=product.organization,
        vendor="stripe",
        received_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        event_key="seeded-ingestion-error",
        reason="No model 'acme/seeded' in the price catalog.",
    )
    return {
        "billing_mapping": billing_mapping,
        "ingestion_error": ingestion_error,
        "optimization": optimization,
        "replay": replay,
        "product": product,
        "scenario": scenario,
        "segment": segment,
        "run": run,
        "customer": customer,
        "alert_rule": alert_rule,
        "alert_channel": alert_channel,
        "price_sheet": price_sheet,
        "self_hosted": deployment,
    }


def user_client(user: User, *, organization_slug: str | None = None) -> APIClient:
    client = APIClient()
    client.force_login(user)
    if organization_slug is not None:
        client.credentials(HTTP_X_ORGANIZATION=organization_slug)
    return client
