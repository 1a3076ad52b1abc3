"""``bench_replay``'s dataset at a tiny scale: records spread over the three months, a rollup equal
to the records, costs as ingestion prices them, caps kept, and a scenario standing for the live
tiers. The generator is PostgreSQL SQL: on SQLite these tests skip (under CI they fail)."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Sum

from planner.accounts.models import Organization
from planner.actuals.models import USAGE_TOKEN_FIELDS, CustomerMonth, CustomerTierPeriod, UsageRecord
from planner.actuals.pricing import TokenColumns, cost_units
from planner.devtools.replay_benchmark import (
    MONTHS,
    SCENARIO_PRO_CAP,
    SCENARIO_TEAM_FEE,
    ReplayDataset,
    replay_dataset_create,
)
from planner.simulation.plans import scenario_tiers
from pricing.selectors import model_price_at

CUSTOMERS, RECORDS = 300, 30_000

pytestmark = pytest.mark.django_db


def _postgresql_or_skip() -> None:
    if connection.vendor == "postgresql":
        return
    reason = "bench_replay generates its data in PostgreSQL SQL; set DATABASE_URL to run this test."
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} CI runs the suite on PostgreSQL.")
    pytest.skip(reason)


@pytest.fixture
def dataset() -> ReplayDataset:
    _postgresql_or_skip()
    return replay_dataset_create(customers=CUSTOMERS, records=RECORDS)


def test_the_records_fill_the_three_months_and_the_rollup_is_their_sum(dataset: ReplayDataset) -> None:
    records = UsageRecord.objects.filter(organization=dataset.organization)
    per_month = dict(records.values_list("period").annotate(n=Count("pk")).order_by())
    assert sorted(per_month) == list(MONTHS)
    assert sum(per_month.values()) == dataset.records == RECORDS
    assert min(per_month.values()) > RECORDS / 5  # each month holds a fair share
    sums: dict[str, Any] = {
        "records": Count("pk"),
        "requests": Sum("requests"),
        "credits": Sum("credits"),
        "cost": Sum("cost"),
    }
    sums.update({name: Sum(name) for name in USAGE_TOKEN_FIELDS})
    from_records = records.values_list("customer_id", "period").annotate(**sums).order_by()
    rollup = CustomerMonth.objects.filter(organization=dataset.organization).values_list(
        "customer_id", "period", *sums
    )
    expected = {row[:2]: row[2:] for row in from_records}
    assert {row[:2]: row[2:] for row in rollup} == expected
    assert len(expected) > 0.95 * CUSTOMERS * len(MONTHS)


def test_each_record_is_priced_with_the_row_in_force_as_ingestion_would(dataset: ReplayDataset) -> None:
    records = UsageRecord.objects.filter(organization=dataset.organization).order_by("pk")
    every_150th = list(records.values_list("pk", flat=True))[::150]
    sample = list(records.filter(pk__in=every_150th).select_related("model__provider", "price"))
    assert {r.model.slug for r in sample} == {"gpt-4o", "gpt-4o-mini"}
    assert {r.workload_id for r in sample} == {w.pk for w in dataset.workloads.values()}
    assert any(r.cached_tokens for r in sample)
    for record in sample[:20]:
        in_force = model_price_at(
            provider_slug=record.model.provider.slug, model_slug=record.model.slug, at=record.timestamp
        )
        assert record.price_id == in_force.pk
    tokens = TokenColumns.build(
        [[getattr(r, name) for r in sample] for name in USAGE_TOKEN_FIELDS], [r.requests for r in sample]
    )
    units = cost_units([r.price for r in sample], tokens)
    assert [int(u) for u in units] == [int(r.cost.scaleb(10)) for r in sample]


def _end_of_month_tiers(dataset: ReplayDataset) -> dict[tuple[int, date], str]:
    starts: dict[int, list[tuple[date, str]]] = defaultdict(list)
    periods = CustomerTierPeriod.objects.filter(customer__organization=dataset.organization)
    for customer_id, start, name in periods.values_list("customer_id", "effective_from", "tier__name"):
        starts[customer_id].append((start, name))
    ends = {}
    for customer_id, history in starts.items():
        for month, following in zip(MONTHS, [*MONTHS[1:], date(2025, 7, 1)], strict=True):
            ends[(customer_id, month)] = max(h for h in history if h[0] < following)[1]
    return ends


def test_tiers_change_for_about_one_customer_in_ten_and_usage_stays_within_the_live_caps(
    dataset: ReplayDataset,
) -> None:
    changes = (
        CustomerTierPeriod.objects.filter(customer__organization=dataset.organization)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    assert 0.05 * CUSTOMERS <= changes <= 0.15 * CUSTOMERS  # 10% +- 3.5 standard deviations
    ends = _end_of_month_tiers(dataset)
    months = CustomerMonth.objects.filter(organization=dataset.organization)
    credits = {(m.customer_id, m.period): m.credits for m in months}
    assert max(c for key, c in credits.items() if ends[key] == "Free") <= 100
    assert max(c for key, c in credits.items() if ends[key] == "Pro") <= 20_000
    free_workloads = set(
        UsageRecord.objects.filter(
            organization=dataset.organization,
            customer_id__in=[key[0] for key, tier in ends.items() if tier == "Free" and key[1] == MONTHS[0]],
            period=MONTHS[0],
        ).values_list("workload__name", flat=True)
    )
    assert free_workloads == {"Chat"}


def test_the_scenario_stands_for_the_live_tiers_with_its_changes(dataset: ReplayDataset) -> None:
    tiers = {tier.name: tier for tier in scenario_tiers(dataset.scenario)}
    assert {name: tier.live_tier_id for name, tier in tiers.items()} == {
        name: tier.pk for name, tier in dataset.tiers.items()
    }
    assert tiers["Pro"].hard_cap_credits == SCENARIO_PRO_CAP < dataset.tiers["Pro"].hard_cap_credits
    assert tiers["Team"].monthly_fee == SCENARIO_TEAM_FEE == dataset.tiers["Team"].monthly_fee + Decimal(5)
    (lever,) = dataset.scenario.levers
    assert lever["workloads"] == [dataset.workloads["Agent"].pk] and lever["routing_share"] == 0.3


def test_generating_again_replaces_the_benchmark_organisation(dataset: ReplayDataset) -> None:
    again = replay_dataset_create(customers=10, records=100)
    assert not Organization.objects.filter(pk=dataset.organization.pk).exists()
    assert Organization.objects.get(slug="bench-replay") == again.organization
    assert UsageRecord.objects.count() == 100 == sum(CustomerMonth.objects.values_list("records", flat=True))


def test_the_command_refuses_sqlite_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench_replay", "--customers", "10", "--records", "100")
