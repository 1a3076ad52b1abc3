"""Database constraints: impossible rows are refused even when validation is skipped
(``QuerySet.update`` or raw SQL), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, models, transaction

from planner.products.models import (
    Product,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadCorrelation,
    WorkloadModel,
)
from planner.simulation.models import Scenario, SimulationRun

pytestmark = pytest.mark.django_db

NAN, INF = float("nan"), float("inf")


def assert_refused(queryset: models.QuerySet[Any], **values: Any) -> None:
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        queryset.update(**values)


@pytest.fixture
def pro(product: Product) -> models.QuerySet[Tier]:
    return Tier.objects.filter(product=product, name="Pro")


@pytest.fixture
def chat(product: Product) -> models.QuerySet[Workload]:
    return Workload.objects.filter(product=product, name="Chat")


@pytest.mark.parametrize(
    "values",
    [
        {"monthly_fee": Decimal("-1")},
        {"annual_price": Decimal("-1")},
        {"payment_fee_pct": Decimal("1.5")},
        {"payment_fee_fixed": Decimal("-0.3")},
        {"overage_price_per_credit": Decimal("-0.02")},
        {"included_credits": -1.0},
        {"included_credits": INF},
        {"hard_cap_credits": -1.0},
        {"subscribers": -1},
        {"churn_monthly": 1.5},
        {"churn_monthly": -0.1},
        {"churn_monthly": NAN},
        {"churn_monthly": INF},
        {"seat_fee": Decimal("10")},  # without seats
        {"seat_fee": Decimal("10"), "seats": 0},
    ],
    ids=lambda values: ",".join(f"{k}={v}" for k, v in values.items()),
)
def test_tier_constraints_refuse_impossible_values(
    pro: models.QuerySet[Tier], values: dict[str, Any]
) -> None:
    assert_refused(pro, **values)


@pytest.mark.parametrize(
    "values",
    [
        {"credits_per_request": -1.0},
        {"input_tokens_median": -5.0},
        {"input_tokens_p90": 10.0},  # below the median
        {"output_tokens_p90": NAN},
        {"prompt_cache_share": 1.5},
        {"prompt_cache_share": 0.6, "prompt_cache_write_share": 0.6},
        {"response_cache_hit_rate": -0.1},
        {"batch_share": INF},
        {"distillation": NAN},
        {"reasoning_tokens_median": 100.0},  # without p90
        {"calls_per_request_median": 0.5, "calls_per_request_p90": 2.0},
    ],
    ids=lambda values: ",".join(f"{k}={v}" for k, v in values.items()),
)
def test_workload_constraints_refuse_impossible_values(
    chat: models.QuerySet[Workload], values: dict[str, Any]
) -> None:
    assert_refused(chat, **values)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5, NAN])
def test_model_share_constraint(product: Product, share: float) -> None:
    assert_refused(WorkloadModel.objects.filter(workload__product=product), share=share)


@pytest.mark.parametrize(
    "values",
    [
        {"median": 0.0},
        {"median": -1.0},
        {"p90": 1e-3},  # below the median
        {"median": INF},
        {"kind": "gamma"},  # no mean or shape
        {"kind": "gamma", "mean": 5.0, "shape": 0.0},
        {"kind": "pareto", "scale": 1.0, "alpha": 1.5},  # infinite variance, no upper bound
        {"kind": "pareto", "scale": 5.0, "alpha": 1.5, "upper": 4.0},
        {"kind": "pareto", "scale": 0.0, "alpha": 3.0},
        {"overdispersion": 0.0},
        {"kind": "weibull"},
    ],
    ids=lambda values: ",".join(f"{k}={v}" for k, v in values.items()),
)
def test_usage_distribution_constraints(product: Product, values: dict[str, Any]) -> None:
    assert_refused(UsageDistribution.objects.filter(tier__product=product), **values)


def test_usage_distribution_constraint_accepts_truncated_heavy_pareto(product: Product) -> None:
    rows = UsageDistribution.objects.filter(tier__product=product)
    assert rows.update(kind="pareto", scale=1.0, alpha=1.2, upper=1_000.0) == rows.count()


def test_correlation_constraints(product: Product) -> None:
    low, high = sorted(product.workloads.all(), key=lambda w: w.pk)
    correlation = WorkloadCorrelation.objects.create(
        product=product, workload_a=low, workload_b=high, rho=0.5
    )
    rows = WorkloadCorrelation.objects.filter(pk=correlation.pk)
    for rho in (1.5, -1.5, NAN):
        assert_refused(rows, rho=rho)
    assert_refused(rows, workload_a=high, workload_b=low)


@pytest.mark.parametrize(
    "values",
    [
        {"horizon_months": 0},
        {"horizon_months": 61},
        {"simulated_users": 999},
        {"simulated_users": 20_000_001},
        {"seed": -1},
        {"price_trend_yearly": -1.0},
        {"usage_growth_monthly": 2.0},
        {"discount_rate_yearly": NAN},
        {"target_margin": INF},
    ],
    ids=lambda values: ",".join(f"{k}={v}" for k, v in values.items()),
)
def test_scenario_constraints(product: Product, values: dict[str, Any]) -> None:
    scenario = Scenario.objects.create(product=product, name="S", price_date=datetime.date(2026, 11, 1))
    assert_refused(Scenario.objects.filter(pk=scenario.pk), **values)


def test_run_constraints(product: Product) -> None:
    scenario = Scenario.objects.create(product=product, name="S", price_date=datetime.date(2026, 11, 1))
    run = SimulationRun.objects.create(scenario=scenario, seed=1, users=1_000, blocks_total=2)
    rows = SimulationRun.objects.filter(pk=run.pk)
    assert_refused(rows, blocks_done=3)
    assert_refused(rows, status="exploded")
    assert_refused(rows, users=10)


def test_decimal_nan_cannot_be_saved_through_the_orm(pro: models.QuerySet[Tier]) -> None:
    """Django's DecimalField refuses NaN while preparing the value (before any SQL)."""
    with pytest.raises(ValidationError), transaction.atomic():
        pro.update(monthly_fee=Decimal("NaN"))
    tier = pro.get()
    tier.monthly_fee = Decimal("NaN")
    with pytest.raises(ValidationError), transaction.atomic():
        tier.save()


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_decimal_nan_and_infinity_refused_by_the_database_in_raw_sql(
    pro: models.QuerySet[Tier], raw: str
) -> None:
    """Written by raw SQL, a NaN price sorts above every number (PostgreSQL) or stays text
    (SQLite); the upper bound of the range check refuses it on both."""
    tier = pro.get()
    with pytest.raises((IntegrityError, DataError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE planner_tier SET monthly_fee = %s WHERE id = %s", [raw, tier.pk])
    tier.refresh_from_db()
    assert tier.monthly_fee == Decimal("20")
