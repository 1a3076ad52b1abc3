"""The demo's actual usage (issue #15, item 5): two full months before the clock's and the
current month to date, priced, idempotent, growing by the days that passed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from planner.accounts.models import Organization
from planner.actuals.models import UsageRecord
from planner.actuals.selectors import tier_margins_for_period
from planner.devtools.demo import DEMO_PRODUCT_NAME, demo_seed
from planner.devtools.demo_actuals import demo_actuals_seed, demo_records, first_day
from planner.products.models import Product

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db


def test_the_demo_has_two_full_months_and_this_month_to_date(priced_models: dict[str, Any]) -> None:
    organization = demo_seed(now=NOW)
    stamps = UsageRecord.objects.filter(organization=organization).values_list("timestamp", flat=True)
    assert min(stamps).date() == first_day(NOW) == dt.date(2026, 10, 1)
    assert max(stamps) <= NOW and max(stamps).date() == NOW.date()
    october = {
        t.tier_name: t
        for t in tier_margins_for_period(organization=organization, period=dt.date(2026, 10, 1))
    }
    assert (october["Free"].customers, october["Pro"].customers, october["Team"].customers) == (24, 30, 6)
    # The demo's point: some $20 Pro customers cost more than they pay (the plan's 6.7% at scale).
    assert october["Pro"].underwater_customers >= 1 and october["Pro"].revenue > october["Pro"].cogs


def test_seeding_again_adds_only_the_days_since(priced_models: dict[str, Any]) -> None:
    organization = demo_seed(now=NOW)
    product = Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)
    before = UsageRecord.objects.count()
    again = demo_actuals_seed(organization, product, now=NOW)
    assert (again.created, again.duplicates, UsageRecord.objects.count()) == (0, before, before)
    tomorrow = NOW + dt.timedelta(days=1)
    new_day = [r for r in demo_records(product, now=tomorrow) if r["timestamp"].startswith("2026-12-08")]
    later = demo_actuals_seed(organization, product, now=tomorrow)
    assert later.created == len(new_day) > 0 and UsageRecord.objects.count() == before + len(new_day)
    assert Organization.objects.count() == 1
