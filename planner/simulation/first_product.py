"""A first product in four steps (the web's guided "New product"): a plan, workloads, usage,
a run. Each step is a plain service over the product and scenario services, with the defaults a
founder starts from; every figure can be changed later in the editor.

The live plan and the baseline scenario's plan are kept the same while the guide runs: the
product's live tiers are created first and the baseline starts as their copy, and each usage
figure is set on a baseline tier and on the live tier it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.accounts.models import Organization
from planner.products.models import Tier, Workload
from planner.products.services import (
    ModelShare,
    product_create,
    tier_create,
    usage_distribution_set,
    workload_create,
)
from planner.simulation.document import prefixed
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create
from pricing.models import AIModel

#: Card fees of a paid tier (Stripe's standard card rate; an assumption, docs/TEMPLATES.md).
CARD_FEE_PCT = Decimal("0.029")
CARD_FEE_FIXED = Decimal("0.30")
#: The plan the guide proposes: the demo's Free / Pro / Team (docs/TEMPLATES.md).
DEFAULT_TIERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Free",
        "monthly_fee": Decimal("0"),
        "included_credits": 30.0,
        "hard_cap_credits": 30.0,
        "subscribers": 7_000,
    },
    {"name": "Pro", "monthly_fee": Decimal("20"), "subscribers": 2_500},
    {
        "name": "Team",
        "monthly_fee": Decimal("60"),
        "included_credits": 2_000.0,
        "overage_price_per_credit": Decimal("0.02"),
        "hard_cap_credits": 10_000.0,
        "subscribers": 500,
    },
)


@dataclass(frozen=True)
class WorkloadPreset:
    """A kind of feature: its token profile per call, its calls per request and the median
    requests per month of a paying user (p90 = ``P90_OVER_MEDIAN`` x median)."""

    label: str
    fields: dict[str, float]
    paid_median: float
    reasoning: tuple[float, float] = (2_000.0, 8_000.0)


#: Token figures: the demo's workloads (DOMAIN.md: a chat request is about 800 tokens; an
#: agentic task loops over many calls, 10,000-50,000 tokens).
WORKLOAD_PRESETS: dict[str, WorkloadPreset] = {
    "chat": WorkloadPreset(
        "Chat: one call, about 800 input tokens",
        {
            "credits_per_request": 1.0,
            "input_tokens_median": 800.0,
            "input_tokens_p90": 3_000.0,
            "output_tokens_median": 300.0,
            "output_tokens_p90": 1_200.0,
        },
        paid_median=60.0,
    ),
    "document": WorkloadPreset(
        "Document Q&A: one call with a long context",
        {
            "credits_per_request": 2.0,
            "input_tokens_median": 6_000.0,
            "input_tokens_p90": 30_000.0,
            "output_tokens_median": 500.0,
            "output_tokens_p90": 1_500.0,
            "prompt_cache_share": 0.5,
        },
        paid_median=8.0,
    ),
    "agent": WorkloadPreset(
        "Agent task: a loop of about 10 calls",
        {
            "credits_per_request": 10.0,
            "calls_per_request_median": 10.0,
            "calls_per_request_p90": 30.0,
            "input_tokens_median": 4_000.0,
            "input_tokens_p90": 16_000.0,
            "output_tokens_median": 400.0,
            "output_tokens_p90": 2_000.0,
        },
        paid_median=3.0,
    ),
}
#: Usage of a free tier and of a paying tier after the first, relative to the first paying tier
#: (the demo's Free 1/3, Team 3x); p90 over median as in the standard benchmark scenario.
FREE_FACTOR, UPPER_FACTOR, P90_OVER_MEDIAN = 1 / 3, 3.0, 6.0
#: Models the guide offers (catalog keys), and which of them reason.
GUIDE_MODELS = (
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-sonnet-4-5",
    "openai/o3",
)
REASONING_MODELS = frozenset({"openai/o3"})


def guide_models() -> list[tuple[str, AIModel]]:
    """The offered models that are in the catalog, in ``GUIDE_MODELS`` order."""
    rows = {
        f"{model.provider.slug}/{model.slug}": model
        for model in AIModel.objects.select_related("provider").filter(
            slug__in=[key.split("/")[1] for key in GUIDE_MODELS]
        )
    }
    return [(key, rows[key]) for key in GUIDE_MODELS if key in rows]


def first_product_create(
    *, organization: Organization, name: str, tiers: Sequence[Mapping[str, Any]]
) -> Scenario:
    """Step 1: product ``name`` with live ``tiers`` (tier fields; a paid tier gets card fees
    unless given) and its scenario "Baseline", a copy of them. Errors name the tier:
    ``tiers[1].monthly_fee``; nothing is saved then."""
    if not tiers:
        raise ValidationError({"tiers": "Give the plan at least one tier."})
    with transaction.atomic():
        product = product_create(organization=organization, name=name)
        for i, fields in enumerate(tiers):
            paid = (fields.get("monthly_fee") or 0) > 0
            fees = {"payment_fee_pct": CARD_FEE_PCT, "payment_fee_fixed": CARD_FEE_FIXED} if paid else {}
            try:
                tier_create(product=product, **{**fees, **fields})
            except ValidationError as error:
                raise prefixed(error, f"tiers[{i}].") from error
        return scenario_create(product=product, name="Baseline")


def first_workload_add(*, scenario: Scenario, name: str, preset: str, model_key: str) -> Workload:
    """Step 2: a workload of ``scenario``'s product from ``preset`` (``WORKLOAD_PRESETS``) on
    one model (a key of ``guide_models``; a reasoning model gets the preset's reasoning tokens),
    with the preset's usage in every tier of the live plan and of the scenario."""
    kind = WORKLOAD_PRESETS.get(preset)
    if kind is None:
        raise ValidationError({"preset": f"Choose one of {', '.join(WORKLOAD_PRESETS)}."})
    model = dict(guide_models()).get(model_key)
    if model is None:
        raise ValidationError({"model": f"{model_key!r} is not one of the offered catalog models."})
    reasoning = model_key in REASONING_MODELS
    fields: dict[str, Any] = dict(kind.fields)
    if reasoning:
        fields |= {"reasoning_tokens_median": kind.reasoning[0], "reasoning_tokens_p90": kind.reasoning[1]}
    with transaction.atomic():
        workload = workload_create(
            product=scenario.product, name=name, models=[ModelShare(model, 1.0, "", reasoning)], **fields
        )
        plan = list(scenario_tiers(scenario))
        usage = {tier.pk: (median, P90_OVER_MEDIAN * median) for tier, median in default_medians(plan, kind)}
        first_usage_set(
            scenario=scenario, usage={(tier_id, workload.pk): pair for tier_id, pair in usage.items()}
        )
    return workload


def default_medians(plan: Sequence[Tier], preset: WorkloadPreset) -> list[tuple[Tier, float]]:
    """The preset's median requests per month for each tier of ``plan``: a free tier a third
    of the first paying tier's, paying tiers after the first three times as much."""
    medians, paying = [], 0
    for tier in plan:
        if tier.monthly_revenue_per_subscriber <= 0:
            factor = FREE_FACTOR
        else:
            factor = 1.0 if paying == 0 else UPPER_FACTOR
            paying += 1
        medians.append((tier, round(preset.paid_median * factor, 2)))
    return medians


def first_usage_set(*, scenario: Scenario, usage: Mapping[tuple[int, int], tuple[float, float]]) -> None:
    """Step 3: lognormal usage (median, p90 requests per month) by (scenario tier id, workload
    id), set on the scenario's tier and on the live tier it stands for. Errors name the pair:
    ``Pro x Chat.p90``; nothing is saved then."""
    tiers = {tier.pk: tier for tier in scenario_tiers(scenario).select_related("live_tier")}
    workloads = {w.pk: w for w in scenario.product.workloads.all()}
    with transaction.atomic():
        for (tier_id, workload_id), (median, p90) in usage.items():
            tier, workload = tiers[tier_id], workloads[workload_id]
            for target in (tier, tier.live_tier):
                if target is None:
                    continue
                try:
                    usage_distribution_set(
                        tier=target, workload=workload, kind="lognormal", median=median, p90=p90
                    )
                except ValidationError as error:
                    raise prefixed(error, f"{tier.name} x {workload.name}.") from error
