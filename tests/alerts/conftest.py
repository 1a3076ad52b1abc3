"""Alert fixtures: an organisation in New York with a live Pro tier, a month of Pro usage with
one customer underwater, and a factory of rules on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from planner.accounts.models import Organization
from planner.alerts.models import AlertRule
from planner.alerts.rules import alert_rule_create
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from tests.alerts.support import NOVEMBER, RuleFactory, usage_month


@pytest.fixture
def org(product: Product) -> Organization:
    organization = product.organization
    organization.time_zone = "America/New_York"
    organization.save()
    return organization


@pytest.fixture
def pro(product: Product) -> Tier:
    return live_tiers(product).get(name="Pro")


@pytest.fixture
def november_usage(pro: Tier) -> None:
    """Four Pro customers (revenue 19.12 each after payment fees); one is underwater by 10.88."""
    usage_month(
        tier=pro,
        period=NOVEMBER,
        costs={
            "heavy": Decimal("30"),
            "light-1": Decimal("2"),
            "light-2": Decimal("3"),
            "light-3": Decimal("4"),
        },
    )


@pytest.fixture
def make_rule(org: Organization, pro: Tier) -> RuleFactory:
    def build(**fields: Any) -> AlertRule:
        values: dict[str, Any] = {
            "organization": org,
            "name": "Pro underwater",
            "metric": AlertRule.Metric.UNDERWATER_SHARE,
            "tier": pro,
            "comparator": AlertRule.Comparator.GT,
            "threshold": Decimal("10"),
            "recipients": ["founder@example.com", "cfo@example.com"],
        }
        values.update(fields)
        return alert_rule_create(**values)

    return build
