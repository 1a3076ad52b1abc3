"""THE adapter from stored data to the engine's types: every place that turns a database row or a
run snapshot into ``planner.engine`` dataclasses goes through this module.

- ``usage_json``: a ``UsageDistribution`` row as the JSON a snapshot stores;
- ``usage_dist``: that JSON (or a row, via ``usage_json``) as the engine's ``UsageDist``;
- ``engine_input_from_snapshot``: a run snapshot as the engine's ``EngineInput`` (pure, no
  database access), so a run can be reproduced from its snapshot after any later edit;
  snapshots of every schema (1-4) read: older ones have no segments and no plan levers
  (before 3) and no acquisition, model or fixed costs (before 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from planner.core.validators import LEVER_PLAN_FIELDS
from planner.engine.types import (
    EngineInput,
    Lever,
    LogNormalSpec,
    ModelCost,
    ModelOption,
    Segment,
    Tier,
    TierChange,
    UsageDist,
    Workload,
)
from planner.products.models import UsageDistribution
from planner.products.models.tiers import monthly_revenue
from pricing.calculator import PriceSchedule, VectorPricer


class SimulationInputError(ValueError):
    """The scenario cannot be simulated; the message says what to fix."""


def usage_json(dist: UsageDistribution | None, where: str) -> dict[str, Any]:
    if dist is None:
        raise SimulationInputError(f"{where}: no usage distribution is set.")
    return {
        "kind": dist.kind,
        "median": dist.median,
        "p90": dist.p90,
        "mean": dist.mean,
        "shape": dist.shape,
        "scale": dist.scale,
        "alpha": dist.alpha,
        "upper": dist.upper,
        "values": list(dist.values or []),
        "overdispersion": dist.overdispersion,
    }


def _pricer(structure: Mapping[str, Any]) -> VectorPricer:
    return VectorPricer(PriceSchedule.from_structure(structure))


def _model_option(data: Mapping[str, Any], share: float, uses_reasoning: bool) -> ModelOption:
    batch = data.get("batch")
    return ModelOption(
        key=data["key"],
        share=share,
        pricer=_pricer(data["structure"]),
        batch_pricer=_pricer(batch["structure"]) if batch else None,
        uses_reasoning=uses_reasoning,
    )


def _lognormal(spec: list[float] | None) -> LogNormalSpec | None:
    return None if spec is None else LogNormalSpec(median=spec[0], p90=spec[1])


def usage_dist(data: Mapping[str, Any]) -> UsageDist:
    def number(name: str) -> float:
        value = data.get(name)
        return 0.0 if value is None else float(value)

    return UsageDist(
        kind=data["kind"],
        median=number("median"),
        p90=number("p90"),
        mean=number("mean"),
        shape=number("shape"),
        scale=number("scale"),
        alpha=number("alpha"),
        upper=None if data.get("upper") is None else float(data["upper"]),
        values=tuple(float(v) for v in data.get("values") or ()),
        overdispersion=None if data.get("overdispersion") is None else float(data["overdispersion"]),
    )


def plan_changes(
    lever: Mapping[str, Any], tier_keys: list[str], billing: Mapping[str, Mapping[str, Any] | None]
) -> tuple[TierChange, ...]:
    """The lever's plan changes, one per tier it names (every tier when it names none); empty
    when it changes no plan field. A ``fee`` is set in the field each tier bills by, so it
    becomes that tier's monthly revenue per subscriber here."""
    if all(lever.get(name) is None for name in LEVER_PLAN_FIELDS):
        return ()
    changes = []
    for key in lever.get("tiers") or tier_keys:
        fee = lever.get("fee")
        monthly = None
        if fee is not None:
            rule = billing.get(key) or {"field": "monthly_fee", "seats": None}
            monthly = float(monthly_revenue(rule["field"], Decimal(str(fee)), seats=rule["seats"]))
        changes.append(
            TierChange(
                tier=key,
                fee_scale=_optional(lever.get("fee_scale")),
                monthly_price=monthly,
                included_credits=_optional(lever.get("included_credits")),
                overage_price=_optional(lever.get("overage_price")),
                hard_cap=_optional(lever.get("hard_cap")),
            )
        )
    return tuple(changes)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def engine_input_from_snapshot(snapshot: Mapping[str, Any]) -> EngineInput:
    """Build the engine's inputs from a snapshot alone (pure; no database access)."""
    workloads = []
    for w in snapshot["workloads"]:
        input_tokens = _lognormal(w["input_tokens"])
        output_tokens = _lognormal(w["output_tokens"])
        assert input_tokens is not None and output_tokens is not None
        workloads.append(
            Workload(
                key=w["key"],
                credits_per_request=float(w["credits_per_request"]),
                models=tuple(
                    _model_option(m, float(m["share"]), bool(m["uses_reasoning"])) for m in w["models"]
                ),
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                reasoning_tokens=_lognormal(w["reasoning_tokens"]),
                calls_per_request=_lognormal(w["calls_per_request"]),
                prompt_cache_share=float(w["prompt_cache_share"]),
                prompt_cache_write_share=float(w["prompt_cache_write_share"]),
                response_cache_hit_rate=float(w["response_cache_hit_rate"]),
                batch_share=float(w["batch_share"]),
                distillation=float(w["distillation"]),
            )
        )
    tiers = tuple(
        Tier(
            key=t["key"],
            monthly_price=float(t["monthly_price"]),
            included_credits=t["included_credits"],
            overage_price=None if t["overage_price"] is None else float(t["overage_price"]),
            hard_cap=t["hard_cap"],
            payment_fee_pct=float(t["payment_fee_pct"]),
            payment_fee_fixed=float(t["payment_fee_fixed"]),
            subscribers=int(t["subscribers"]),
            usage=tuple(usage_dist(u) for u in t["usage"]),
            churn_monthly=float(t["churn_monthly"]),
            segments=tuple(
                Segment(key=s["key"], share=float(s["share"]), usage=tuple(usage_dist(u) for u in s["usage"]))
                for s in t.get("segments") or ()
            ),
            **_acquisition(t.get("acquisition")),
        )
        for t in snapshot["tiers"]
    )
    billing = {t["key"]: t.get("billing") for t in snapshot["tiers"]}
    levers = tuple(
        Lever(
            key=lever["key"],
            label=lever["label"],
            workloads=tuple(lever.get("workloads") or ()),
            routing_model=_model_option(lever["routing_model"], 0.0, False)
            if lever.get("routing_model")
            else None,
            routing_share=lever.get("routing_share"),
            response_cache_hit_rate=lever.get("response_cache_hit_rate"),
            prompt_cache_share=lever.get("prompt_cache_share"),
            distillation=lever.get("distillation"),
            batch_share=lever.get("batch_share"),
            plan=plan_changes(lever, [t.key for t in tiers], billing),
        )
        for lever in snapshot["levers"]
    )
    scenario = snapshot["scenario"]
    return EngineInput(
        tiers=tiers,
        workloads=tuple(workloads),
        correlation=tuple(tuple(float(x) for x in row) for row in snapshot["correlation"]),
        horizon_months=int(scenario["horizon_months"]),
        price_trend_yearly=float(scenario["price_trend_yearly"]),
        usage_growth_monthly=float(scenario["usage_growth_monthly"]),
        discount_rate_yearly=float(scenario["discount_rate_yearly"]),
        target_margin=float(scenario["target_margin"]),
        levers=levers,
        model_costs=tuple(
            ModelCost(
                label=str(cost["label"]),
                month=int(cost["month"]),
                amount=float(cost["amount"]),
                every_months=None if cost.get("every_months") is None else int(cost["every_months"]),
            )
            for cost in scenario.get("model_costs") or ()
        ),
        fixed_costs_monthly=float(scenario.get("fixed_costs_monthly") or 0),
    )


def _acquisition(data: Mapping[str, Any] | None) -> dict[str, float]:
    """A snapshot tier's acquisition inputs as engine ``Tier`` fields (none before schema 4)."""
    if not data:
        return {}
    return {
        "new_subscribers_monthly": float(data["new_subscribers_monthly"]),
        "new_subscribers_growth_monthly": float(data["new_subscribers_growth_monthly"]),
        "cac": float(data["cac"]),
    }
