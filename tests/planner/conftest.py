"""Fixtures for planner tests that simulate: real catalog prices for the fixture models."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from genai_prices import data as genai_data

from planner.products.models import Product
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create
from pricing.catalog import catalog_import

PRICED_MODELS = {"gpt-4o-mini", "gpt-4o", "o3"}


@pytest.fixture
def priced_models(ai_models: dict[str, Any]) -> dict[str, Any]:
    """Import the real catalog prices of the three fixture models (only those, to stay fast)."""
    openai = next(p for p in genai_data.providers if p.id == "openai")
    only = dataclasses.replace(openai, models=[m for m in openai.models if m.id in PRICED_MODELS])
    catalog_import(providers=[only])
    return ai_models


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
