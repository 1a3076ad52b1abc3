"""The snapshot of a run: every input of a scenario frozen into one JSON document.

"Load, then compute": :func:`scenario_snapshot` reads the database once and returns a JSON
document holding every input of a run (scenario, its plan's tiers and usage, the product's
workloads as the scenario overrides them, correlation, levers,
each model's resolved price structure for the scenario's price date, package versions).
``planner.simulation.adapter.engine_input_from_snapshot`` turns it into engine inputs without
the database, so a run can be reproduced from its snapshot after any later edit.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from planner import engine
from planner.prices.models import PriceSheetEntry
from planner.prices.terms import price_resolver
from planner.products.correlations import correlation_matrix
from planner.products.models import (
    Segment,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadModel,
    segment_shares_problem,
)
from planner.simulation.adapter import SimulationInputError, usage_json
from planner.simulation.models import Scenario
from planner.simulation.overrides import effective_workload
from planner.simulation.plans import scenario_tiers
from pricing.models import AIModel
from pricing.resolve import PriceResolver, ResolvedPrice, price_instant
from pricing.selectors import PriceNotFound

#: 2: the tiers are the scenario's plan and each names the live tier it stands for
#: (``live_tier``: ``{"id", "name"}`` or None). Version 1 snapshots (tiers of the product) still
#: run: the engine input reads neither the schema nor ``live_tier``.
#: 3: tiers carry ``billing`` (the field the tier bills by and its months-per-unit factor) and
#: ``segments`` (``{"id", "key", "share", "usage"}``, usage per workload with the tier's own where
#: a segment has none); levers name tiers (``tiers``: names) and may change their plans
#: (``LEVER_PLAN_FIELDS``). Versions 1 and 2 read as having no segments and cost levers only.
#: 4: tiers carry ``acquisition`` (``{"new_subscribers_monthly", "new_subscribers_growth_monthly",
#: "cac"}``) and the scenario ``model_costs`` and ``fixed_costs_monthly``, for the lifetime
#: figures. Earlier versions read as having none.
SNAPSHOT_SCHEMA = 4
BATCH_VARIANT = "processing=batch"
_PACKAGES = ("numpy", "scipy", "genai-prices", "numpy-financial", "Django")


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on, plus the engine's own version."""
    versions = {name: importlib.metadata.version(name) for name in _PACKAGES}
    versions["engine"] = engine.ENGINE_VERSION
    return versions


def _price_json(
    price: ResolvedPrice, *, variant: str = "", batch: ResolvedPrice | None = None
) -> dict[str, Any]:
    return {
        "key": price.key,
        "model_id": None if price.row is None else price.row.model_id,
        "price_id": None if price.row is None else price.row.pk,
        "variant": variant,
        "structure": dict(price.structure),
        "batch": None
        if batch is None or batch.row is None
        else {"price_id": batch.row.pk, "structure": dict(batch.structure)},
        "source": dict(price.source),
    }


def _model_prices(
    resolver: PriceResolver, model: AIModel, *, variant: str, at: dt.datetime
) -> dict[str, Any]:
    """The catalog model's resolved standard (and, if offered, batch) price at ``at``, as JSON,
    with the organisation's negotiated discount in force on that date applied to both. ``source``
    records the sheet, entry and discount used (``{"kind": "catalog"}`` at list price)."""
    try:
        price = resolver.catalog_price(model=model, at=at, variant=variant)
    except PriceNotFound as error:
        raise SimulationInputError(str(error)) from error
    try:
        batch: ResolvedPrice | None = resolver.catalog_price(model=model, at=at, variant=BATCH_VARIANT)
    except PriceNotFound:
        batch = None
    return _price_json(price, variant=variant, batch=batch)


def _private_model_prices(
    resolver: PriceResolver, entry: PriceSheetEntry, *, at: dt.datetime
) -> dict[str, Any]:
    """A private model priced by the organisation's sheet in force on ``at``'s date.

    The mix names a sheet entry; its price on the date comes from the sheet in force then that
    has the same slug (a newer sheet may reprice the model), so runs follow price history.
    """
    try:
        return _price_json(resolver.private_price(slug=entry.slug, at=at))
    except PriceNotFound as error:
        raise SimulationInputError(
            f"Private model {entry.slug!r} has no price on {at.date().isoformat()}: no price sheet in force "
            f"on that date lists it (it is on sheet {entry.sheet.name!r}, "
            f"{entry.sheet.effective_from.isoformat()} to {_open_end(entry.sheet.effective_to)})."
        ) from error


def _open_end(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else "open-ended"


def _mix_entry_prices(resolver: PriceResolver, entry: WorkloadModel, *, at: dt.datetime) -> dict[str, Any]:
    """The resolved price of one model-mix entry, whichever its source."""
    if entry.self_hosted is not None:
        return _price_json(resolver.self_hosted_price(name=entry.self_hosted.name))
    if entry.price_sheet_entry is not None:
        return _private_model_prices(resolver, entry.price_sheet_entry, at=at)
    assert entry.model is not None  # the exactly-one-source constraint
    return _model_prices(resolver, entry.model, variant=entry.variant, at=at)


def _spec(median: float | None, p90: float | None) -> list[float] | None:
    return None if median is None or p90 is None else [float(median), float(p90)]


def _token_specs(fields: dict[str, Any]) -> dict[str, list[float] | None]:
    """The snapshot's (median, p90) pairs of a workload's effective fields."""
    return {
        prefix: _spec(fields[f"{prefix}_median"], fields[f"{prefix}_p90"])
        for prefix in ("input_tokens", "output_tokens", "reasoning_tokens", "calls_per_request")
    }


def billing_json(tier: Tier) -> dict[str, Any]:
    """The field ``tier`` bills by and its seats: what a lever that sets the fee sets
    (``planner.products.models.tiers.monthly_revenue`` turns a fee into monthly revenue)."""
    return {"field": tier.billing_field, "seats": tier.seats}


def segments_json(
    tier: Tier,
    segments: list[Segment],
    workloads: list[Workload],
    usage: Mapping[tuple[int, int | None, int], UsageDistribution],
) -> list[dict[str, Any]]:
    """The tier's segments with their usage per workload (the tier's own where a segment has
    none). Raises SimulationInputError when their shares do not sum to 1."""
    problem = segment_shares_problem([segment.share for segment in segments])
    if problem:
        raise SimulationInputError(f"Tier {tier.name}: {problem}; adjust the segments' shares.")
    return [
        {
            "id": segment.pk,
            "key": segment.name,
            "share": segment.share,
            "usage": [
                usage_json(
                    usage.get((tier.pk, segment.pk, w.pk)) or usage.get((tier.pk, None, w.pk)),
                    f"Tier {tier.name}, segment {segment.name}, workload {w.name}",
                )
                for w in workloads
            ],
        }
        for segment in segments
    ]


def scenario_snapshot(*, scenario: Scenario, tiers: Iterable[Tier] | None = None) -> dict[str, Any]:
    """Freeze every input of ``scenario`` (prices resolved at its price date) into JSON.

    The plan frozen is the scenario's own unless ``tiers`` names another (the migration test
    freezes the live plan, which is what version 1 snapshots froze: the product's tiers)."""
    product = scenario.product
    at = price_instant(scenario.price_date)
    plan = scenario_tiers(scenario) if tiers is None else Tier.objects.filter(pk__in=[t.pk for t in tiers])
    tiers = list(plan.select_related("live_tier").order_by("position", "id"))
    workloads = list(product.workloads.order_by("position", "id"))
    if not tiers or not workloads:
        raise SimulationInputError(
            "The scenario's plan needs at least one tier and the product at least one workload to simulate."
        )
    usage = {
        (u.tier_id, u.segment_id, u.workload_id): u for u in UsageDistribution.objects.filter(tier__in=tiers)
    }
    segments: dict[int, list[Segment]] = {tier.pk: [] for tier in tiers}
    for segment in Segment.objects.filter(tier__in=tiers).order_by("position", "id"):
        segments[segment.tier_id].append(segment)
    overrides = {o.workload_id: o for o in scenario.workload_overrides.all()}
    effective = {w.pk: effective_workload(w, overrides.get(w.pk)) for w in workloads}
    mixes: dict[int, list[WorkloadModel]] = {w.pk: [] for w in workloads}
    for entry in WorkloadModel.objects.filter(workload__product=product).select_related(
        "model__provider", "price_sheet_entry__sheet", "self_hosted"
    ):
        mixes[entry.workload_id].append(entry)
    keys, matrix = correlation_matrix(product=product)
    order = [keys.index(w.pk) for w in workloads]
    correlation = np.asarray(matrix)[np.ix_(order, order)]
    routing_ids = {lever["routing_model"] for lever in scenario.levers if lever.get("routing_model")}
    routing_models = {m.pk: m for m in AIModel.objects.filter(pk__in=routing_ids).select_related("provider")}
    override_models = {entry["model"] for fields in effective.values() for entry in fields["model_mix"] or []}
    catalog_models = {
        m.pk: m for m in AIModel.objects.filter(pk__in=override_models).select_related("provider")
    }
    mix_models = {entry.model_id for entries in mixes.values() for entry in entries if entry.model_id}
    mix_models |= override_models
    resolver = price_resolver(
        organization_id=product.organization_id, model_ids=mix_models | set(routing_models)
    )
    workload_keys = {w.pk: w.name for w in workloads}
    tier_keys = {tier.pk: tier.name for tier in tiers}
    levers = []
    for lever in scenario.levers:
        strangers = [t for t in lever.get("tiers", []) if t not in tier_keys]
        if strangers:
            raise SimulationInputError(
                f"Lever '{lever['label']}': tier id(s) {strangers} are not in this scenario's plan."
            )
        routing = lever.get("routing_model")
        if routing is not None and routing not in routing_models:
            raise SimulationInputError(f"Lever '{lever['key']}': routing model {routing} does not exist.")
        levers.append(
            {
                **lever,
                "workloads": [workload_keys[w] for w in lever.get("workloads", []) if w in workload_keys],
                "tiers": [tier_keys[t] for t in lever.get("tiers", [])],
                "routing_model": _model_prices(resolver, routing_models[routing], variant="", at=at)
                if routing
                else None,
            }
        )
    return {
        "schema": SNAPSHOT_SCHEMA,
        "organization": {"id": product.organization_id, "currency": product.organization.currency},
        "product": {"id": product.pk, "name": product.name},
        "scenario": {
            "id": scenario.pk,
            "name": scenario.name,
            "horizon_months": scenario.horizon_months,
            "price_trend_yearly": scenario.price_trend_yearly,
            "usage_growth_monthly": scenario.usage_growth_monthly,
            "discount_rate_yearly": scenario.discount_rate_yearly,
            "target_margin": scenario.target_margin,
            "model_costs": scenario.model_costs,
            "fixed_costs_monthly": str(scenario.fixed_costs_monthly),
        },
        "price_date": scenario.price_date.isoformat(),
        "tiers": [
            {
                "id": tier.pk,
                "key": tier.name,
                "live_tier": None
                if tier.live_tier is None
                else {"id": tier.live_tier.pk, "name": tier.live_tier.name},
                "monthly_price": str(tier.monthly_revenue_per_subscriber),
                "included_credits": tier.included_credits,
                "overage_price": None
                if tier.overage_price_per_credit is None
                else str(tier.overage_price_per_credit),
                "hard_cap": tier.hard_cap_credits,
                "payment_fee_pct": str(tier.payment_fee_pct),
                "payment_fee_fixed": str(tier.payment_fee_fixed),
                "subscribers": tier.subscribers,
                "churn_monthly": tier.churn_monthly,
                "billing": billing_json(tier),
                "acquisition": {
                    "new_subscribers_monthly": tier.new_subscribers_monthly,
                    "new_subscribers_growth_monthly": tier.new_subscribers_growth_monthly,
                    "cac": str(tier.cac),
                },
                "usage": [
                    usage_json(usage.get((tier.pk, None, w.pk)), f"Tier {tier.name}, workload {w.name}")
                    for w in workloads
                ],
                "segments": segments_json(tier, segments[tier.pk], workloads, usage),
            }
            for tier in tiers
        ],
        "workloads": [
            {
                "id": w.pk,
                "key": w.name,
                "credits_per_request": w.credits_per_request,
                **_token_specs(effective[w.pk]),
                "prompt_cache_share": w.prompt_cache_share,
                "prompt_cache_write_share": w.prompt_cache_write_share,
                "response_cache_hit_rate": w.response_cache_hit_rate,
                "batch_share": w.batch_share,
                "distillation": w.distillation,
                "models": [
                    {
                        **_mix_entry_prices(resolver, entry, at=at),
                        "share": entry.share,
                        "uses_reasoning": entry.uses_reasoning,
                    }
                    for entry in mixes[w.pk]
                ]
                if effective[w.pk]["model_mix"] is None
                else [
                    {
                        **_model_prices(
                            resolver, catalog_models[entry["model"]], variant=entry["variant"], at=at
                        ),
                        "share": entry["share"],
                        "uses_reasoning": entry["uses_reasoning"],
                    }
                    for entry in effective[w.pk]["model_mix"]
                ],
            }
            for w in workloads
        ],
        "correlation": correlation.tolist(),
        "levers": levers,
        "package_versions": package_versions(),
    }
