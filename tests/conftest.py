"""Shared fixtures: a user in an organisation, catalog models, and a product built through the
services. The header line says which database and broker the suite runs on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from genai_prices import data as genai_data
from kombu.utils.url import maybe_sanitize_url

from planner.accounts.models import Organization
from planner.products.models import Product
from planner.products.services import product_create, tier_create, usage_distribution_set, workload_create
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create
from pricing.catalog import catalog_import
from pricing.models import AIModel
from tests.factories import (
    AIModelFactory,
    MembershipFactory,
    OrganizationFactory,
    ProviderFactory,
    UserFactory,
)


def pytest_report_header(config: pytest.Config) -> list[str]:
    database = settings.DATABASES["default"]
    vendor = str(database["ENGINE"]).rsplit(".", 1)[-1]
    if vendor == "sqlite3":
        test_name = database.get("TEST", {}).get("NAME")  # type: ignore[attr-defined]
        where = f"sqlite3 (embedded default; test database file {test_name})"
    else:
        host = f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 5432}"
        where = f"{vendor} on {host} (database test_{database['NAME']})"
    return [f"margin planner: database {where}; broker {maybe_sanitize_url(settings.CELERY_BROKER_URL)}"]


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Throttle counters, verified API keys and rendered run documents live in the caches:
    every test starts from empty ones (ids are reused after a rolled-back test)."""
    for alias in settings.CACHES:
        caches[alias].clear()


@pytest.fixture
def user(db: None) -> User:
    return UserFactory.create(username="alice")


@pytest.fixture
def organization(user: User) -> Organization:
    """An organisation in which ``user`` is the owner."""
    return MembershipFactory.create(
        user=user, organization=OrganizationFactory.create(name="Acme AI", slug="acme-ai")
    ).organization


@pytest.fixture
def ai_models(db: None) -> dict[str, AIModel]:
    """Three catalog models (no prices): a small, a frontier and a reasoning model."""
    openai = ProviderFactory.create(slug="openai", name="OpenAI")
    return {
        "small": AIModelFactory.create(provider=openai, slug="gpt-4o-mini"),
        "frontier": AIModelFactory.create(provider=openai, slug="gpt-4o"),
        "reasoning": AIModelFactory.create(provider=openai, slug="o3"),
    }


ProductFactory = Callable[..., Product]


@pytest.fixture
def product_factory(organization: Organization, ai_models: dict[str, AIModel]) -> ProductFactory:
    """Build a product through the services: tiers Free and Pro, workloads chat and agent,
    lognormal usage for every pair. Keyword arguments override the product's fields."""

    def build(*, name: str = "Copilot", organization: Organization = organization, **fields: Any) -> Product:
        product = product_create(organization=organization, name=name, **fields)
        free = tier_create(
            product=product, name="Free", included_credits=30.0, hard_cap_credits=30.0, subscribers=700
        )
        pro = tier_create(
            product=product,
            name="Pro",
            monthly_fee=Decimal("20"),
            payment_fee_pct=Decimal("0.029"),
            payment_fee_fixed=Decimal("0.30"),
            subscribers=300,
            churn_monthly=0.04,
        )
        chat = workload_create(
            product=product,
            name="Chat",
            credits_per_request=1.0,
            input_tokens_median=800.0,
            input_tokens_p90=3_000.0,
            output_tokens_median=300.0,
            output_tokens_p90=1_200.0,
            models=[(ai_models["small"], 0.7), (ai_models["frontier"], 0.3)],
        )
        agent = workload_create(
            product=product,
            name="Agent",
            credits_per_request=10.0,
            input_tokens_median=4_000.0,
            input_tokens_p90=16_000.0,
            output_tokens_median=400.0,
            output_tokens_p90=2_000.0,
            reasoning_tokens_median=2_000.0,
            reasoning_tokens_p90=8_000.0,
            calls_per_request_median=10.0,
            calls_per_request_p90=30.0,
            models=[(ai_models["frontier"], 0.8), (ai_models["reasoning"], 0.2, "", True)],
        )
        for tier, factor in ((free, 1 / 3), (pro, 1.0)):
            usage_distribution_set(
                tier=tier, workload=chat, kind="lognormal", median=40 * factor, p90=240 * factor
            )
            usage_distribution_set(
                tier=tier, workload=agent, kind="lognormal", median=1 * factor, p90=6 * factor
            )
        return product

    return build


@pytest.fixture
def product(product_factory: ProductFactory) -> Product:
    return product_factory()


# --- A priced scenario (real catalog prices for the fixture models) ---

PRICED_MODELS = {"gpt-4o-mini", "gpt-4o", "o3"}


@pytest.fixture
def priced_models(ai_models: dict[str, Any]) -> dict[str, Any]:
    """Import the real catalog prices of the three fixture models (only those, to stay fast)."""
    openai = next(p for p in genai_data.providers if p.id == "openai")
    only = dataclasses.replace(openai, models=[m for m in openai.models if m.id in PRICED_MODELS])
    catalog_import(providers=[only])
    return ai_models


@pytest.fixture
def template_catalog(db: None) -> None:
    """The real catalog prices of the product templates' models only (the whole catalog takes
    longer): ``planner/simulation/product_templates/``."""
    from planner.simulation.templates_catalog import product_templates

    wanted: dict[str, set[str]] = {}
    for template in product_templates():
        keys = [entry["model"] for w in template.document["product"]["workloads"] for entry in w["models"]]
        keys += [
            lever["routing_model"]
            for lever in template.document["plan"]["levers"]
            if lever.get("routing_model")
        ]
        for key in keys:
            provider, slug = key.split("/")
            wanted.setdefault(provider, set()).add(slug)
    catalog_import(
        providers=[
            dataclasses.replace(provider, models=[m for m in provider.models if m.id in wanted[provider.id]])
            for provider in genai_data.providers
            if provider.id in wanted
        ]
    )


@pytest.fixture
def scenario(product: Product, priced_models: dict[str, Any]) -> Scenario:
    return scenario_create(
        product=product,
        name="Baseline",
        horizon_months=3,
        simulated_users=20_000,
        seed=42,
        levers=[{"key": "cache", "label": "Response cache 30%", "response_cache_hit_rate": 0.3}],
    )
