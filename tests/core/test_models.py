"""Model validation: every impossible value is rejected by ``full_clean`` with a message on the
field at fault, NaN and infinities included; small derived properties."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import models

from planner.accounts.models import Organization
from planner.core.validators import finite_decimal
from planner.products.models import (
    Product,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadCorrelation,
    WorkloadModel,
)
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario, SimulationRun

pytestmark = pytest.mark.django_db

NAN, INF = float("nan"), float("inf")


def errors_of(instance: models.Model) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def rejected_on(instance: models.Model, field: str, value: Any) -> list[str]:
    """Set ``field`` to ``value`` and return the messages ``full_clean`` gives for that field."""
    setattr(instance, field, value)
    errors = errors_of(instance)
    assert field in errors, f"{field}={value!r}: errors went to {sorted(errors)}"
    return errors[field]


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN")]
)
def test_finite_decimal_rejects_non_finite_decimals(value: Decimal) -> None:
    with pytest.raises(ValidationError, match="finite"):
        finite_decimal(value)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_finite_decimal_rejects_non_finite_floats(value: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        finite_decimal(value)


@pytest.mark.parametrize("value", [None, 0, 1.5, Decimal("20.0000"), -3])
def test_finite_decimal_accepts_finite_numbers_and_none(value: Any) -> None:
    finite_decimal(value)


@pytest.fixture
def pro(product: Product) -> Tier:
    return live_tiers(product).get(name="Pro")


@pytest.fixture
def chat(product: Product) -> Workload:
    return product.workloads.get(name="Chat")


@pytest.fixture
def agent(product: Product) -> Workload:
    return product.workloads.get(name="Agent")


def test_valid_fixture_product_passes_validation(product: Product) -> None:
    for instance in [product, *live_tiers(product).all(), *product.workloads.all()]:
        instance.full_clean()
    for row in UsageDistribution.objects.filter(tier__product=product):
        row.full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("monthly_fee", Decimal("-1")),
        ("monthly_fee", Decimal("NaN")),
        ("monthly_fee", Decimal("Infinity")),
        ("monthly_fee", Decimal("100000000")),
        ("annual_price", Decimal("-0.01")),
        ("annual_price", Decimal("NaN")),
        ("payment_fee_fixed", Decimal("-0.30")),
        ("payment_fee_pct", Decimal("-0.01")),
        ("payment_fee_pct", Decimal("NaN")),
        ("overage_price_per_credit", Decimal("-0.02")),
        ("included_credits", -1.0),
        ("included_credits", NAN),
        ("included_credits", INF),
        ("hard_cap_credits", -5.0),
        ("subscribers", -1),
        ("churn_monthly", -0.1),
        ("churn_monthly", 1.5),
        ("churn_monthly", NAN),
        ("seats", 0),
    ],
)
def test_tier_rejects_impossible_values_on_the_field(pro: Tier, field: str, value: Any) -> None:
    if field == "seats":
        pro.monthly_fee, pro.seat_fee = Decimal(0), Decimal("10")
    if field == "overage_price_per_credit":
        pro.included_credits = 100.0
    rejected_on(pro, field, value)


def test_payment_fee_given_as_percent_is_explained(pro: Tier) -> None:
    assert "fraction" in " ".join(rejected_on(pro, "payment_fee_pct", Decimal("2.9")))


def test_tier_seat_fee_needs_seats(pro: Tier) -> None:
    pro.monthly_fee, pro.seat_fee = Decimal(0), Decimal("12")
    assert "seats" in errors_of(pro)


def test_tier_rejects_flat_fee_and_seat_fee_together(pro: Tier) -> None:
    pro.seat_fee, pro.seats = Decimal("12"), 5
    assert "seat_fee" in errors_of(pro)


def test_tier_rejects_overage_on_unlimited_tier(pro: Tier) -> None:
    pro.overage_price_per_credit = Decimal("0.02")
    assert "overage_price_per_credit" in errors_of(pro)


def test_tier_rejects_hard_cap_below_included_credits(pro: Tier) -> None:
    pro.included_credits, pro.hard_cap_credits = 2_000.0, 1_000.0
    assert "below the included credits" in errors_of(pro)["hard_cap_credits"][0]


def test_monthly_revenue_prefers_annual_then_seats_then_monthly_fee(pro: Tier) -> None:
    assert pro.monthly_revenue_per_subscriber == Decimal("20")
    pro.monthly_fee, pro.seat_fee, pro.seats = Decimal(0), Decimal("15"), 4
    assert pro.monthly_revenue_per_subscriber == Decimal("60")
    pro.annual_price = Decimal("600")
    assert pro.annual_price_monthly == Decimal("50")
    assert pro.monthly_revenue_per_subscriber == Decimal("50")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("credits_per_request", -1.0),
        ("credits_per_request", NAN),
        ("input_tokens_median", -1.0),
        ("input_tokens_median", INF),
        ("output_tokens_p90", NAN),
        ("input_tokens_p90", 100.0),  # below the median of 800
        ("output_tokens_p90", 10.0),  # below the median of 300
        ("prompt_cache_share", 1.2),
        ("prompt_cache_share", NAN),
        ("response_cache_hit_rate", -0.1),
        ("batch_share", 2.0),
        ("distillation", INF),
        ("calls_per_request_median", 0.5),
    ],
)
def test_workload_rejects_impossible_values_on_the_field(chat: Workload, field: str, value: float) -> None:
    if field.startswith("calls_per_request"):
        chat.calls_per_request_p90 = 3.0
    rejected_on(chat, field, value)


def test_workload_rejects_calls_p90_below_median(agent: Workload) -> None:
    rejected_on(agent, "calls_per_request_p90", 5.0)


def test_workload_needs_reasoning_median_and_p90_together(chat: Workload) -> None:
    chat.reasoning_tokens_median = 1_000.0
    assert "reasoning_tokens_p90" in errors_of(chat)


def test_workload_rejects_prompt_cache_read_and_write_over_one(chat: Workload) -> None:
    chat.prompt_cache_share, chat.prompt_cache_write_share = 0.7, 0.4
    assert "prompt_cache_write_share" in errors_of(chat)


@pytest.mark.parametrize("share", [0.0, -0.2, 1.5, NAN])
def test_workload_model_share_must_be_in_zero_one(chat: Workload, share: float) -> None:
    row = chat.model_mix.first()
    assert row is not None
    rejected_on(row, "share", share)


def usage(tier: Tier, workload: Workload, **fields: Any) -> UsageDistribution:
    return UsageDistribution(tier=tier, workload=workload, **fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "lognormal", "median": 0.0, "p90": 5.0}, "median"),
        ({"kind": "lognormal", "median": -1.0, "p90": 5.0}, "median"),
        ({"kind": "lognormal", "median": 10.0, "p90": 5.0}, "p90"),
        ({"kind": "lognormal", "median": 10.0}, "p90"),
        ({"kind": "lognormal", "median": NAN, "p90": 5.0}, "median"),
        ({"kind": "lognormal", "median": 10.0, "p90": INF}, "p90"),
        ({"kind": "gamma", "mean": 0.0, "shape": 1.0}, "mean"),
        ({"kind": "gamma", "mean": 5.0, "shape": -1.0}, "shape"),
        ({"kind": "gamma", "mean": 5.0}, "shape"),
        ({"kind": "pareto", "scale": 1.0, "alpha": 1.5}, "alpha"),
        ({"kind": "pareto", "scale": 1.0, "alpha": 2.0}, "alpha"),
        ({"kind": "pareto", "scale": 0.0, "alpha": 3.0}, "scale"),
        ({"kind": "pareto", "scale": 5.0, "alpha": 1.5, "upper": 4.0}, "upper"),
        ({"kind": "empirical", "values": [3.0]}, "values"),
        ({"kind": "empirical", "values": [3.0, -1.0]}, "values"),
        ({"kind": "empirical", "values": [3.0, "x"]}, "values"),
        ({"kind": "empirical", "values": "3, 4"}, "values"),
        ({"kind": "lognormal", "median": 1.0, "p90": 2.0, "overdispersion": 0.0}, "overdispersion"),
        ({"kind": "lognormal", "median": 1.0, "p90": 2.0, "overdispersion": NAN}, "overdispersion"),
        ({"kind": "weibull", "median": 1.0, "p90": 2.0}, "kind"),
    ],
)
def test_usage_distribution_rejects_invalid_parameters_per_kind(
    pro: Tier, chat: Workload, fields: dict[str, Any], field: str
) -> None:
    UsageDistribution.objects.filter(tier=pro, workload=chat).delete()
    assert field in errors_of(usage(pro, chat, **fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "lognormal", "median": 5.0, "p90": 5.0},
        {"kind": "gamma", "mean": 5.0, "shape": 0.5, "overdispersion": 2.0},
        {"kind": "pareto", "scale": 1.0, "alpha": 2.5},
        {"kind": "pareto", "scale": 1.0, "alpha": 1.2, "upper": 500.0},
        {"kind": "empirical", "values": [0, 1.5, 30]},
    ],
)
def test_usage_distribution_accepts_valid_parameters(
    pro: Tier, chat: Workload, fields: dict[str, Any]
) -> None:
    UsageDistribution.objects.filter(tier=pro, workload=chat).delete()
    usage(pro, chat, **fields).full_clean()


def test_usage_distribution_rejects_workload_of_another_product(
    pro: Tier, product_factory: Callable[..., Product]
) -> None:
    other = product_factory(name="Other").workloads.get(name="Chat")
    assert "workload" in errors_of(usage(pro, other, kind="lognormal", median=1.0, p90=2.0))


def test_organization_rejects_unknown_time_zone_and_currency() -> None:
    organization = Organization(name="X", slug="x", currency="usd", time_zone="Mars/Olympus")
    errors = errors_of(organization)
    assert {"currency", "time_zone"} <= set(errors)


def test_correlation_rejects_rho_outside_unit_interval_and_self_pairs(
    product: Product, chat: Workload
) -> None:
    agent = product.workloads.get(name="Agent")
    for rho in (1.5, -1.01, NAN):
        assert "rho" in errors_of(
            WorkloadCorrelation(product=product, workload_a=chat, workload_b=agent, rho=rho)
        )
    assert "workload_b" in errors_of(
        WorkloadCorrelation(product=product, workload_a=chat, workload_b=chat, rho=0.5)
    )


def scenario(product: Product, **fields: Any) -> Scenario:
    return Scenario(product=product, name="S", price_date=datetime.date(2026, 11, 1), **fields)


def test_scenario_seed_is_random_and_valid_by_default(product: Product) -> None:
    first, second = scenario(product), scenario(product)
    first.full_clean()
    assert first.seed != second.seed
    assert 0 <= first.seed < 2**63


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("horizon_months", 0),
        ("horizon_months", 61),
        ("simulated_users", 999),
        ("simulated_users", 20_000_001),
        ("seed", -1),
        ("price_trend_yearly", -1.0),
        ("price_trend_yearly", NAN),
        ("usage_growth_monthly", 1.5),
        ("discount_rate_yearly", -0.1),
        ("target_margin", INF),
        ("levers", {"key": "x"}),
        ("levers", [{"key": "x", "label": "X"}]),
        ("levers", [{"key": "x", "label": "X", "distillation": 1.5}]),
        ("levers", [{"key": "x", "label": "X", "distillation": NAN}]),
        ("levers", [{"key": "x", "label": "X", "routing_share": 0.5}]),
        ("levers", [{"key": "x", "label": "X", "routing_model": "gpt-4o", "routing_share": 0.5}]),
        ("levers", [{"key": "x", "label": "X", "distillation": 0.2, "colour": "red"}]),
        (
            "levers",
            [{"key": "x", "label": "X", "distillation": 0.2}, {"key": "x", "label": "Y", "batch_share": 1}],
        ),
    ],
)
def test_scenario_rejects_impossible_values_on_the_field(product: Product, field: str, value: Any) -> None:
    rejected_on(scenario(product), field, value)


def test_scenario_levers_must_reference_product_workloads_and_existing_models(
    product: Product, product_factory: Callable[..., Product]
) -> None:
    foreign_workload = product_factory(name="Other").workloads.first()
    assert foreign_workload is not None
    levers = [
        {"key": "a", "label": "A", "distillation": 0.2, "workloads": [foreign_workload.pk]},
        {"key": "b", "label": "B", "routing_model": 987_654, "routing_share": 0.5},
    ]
    messages = rejected_on(scenario(product), "levers", levers)
    assert any("not workloads of this product" in m for m in messages)
    assert any("987654 does not exist" in m for m in messages)


def test_scenario_accepts_valid_levers(product: Product) -> None:
    model = WorkloadModel.objects.filter(workload__product=product).first()
    assert model is not None
    chat = product.workloads.get(name="Chat")
    scenario(
        product,
        levers=[
            {"key": "route", "label": "Route", "routing_model": model.model_id, "routing_share": 0.5},
            {"key": "cache", "label": "Cache", "response_cache_hit_rate": 0.3, "workloads": [chat.pk]},
        ],
    ).full_clean()


def test_run_snapshot_is_immutable_once_created(product: Product) -> None:
    scenario_row = scenario(product)
    scenario_row.save()
    run = SimulationRun.objects.create(scenario=scenario_row, seed=1, users=1_000, snapshot={"a": [1, 2]})
    assert run.organization_id == product.organization_id
    run.status = SimulationRun.Status.RUNNING
    run.save()
    loaded = SimulationRun.objects.get(pk=run.pk)
    loaded.blocks_total = 4
    loaded.save(update_fields=["blocks_total"])
    loaded.snapshot["a"].append(3)
    with pytest.raises(ValidationError, match="immutable"):
        loaded.save()
    assert SimulationRun.objects.get(pk=run.pk).snapshot == {"a": [1, 2]}


def test_run_progress_is_share_of_blocks(product: Product) -> None:
    run = SimulationRun(blocks_total=4, blocks_done=1)
    assert run.progress == 0.25
    assert SimulationRun().progress == 0.0


def test_scenario_organization_follows_its_product_on_every_creation_path(
    scenario: Any, product: Product
) -> None:
    from planner.simulation.models import Scenario
    from planner.simulation.scenarios import scenario_duplicate

    copy = scenario_duplicate(scenario=scenario)
    direct = Scenario.objects.create(product=product, name="Direct", price_date=datetime.date(2026, 11, 1))
    for made in (scenario, copy, direct):
        made.refresh_from_db()
        assert made.organization_id == product.organization_id
    assert set(Scenario.objects.values_list("organization_id", flat=True)) == {product.organization_id}
