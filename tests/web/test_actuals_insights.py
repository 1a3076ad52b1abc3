"""The actuals page's charts (margin histogram, COGS concentration, month-by-month trend) and a
customer's page (issue #15, item 4): figures by the report's one billing rule, constant queries."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from planner.actuals.insights import cogs_concentration, customer_history, margin_histogram, monthly_trend
from planner.actuals.models import Customer
from planner.actuals.rollup import customer_months_fold, journal_enabled
from planner.actuals.selectors import CustomerMargin, customer_margins_for_period, tier_margins_for_period
from planner.devtools.demo import demo_seed

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)
MONTHS = [dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)]


def margin(value: float, *, cogs: float = 1.0, paying: bool = True) -> CustomerMargin:
    zero = Decimal(0)
    return CustomerMargin(
        customer_id=1, external_id="c", tier_id=1, tier_name="Pro", billed_days=30, requests=1,
        credits=zero, fee_revenue=zero, overage_credits=zero, overage_revenue=zero, payment_fees=zero,
        revenue=zero, cogs=Decimal(str(cogs)), margin=Decimal(str(value)), paying=paying,
        underwater=paying and value < 0,
    )  # fmt: skip


def test_the_histogram_has_an_edge_at_zero_and_counts_only_paying_customers() -> None:
    customers = [margin(-7.5), margin(-1), margin(2), margin(3), margin(12), margin(-50, paying=False)]
    histogram = margin_histogram(customers)
    assert any(abs(e) < 1e-9 for e in histogram["edges"])
    assert sum(histogram["counts"]) == 5
    losses = sum(c for c, loss in zip(histogram["counts"], histogram["loss"], strict=True) if loss)
    assert losses == 2  # every loss bin ends at or below 0, so no bin mixes loss and profit


def test_cogs_concentration_of_a_known_list() -> None:
    customers = [margin(0, cogs=float(c)) for c in range(1, 101)]  # COGS 1..100, total 5,050
    concentration = cogs_concentration(customers)
    assert concentration["top_1pct"] == pytest.approx(100 / 5050)
    assert concentration["top_5pct"] == pytest.approx(sum(range(96, 101)) / 5050)
    assert concentration["curve"][-1]["cogs_share"] == pytest.approx(1.0)
    assert cogs_concentration([])["top_1pct"] is None


@pytest.mark.django_db
def test_trend_and_customer_history_agree_with_the_report(
    priced_models: dict[str, Any], django_assert_num_queries: Any
) -> None:
    organization = demo_seed(now=NOW)
    customer_months_fold(organization_id=organization.pk)  # the demo's batches, journaled
    for months in (MONTHS[:1], MONTHS):
        # Three queries whatever the number of months, after the rollup journal's check on
        # PostgreSQL (nothing left to fold; SQLite has no journal).
        with django_assert_num_queries(3 + journal_enabled()):
            trend = monthly_trend(organization=organization, periods=months)
        assert [t.period for t in trend] == months
    for month in trend:
        tiers = tier_margins_for_period(organization=organization, period=month.period)
        assert month.revenue == sum((t.revenue for t in tiers), Decimal(0))
        assert month.cogs == sum((t.cogs for t in tiers), Decimal(0))
        assert month.underwater_customers == sum(t.underwater_customers for t in tiers)
    customer = Customer.objects.get(organization=organization, external_id="demo-pro-17")
    history = customer_history(organization=organization, customer=customer)
    assert [m.period for m in history] == MONTHS
    for figures in history:
        (row,) = [
            c
            for c in customer_margins_for_period(organization=organization, period=figures.period)
            if c.customer_id == customer.pk
        ]
        assert (figures.revenue, figures.cogs, figures.margin, figures.underwater) == (
            row.revenue,
            row.cogs,
            row.margin,
            row.underwater,
        )


@pytest.mark.django_db
def test_the_pages(client: Client, priced_models: dict[str, Any], other_client: Client) -> None:
    organization = demo_seed(now=NOW)
    client.force_login(organization.memberships.get().user)
    page = client.get(reverse("actuals:index"), {"period": "2026-11"})
    html = page.content.decode()
    data = json.loads(html.split('id="actuals-data" type="application/json">')[1].split("</script>")[0])
    trend = client.get(data["trend_url"]).json()["trend"]
    assert [t["period"] for t in trend] == ["2026-10", "2026-11", "2026-12"]
    assert other_client.get(data["trend_url"]).json() == {"trend": []}  # its own organisation's
    assert data["concentration"]["customers"] == 60 and 'id="chart-concentration"' in html
    customer = Customer.objects.get(organization=organization, external_id="demo-pro-17")
    link = reverse("actuals:customer", args=[customer.pk])
    assert f'href="{link}"' in html
    one = client.get(link).content.decode()
    assert "demo-pro-17" in one and 'id="chart-customer"' in one and one.count("<tr") == 4  # head + 3 months
    assert other_client.get(link).status_code == 404
