"""Margins from actual usage (proration, overage, underwater, tier summary) and fitted usage
distributions (gamma-Poisson maximum likelihood recovering known parameters)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from planner.accounts.models import Organization
from planner.actuals.fitting import MAX_SHAPE, gamma_poisson_fit
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import Customer
from planner.actuals.selectors import (
    customer_margins_for_period,
    tier_margins_for_period,
    usage_distributions_fitted,
)
from planner.actuals.services import customer_tier_change, usage_distribution_from_fit
from planner.products.models import Product, Tier, UsageDistribution
from planner.products.selectors import live_tiers
from planner.products.services import tier_create, workload_create
from pricing.models import AIModel

NOW = datetime(2025, 7, 15, tzinfo=UTC)


def ingest(organization: Organization, records: list[dict[str, Any]]) -> None:
    usage_records_ingest(organization=organization, records=records, now=NOW)


def usage(
    event_id: str, customer: str, tier: Tier | None, *, timestamp: str, **fields: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_id": event_id,
        "customer": customer,
        "timestamp": timestamp,
        "model": "openai/gpt-4o",
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
    }
    if tier is not None:
        values["tier"] = tier.pk
    values.update(fields)
    return values


@pytest.fixture
def tiers(product: Product, priced_models: dict[str, AIModel]) -> dict[str, Tier]:
    metered = tier_create(
        product=product,
        name="Metered",
        monthly_fee=Decimal("31"),
        included_credits=100.0,
        overage_price_per_credit=Decimal("0.05"),
        payment_fee_pct=Decimal("0.1"),
        payment_fee_fixed=Decimal("0.31"),
    )
    return {
        "free": live_tiers(product).get(name="Free"),
        "pro": live_tiers(product).get(name="Pro"),
        "metered": metered,
    }


def test_a_mid_month_tier_change_prorates_by_day_in_the_organisation_time_zone(
    organization: Organization, tiers: dict[str, Tier]
) -> None:
    organization.time_zone = "America/New_York"
    organization.save()
    # 2025-07-01T03:00Z is 2025-06-30T23:00 in New York: the record belongs to June.
    ingest(organization, [usage("e1", "c1", tiers["free"], timestamp="2025-07-01T03:00:00Z", credits=150)])
    customer = Customer.objects.get()
    customer_tier_change(customer=customer, tier=tiers["metered"], effective_from=date(2025, 6, 21))
    (row,) = customer_margins_for_period(organization=organization, period=date(2025, 6, 1))
    # June has 30 days: 20 free days, 10 days of Metered ($31 and 100 credits a month).
    share = Decimal(10) / Decimal(30)
    fee = Decimal(31) * share
    # Free includes 30 credits a month (20 days of it here), Metered 100 (10 days).
    included = Decimal(30) * (1 - share) + Decimal(100) * share
    overage = (Decimal(150) - included) * Decimal("0.05")
    fees = fee * Decimal("0.1") + Decimal("0.31") * share + overage * Decimal("0.1")
    assert row.tier_name == "Metered" and row.billed_days == 30
    assert row.fee_revenue == fee.quantize(Decimal("0.000001"))
    assert row.overage_credits == Decimal(150) - included
    assert row.revenue == (fee + overage - fees).quantize(Decimal("0.000001"))
    assert row.margin == row.revenue - row.cogs
    # 1M input + 100k output tokens of gpt-4o at $2.50 / $10 per Mtok.
    assert row.cogs == Decimal("3.5")


def test_underwater_paying_customers_filters_and_ordering(
    organization: Organization, tiers: dict[str, Tier]
) -> None:
    pro, free = tiers["pro"], tiers["free"]
    records = [usage(f"heavy-{i}", "heavy", pro, timestamp="2025-06-05T10:00:00Z") for i in range(8)]
    records += [
        usage("light", "light", pro, timestamp="2025-06-05T10:00:00Z"),
        usage("free", "freeloader", free, timestamp="2025-06-05T10:00:00Z"),
        usage("july", "light", pro, timestamp="2025-07-01T10:00:00Z"),
    ]
    ingest(organization, records)
    june = date(2025, 6, 1)
    rows = customer_margins_for_period(organization=organization, period=june)
    assert [r.external_id for r in rows] == ["heavy", "freeloader", "light"]  # by margin, worst first
    heavy, freeloader, light = rows
    # Pro: $20 less 2.9% and $0.30 in fees = $19.12; heavy used 8 x $3.50 = $28.
    assert heavy.revenue == Decimal("19.120000") and heavy.cogs == Decimal("28")
    assert heavy.underwater and not light.underwater
    assert freeloader.margin < 0 and not freeloader.underwater and not freeloader.paying
    assert [
        r.external_id
        for r in customer_margins_for_period(organization=organization, period=june, underwater=True)
    ] == ["heavy"]
    assert [
        r.external_id
        for r in customer_margins_for_period(
            organization=organization, period=june, tier=pro.pk, order="-margin"
        )
    ] == ["light", "heavy"]
    summary = {t.tier_name: t for t in tier_margins_for_period(organization=organization, period=june)}
    assert summary["Pro"].customers == 2 and summary["Pro"].underwater_customers == 1
    assert summary["Pro"].underwater_loss == -heavy.margin
    assert summary["Pro"].margin == heavy.margin + light.margin
    assert summary["Free"].cogs_per_customer == Decimal("3.5") and not summary["Free"].paying


@pytest.mark.parametrize(("mean", "shape"), [(30.0, 0.8), (4.0, 2.5), (200.0, 0.3)])
def test_gamma_poisson_fit_recovers_known_parameters(mean: float, shape: float) -> None:
    rng = np.random.default_rng(20250610)
    intensity = rng.gamma(shape, mean / shape, size=5_000)
    fit = gamma_poisson_fit(rng.poisson(intensity))
    assert fit.shape_se is not None and not fit.poisson_limit
    # 4 standard errors: a false alarm about once in 16,000 runs per parameter (fixed seed anyway).
    assert abs(fit.mean - mean) < 4 * fit.mean_se
    assert abs(fit.shape - shape) < 4 * fit.shape_se


def test_gamma_poisson_fit_standard_error_is_calibrated() -> None:
    rng = np.random.default_rng(7)
    fits = [gamma_poisson_fit(rng.poisson(rng.gamma(1.5, 10 / 1.5, size=800))) for _ in range(200)]
    z = np.array([(f.shape - 1.5) / f.shape_se for f in fits if f.shape_se])
    # If the SE is right, z is about N(0, 1): its spread over 200 fits is 1 within about +-0.2.
    assert 0.8 < z.std() < 1.2


def test_poisson_counts_give_a_nearly_constant_intensity() -> None:
    rng = np.random.default_rng(1)
    samples = [rng.poisson(12.0, size=2_000) for _ in range(5)]
    fits = [gamma_poisson_fit(sample) for sample in samples]
    # Either no over-dispersion at all, or so little that the intensity's CV is below 10%.
    assert all(f.poisson_limit or f.shape > 100 for f in fits)
    under = next(f for s, f in zip(samples, fits, strict=True) if s.var(ddof=1) <= s.mean())
    assert under.shape == MAX_SHAPE and under.shape_se is None


def test_fitted_distributions_from_records_seed_a_scenario(
    organization: Organization, product: Product, tiers: dict[str, Tier], priced_models: dict[str, AIModel]
) -> None:
    search = workload_create(
        product=product,
        name="Search",
        credits_per_request=1.0,
        input_tokens_median=500.0,
        input_tokens_p90=900.0,
        output_tokens_median=100.0,
        output_tokens_p90=200.0,
        models=[(priced_models["small"], 1.0)],
    )
    rng = np.random.default_rng(3)
    requests = rng.poisson(rng.gamma(2.0, 6.0, size=120))
    records = [
        usage(
            f"e{i}-{m}",
            f"c{i}",
            tiers["pro"],
            timestamp=f"2025-0{m}-10T00:00:00Z",
            model=None,
            workload=search.pk,
            requests=int(n) or 1,
        )
        for i, n in enumerate(requests)
        for m in (5, 6)
    ]
    ingest(organization, records)
    fitted = usage_distributions_fitted(
        organization=organization, period_range=(date(2025, 5, 1), date(2025, 6, 30))
    )
    by_workload = {(f.tier_name, f.workload_name): f for f in fitted}
    fit = by_workload[("Pro", "Search")].fit
    assert fit.n == 240 and fit.mean == pytest.approx(np.maximum(requests, 1).mean())
    assert by_workload[("Pro", "Chat")].fit.mean == 0  # customers active, no chat requests
    distribution = usage_distribution_from_fit(tier=tiers["pro"], workload=search, fit=fit)
    assert distribution.kind == UsageDistribution.Kind.GAMMA and distribution.shape == pytest.approx(
        fit.shape
    )
