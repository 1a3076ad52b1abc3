"""Helpers for the alert tests: actual usage written straight into the rollup, and a real SMTP
server (``planner.services.smtp_sink``) that Django's SMTP backend sends to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from django.test import override_settings

from planner.accounts.models import Organization
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod
from planner.devtools.smtp_sink import SmtpSink
from planner.products.models import Tier


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
