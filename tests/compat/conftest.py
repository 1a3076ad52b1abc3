"""Fixtures of the billing-SDK compatibility tests: an organisation with a product (live tiers
Free and Pro), priced catalog models (openai/gpt-4o-mini, gpt-4o, o3), an ingest-scoped API key,
another organisation's key, and a twin organisation that receives the same usage natively so a
test can compare actual margins.

SDK tests need a live server (``live_server``) and therefore the transactional database: mark
them ``pytest.mark.django_db(transaction=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from planner.accounts.api_keys import api_key_create, api_key_revoke
from planner.accounts.models import ApiKey, Organization
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import USAGE_TOKEN_FIELDS, UsageRecord
from planner.actuals.parse import IngestResult
from planner.actuals.selectors import customer_margins_for_period
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from pricing.models import AIModel
from tests.conftest import ProductFactory
from tests.factories import OrganizationFactory

#: A usage month of the tests, and a moment in it (a recent past: within every vendor's window).
PERIOD = date(2025, 6, 1)
WHEN = datetime(2025, 6, 12, 10, 0, tzinfo=UTC)


@dataclass
class CompatSetup:
    """The organisation the SDKs send to, its live tiers by name and its ingest key."""

    organization: Organization
    product: Product
    tiers: dict[str, Tier]
    key: str  # plain API key, scope ingest
    api_key: ApiKey
    read_key: str  # plain API key, scopes read + write (for /api/v1/ calls)


@dataclass
class NativeTwin:
    """A second organisation with the same product, fed the same usage natively."""

    organization: Organization
    tiers: dict[str, Tier]
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, records: Iterable[Mapping[str, Any]], *, now: datetime | None = None) -> IngestResult:
        """Ingest native records; a ``tier`` given as a tier *name* becomes the twin's tier id."""
        batch = []
        for record in records:
            item = dict(record)
            if isinstance(item.get("tier"), str):
                item["tier"] = self.tiers[item["tier"]].pk
            batch.append(item)
        self.sent.extend(batch)
        return usage_records_ingest(organization=self.organization, records=batch, now=now)


def margins(organization: Organization, period: date = PERIOD) -> dict[str, tuple[Any, ...]]:
    """Each customer's month (tier name, requests, credits, revenue, cogs, margin), by external id."""
    return {
        row.external_id: (row.tier_name, row.requests, row.credits, row.revenue, row.cogs, row.margin)
        for row in customer_margins_for_period(organization=organization, period=period)
    }


def token_totals(organization: Organization) -> dict[str, dict[str, int]]:
    """Token, request and record sums per customer external id (over every record)."""
    totals: dict[str, dict[str, int]] = {}
    for record in UsageRecord.objects.filter(organization=organization).select_related("customer"):
        sums = totals.setdefault(
            record.customer.external_id, {name: 0 for name in (*USAGE_TOKEN_FIELDS, "requests", "records")}
        )
        for name in (*USAGE_TOKEN_FIELDS, "requests"):
            sums[name] += getattr(record, name)
        sums["records"] += 1
    return totals


def total_cost(organization: Organization) -> Decimal:
    return sum((record.cost for record in UsageRecord.objects.filter(organization=organization)), Decimal(0))


@pytest.fixture
def compat(product: Product, priced_models: dict[str, AIModel]) -> CompatSetup:
    organization = product.organization
    _, key = api_key_create(organization=organization, name="billing sdk", scopes=["ingest"])
    api_key = ApiKey.objects.get(organization=organization, name="billing sdk")
    _, read_key = api_key_create(organization=organization, name="reader", scopes=["read", "write"])
    return CompatSetup(
        organization=organization,
        product=product,
        tiers={tier.name: tier for tier in live_tiers(product)},
        key=key,
        api_key=api_key,
        read_key=read_key,
    )


@pytest.fixture
def foreign_key(db: None) -> str:
    """An ingest key of another organisation, which has no product (so no tiers)."""
    other = OrganizationFactory.create(name="Other Co", slug="other-co")
    return api_key_create(organization=other, name="other", scopes=["ingest"])[1]


@pytest.fixture
def revoked_key(compat: CompatSetup) -> str:
    api_key, key = api_key_create(organization=compat.organization, name="revoked", scopes=["ingest"])
    api_key_revoke(api_key=api_key)
    return key


@pytest.fixture
def read_only_key(compat: CompatSetup) -> str:
    """A key of the same organisation without the ingest scope."""
    return api_key_create(organization=compat.organization, name="read only", scopes=["read"])[1]


@pytest.fixture
def native_twin(product_factory: ProductFactory, compat: CompatSetup) -> NativeTwin:
    twin = OrganizationFactory.create(name="Twin Co", slug="twin-co")
    product = product_factory(organization=twin)
    return NativeTwin(organization=twin, tiers={tier.name: tier for tier in live_tiers(product)})
