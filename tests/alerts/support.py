"""Helpers for the alert tests: the clock, actual usage written straight into the rollup, a real
SMTP server (``planner.devtools.smtp_sink``) that Django's SMTP backend sends to, and HTTP
receivers for channels (``planner.devtools.webhook_sink``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from planner.accounts.models import Organization
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod
from planner.alerts.models import AlertRule
from planner.devtools.smtp_sink import SmtpSink
from planner.devtools.webhook_sink import WebhookSink
from planner.products.models import Tier

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # 09:00 in New York, after the 08:00 daily tick
NOVEMBER = date(2026, 11, 1)
RuleFactory = Callable[..., AlertRule]


def usage_month(*, tier: Tier, period: date, costs: dict[str, Decimal]) -> None:
    """Customers on ``tier`` from the first of ``period``'s month with these COGS in that month
    (only the rollup: margins are computed from it)."""
    organization: Organization = tier.product.organization
    start = period.replace(day=1)
    for external_id, cost in costs.items():
        customer, _ = Customer.objects.get_or_create(organization=organization, external_id=external_id)
        CustomerTierPeriod.objects.get_or_create(
            customer=customer, effective_from=start, defaults={"tier": tier}
        )
        CustomerMonth.objects.create(
            organization=organization, customer=customer, period=start, requests=10, cost=cost
        )


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server on a free local port; mail in the test goes there over SMTP."""
    with SmtpSink() as sink, override_settings(**sink.settings()):
        yield sink


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A generic webhook receiver on a free local port (answers 200)."""
    with WebhookSink(mode="webhook") as sink:
        yield sink


@pytest.fixture
def slack_sink() -> Iterator[WebhookSink]:
    """A Slack-shaped receiver on a free local port (answers 200 ``ok``)."""
    with WebhookSink(mode="slack") as sink:
        yield sink
