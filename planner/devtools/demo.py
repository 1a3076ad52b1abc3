"""The demo organisation: BENCHMARKS.md's standard scenario as an editable product.

``demo_seed`` is idempotent: every object is looked up by its natural key and brought back to
the values below, so running it twice gives the same rows (and keeps their ids, so existing
runs stay attached). Figures are industry estimates from shared/domain/DOMAIN.md and the
standard benchmark scenario.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from planner.accounts.models import Membership, Organization
from planner.alerts.models import AlertRule
from planner.alerts.rules import alert_rule_create
from planner.core.services import model_update
from planner.devtools.demo_actuals import demo_actuals_seed
from planner.products.models import Product, Tier, Workload
from planner.products.services import ModelShare, usage_distribution_set, workload_models_set
from planner.simulation.models import Scenario
from planner.simulation.overrides import workload_override_set
from pricing.catalog import catalog_import
from pricing.models import AIModel

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-margin"
DEMO_ORGANIZATION_SLUG = "demo-ai"
DEMO_PRODUCT_NAME = "Demo Copilot"
DEMO_SCENARIO_NAME = "Baseline"
DEMO_PRICE_DATE = datetime.date(2026, 11, 1)
DEMO_SEED = 20261126
DEMO_ALERT_RECIPIENT = "founder@demo-ai.example"

#: (provider slug, model slug) in the genai-prices catalog.
SMALL_MODEL = ("openai", "gpt-4o-mini")
FRONTIER_MODEL = ("openai", "gpt-4o")
REASONING_MODEL = ("openai", "o3")

PAYMENT_FEE_PCT = Decimal("0.029")
PAYMENT_FEE_FIXED = Decimal("0.30")

#: name -> tier fields. Subscribers 70 % / 25 % / 5 % of 10,000.
TIERS: dict[str, dict[str, Any]] = {
    "Free": {
        "monthly_fee": Decimal("0"),
        "included_credits": 30.0,
        "overage_price_per_credit": None,
        "hard_cap_credits": 30.0,
        "payment_fee_pct": Decimal("0"),
        "payment_fee_fixed": Decimal("0"),
        "subscribers": 7_000,
        "churn_monthly": 0.08,
    },
    "Pro": {
        "monthly_fee": Decimal("20"),
        "included_credits": None,
        "overage_price_per_credit": None,
        "hard_cap_credits": None,
        "payment_fee_pct": PAYMENT_FEE_PCT,
        "payment_fee_fixed": PAYMENT_FEE_FIXED,
        "subscribers": 2_500,
        "churn_monthly": 0.04,
    },
    "Team": {
        "monthly_fee": Decimal("60"),
        "included_credits": 2_000.0,
        "overage_price_per_credit": Decimal("0.02"),
        "hard_cap_credits": 10_000.0,
        "payment_fee_pct": PAYMENT_FEE_PCT,
        "payment_fee_fixed": PAYMENT_FEE_FIXED,
        "subscribers": 500,
        "churn_monthly": 0.02,
    },
}

#: name -> workload fields (tokens per call, median / p90).
WORKLOADS: dict[str, dict[str, Any]] = {
    "Chat": {
        "credits_per_request": 1.0,
        "input_tokens_median": 800.0,
        "input_tokens_p90": 3_000.0,
        "output_tokens_median": 300.0,
        "output_tokens_p90": 1_200.0,
    },
    "Document Q&A": {
        "credits_per_request": 2.0,
        "input_tokens_median": 6_000.0,
        "input_tokens_p90": 30_000.0,
        "output_tokens_median": 500.0,
        "output_tokens_p90": 1_500.0,
        "prompt_cache_share": 0.5,
    },
    "Agent task": {
        "credits_per_request": 10.0,
        "calls_per_request_median": 10.0,
        "calls_per_request_p90": 30.0,
        "input_tokens_median": 4_000.0,
        "input_tokens_p90": 16_000.0,
        "output_tokens_median": 400.0,
        "output_tokens_p90": 2_000.0,
        "reasoning_tokens_median": 2_000.0,
        "reasoning_tokens_p90": 8_000.0,
    },
}

#: Workload -> [(model, share, uses_reasoning)].
MODEL_MIX: dict[str, list[tuple[tuple[str, str], float, bool]]] = {
    "Chat": [(SMALL_MODEL, 0.7, False), (FRONTIER_MODEL, 0.3, False)],
    "Document Q&A": [(FRONTIER_MODEL, 1.0, False)],
    "Agent task": [(FRONTIER_MODEL, 0.8, False), (REASONING_MODEL, 0.2, True)],
}

#: Pro medians of requests per user and month, p90 = 8 x median: a heavier-tailed, more agentic
#: user base than the benchmark scenario (BENCHMARKS.md: 40 / 5 / 1, p90 = 6x), so the demo shows
#: the classic failure of DOMAIN.md: a visible share of $20 Pro users burning more than $20.
PRO_MEDIANS = {"Chat": 60.0, "Document Q&A": 8.0, "Agent task": 3.0}
TIER_USAGE_FACTOR = {"Free": 1 / 3, "Pro": 1.0, "Team": 3.0}
P90_OVER_MEDIAN = 8.0

#: The demo's two other plans of "Demo Copilot", what a founder compares with the baseline first:
#: each starts from the baseline's settings, tiers and usage (without its levers) and changes one
#: thing. Capped: Pro includes 1,000 credits a month and stops there (a hard cap, no overage),
#: just under the 1,127 credits at which the baseline's average Pro user breaks even.
CAPPED_SCENARIO_NAME = "Capped plan"
CAPPED_TIERS: dict[str, dict[str, Any]] = {"Pro": {"included_credits": 1_000.0, "hard_cap_credits": 1_000.0}}
#: Routed: easy requests go to the small model (the plan's own model mix per workload, a
#: workload override): chat 90 %, document Q&A 60 % and half of the agent's calls, the reasoning
#: model kept for 10 % of them.
ROUTED_SCENARIO_NAME = "Routed plan"
ROUTED_MODEL_MIX: dict[str, list[tuple[tuple[str, str], float, bool]]] = {
    "Chat": [(SMALL_MODEL, 0.9, False), (FRONTIER_MODEL, 0.1, False)],
    "Document Q&A": [(SMALL_MODEL, 0.6, False), (FRONTIER_MODEL, 0.4, False)],
    "Agent task": [(SMALL_MODEL, 0.5, False), (FRONTIER_MODEL, 0.4, False), (REASONING_MODEL, 0.1, True)],
}

#: The standard benchmark scenario of BENCHMARKS.md, as a second product of the demo
#: organisation (used by ``manage.py bench_jobs``): Pro medians 40 / 5 / 1, p90 = 6 x median.
BENCHMARK_PRODUCT_NAME = "Benchmark Copilot"
BENCHMARK_SCENARIO_NAME = "Standard benchmark"
BENCHMARK_PRO_MEDIANS = {"Chat": 40.0, "Document Q&A": 5.0, "Agent task": 1.0}
BENCHMARK_P90_OVER_MEDIAN = 6.0

#: Every scenario of the demo, (product, scenario): what ``seed_demo`` runs once.
DEMO_SCENARIOS = (
    (BENCHMARK_PRODUCT_NAME, BENCHMARK_SCENARIO_NAME),
    (DEMO_PRODUCT_NAME, DEMO_SCENARIO_NAME),
    (DEMO_PRODUCT_NAME, CAPPED_SCENARIO_NAME),
    (DEMO_PRODUCT_NAME, ROUTED_SCENARIO_NAME),
)

_M = TypeVar("_M", bound=models.Model)


def _upsert(model: type[_M], lookup: dict[str, Any], values: dict[str, Any]) -> _M:
    """Find ``model`` by ``lookup`` (or start a new one), set ``values``, validate and save."""
    instance = model._default_manager.filter(**lookup).first() or model(**lookup)
    instance, _ = model_update(instance=instance, fields=values.keys(), data=values, refresh_on_error=False)
    return instance


def _ai_model(key: tuple[str, str]) -> AIModel:
    provider, slug = key
    try:
        return AIModel.objects.get(provider__slug=provider, slug=slug)
    except AIModel.DoesNotExist:
        raise LookupError(
            f"Model {provider}/{slug} is not in the price catalog; run `manage.py import_prices`."
        ) from None


def demo_seed(
    *, price_date: datetime.date = DEMO_PRICE_DATE, now: datetime.datetime | None = None
) -> Organization:
    """Create or restore the demo: user ``demo`` (superuser), organisation "Demo AI", product
    "Demo Copilot" (Free/Pro/Team; chat, document Q&A, agent task) with scenarios "Baseline"
    (three levers), "Capped plan" and "Routed plan", two alert rules and actual usage of 60
    customers from the first day of the month before last to ``now``
    (``planner.devtools.demo_actuals``; the clock by default), and product "Benchmark Copilot"
    with the standard benchmark scenario. Runs none of them: ``planner.devtools.demo_runs``.
    Imports the price catalog first when it is empty."""
    if not AIModel.objects.exists():
        logger.info("Price catalog empty: importing the bundled genai-prices catalog")
        catalog_import()
    with transaction.atomic():
        user_model = get_user_model()
        user = user_model._default_manager.filter(username=DEMO_USERNAME).first() or user_model(
            username=DEMO_USERNAME
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()

        organization = _upsert(
            Organization,
            {"slug": DEMO_ORGANIZATION_SLUG},
            {"name": "Demo AI", "currency": "USD", "time_zone": "UTC"},
        )
        _upsert(Membership, {"user": user, "organization": organization}, {"role": Membership.Role.OWNER})
        levers = [
            {
                "key": "route-small-model",
                "label": "Route 50% to gpt-4o-mini",
                "routing_model": _ai_model(SMALL_MODEL).pk,
                "routing_share": 0.5,
            },
            {"key": "response-cache", "label": "Response cache 30%", "response_cache_hit_rate": 0.3},
            {"key": "prompt-distillation", "label": "Prompt distillation 25%", "distillation": 0.25},
        ]
        demo_product = _product_seed(
            organization,
            name=DEMO_PRODUCT_NAME,
            description="A copilot with chat, document Q&A and an agent; a heavy-tailed user base.",
            pro_medians=PRO_MEDIANS,
            p90_over_median=P90_OVER_MEDIAN,
            scenarios=[
                {"name": DEMO_SCENARIO_NAME, "simulated_users": 200_000, "levers": levers},
                {"name": CAPPED_SCENARIO_NAME, "simulated_users": 200_000, "tiers": CAPPED_TIERS},
                {"name": ROUTED_SCENARIO_NAME, "simulated_users": 200_000, "model_mix": ROUTED_MODEL_MIX},
            ],
            price_date=price_date,
        )
        _product_seed(
            organization,
            name=BENCHMARK_PRODUCT_NAME,
            description="The standard benchmark scenario of BENCHMARKS.md.",
            pro_medians=BENCHMARK_PRO_MEDIANS,
            p90_over_median=BENCHMARK_P90_OVER_MEDIAN,
            scenarios=[{"name": BENCHMARK_SCENARIO_NAME, "simulated_users": 1_000_000}],
            price_date=price_date,
        )
        _alert_rules_seed(organization, demo_product)
    demo_actuals_seed(organization, demo_product, now=now or timezone.now())
    return organization


def _alert_rules_seed(organization: Organization, product: Product) -> None:
    """Two example margin alerts, mailed to ``DEMO_ALERT_RECIPIENT`` (printed on the console
    under ``make run``): created once, so edits made in the app survive a re-seed."""
    existing = set(AlertRule.objects.filter(organization=organization).values_list("name", flat=True))
    rules: list[dict[str, Any]] = [
        {
            "name": "Pro users underwater in the baseline",
            "scope": AlertRule.Scope.SCENARIO,
            "scenario": (baseline := product.scenarios.get(name=DEMO_SCENARIO_NAME)),
            "tier": baseline.tiers.get(name="Pro"),
            "metric": AlertRule.Metric.UNDERWATER_SHARE,
            "comparator": AlertRule.Comparator.GT,
            "threshold": Decimal("5"),
            "schedule": AlertRule.Schedule.DAILY,
        },
        {
            "name": "Gross margin of actual usage below 40%",
            "scope": AlertRule.Scope.ACTUAL,
            "metric": AlertRule.Metric.GROSS_MARGIN_PCT,
            "comparator": AlertRule.Comparator.LT,
            "threshold": Decimal("40"),
            "schedule": AlertRule.Schedule.WEEKLY,
        },
    ]
    for rule in rules:
        if rule["name"] not in existing:
            alert_rule_create(organization=organization, recipients=[DEMO_ALERT_RECIPIENT], **rule)


def _product_seed(
    organization: Organization,
    *,
    name: str,
    description: str,
    pro_medians: dict[str, float],
    p90_over_median: float,
    scenarios: list[dict[str, Any]],
    price_date: datetime.date,
) -> Product:
    """Create or restore one demo product: the demo tiers and workloads, lognormal usage scaled
    per tier from ``pro_medians``, and its ``scenarios`` (``_scenario_seed``)."""
    product = _upsert(
        Product,
        {"organization": organization, "name": name},
        {"description": description, "default_correlation": 0.8},
    )
    tiers = {
        tier_name: _upsert(Tier, {"product": product, "name": tier_name}, {"position": position, **fields})
        for position, (tier_name, fields) in enumerate(TIERS.items())
    }
    workloads: dict[str, Workload] = {}
    for position, (workload_name, fields) in enumerate(WORKLOADS.items()):
        workload = _upsert(
            Workload, {"product": product, "name": workload_name}, {"position": position, **fields}
        )
        workload_models_set(
            workload=workload,
            models=[
                ModelShare(_ai_model(key), share, "", reasoning)
                for key, share, reasoning in MODEL_MIX[workload_name]
            ],
        )
        workloads[workload_name] = workload
    _usage_seed(tiers, workloads, pro_medians=pro_medians, p90_over_median=p90_over_median)
    usage = {"pro_medians": pro_medians, "p90_over_median": p90_over_median}
    for scenario in scenarios:
        _scenario_seed(product, tiers, workloads, scenario, price_date=price_date, usage=usage)
    return product


def _scenario_seed(
    product: Product,
    live: dict[str, Tier],
    workloads: dict[str, Workload],
    spec: dict[str, Any],
    *,
    price_date: datetime.date,
    usage: dict[str, Any],
) -> Scenario:
    """Create or restore one scenario of a demo product: the demo's settings, a plan of the live
    tiers' values changed by ``spec["tiers"]`` (each tier standing for its live tier) with the
    live usage, and its own model mix of the workloads in ``spec["model_mix"]`` (the others
    follow the product)."""
    scenario = _upsert(
        Scenario,
        {"product": product, "name": spec["name"]},
        {
            "horizon_months": 12,
            "simulated_users": spec["simulated_users"],
            "seed": DEMO_SEED,
            "price_trend_yearly": -0.30,
            "usage_growth_monthly": 0.05,
            "discount_rate_yearly": 0.10,
            "target_margin": 0.6,
            "price_date": price_date,
            "levers": spec.get("levers", []),
        },
    )
    changes = spec.get("tiers", {})
    plan = {
        tier_name: _upsert(
            Tier,
            {"scenario": scenario, "name": tier_name},
            {
                "product": product,
                "live_tier": tier,
                "position": tier.position,
                **TIERS[tier_name],
                **changes.get(tier_name, {}),
            },
        )
        for tier_name, tier in live.items()
    }
    _usage_seed(plan, workloads, **usage)
    mixes = spec.get("model_mix", {})
    for workload_name, workload in workloads.items():
        mix = [
            {"model": _ai_model(key).pk, "share": share, "uses_reasoning": reasoning}
            for key, share, reasoning in mixes.get(workload_name, [])
        ]
        workload_override_set(scenario=scenario, workload=workload, data={"model_mix": mix} if mix else {})
    return scenario


def _usage_seed(
    tiers: dict[str, Tier],
    workloads: dict[str, Workload],
    *,
    pro_medians: dict[str, float],
    p90_over_median: float,
) -> None:
    """Lognormal usage of every tier x workload: the Pro medians scaled by the tier's factor."""
    for tier_name, tier in tiers.items():
        for workload_name, workload in workloads.items():
            median = pro_medians[workload_name] * TIER_USAGE_FACTOR[tier_name]
            usage_distribution_set(
                tier=tier, workload=workload, kind="lognormal", median=median, p90=p90_over_median * median
            )
