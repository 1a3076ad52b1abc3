"""A scenario's plan: the tiers and usage distributions it is simulated with.

Every scenario owns its plan (``Tier.scenario``); the product keeps the **live plan**, the
tiers real customers are on. A new scenario starts as a copy of the live plan or of another
scenario's plan; a copy's tiers stand for the same live tiers as the tiers they were copied
from (``Tier.live_tier``), so replay and compare can match them. Editing one plan never touches
another: nothing is shared but the product's workloads and correlations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from planner.products.models import Tier, UsageDistribution
from planner.products.segments import segments_copy
from planner.products.selectors import live_tiers
from planner.products.services import TIER_FIELDS, USAGE_DISTRIBUTION_FIELDS
from planner.simulation.models import Scenario


def scenario_tiers(scenario: Scenario) -> QuerySet[Tier]:
    """The tiers of ``scenario``'s plan, in display order."""
    return Tier.objects.filter(scenario=scenario).order_by("position", "id")


def stand_ins(live_tier_ids: Iterable[int]) -> QuerySet[Tier]:
    """The scenarios' tiers that stand for these live tiers, with their scenario, by scenario name."""
    return (
        Tier.objects.filter(live_tier_id__in=list(live_tier_ids))
        .select_related("scenario")
        .order_by("scenario__name", "scenario_id")
    )


def plan_copy(*, tiers: Iterable[Tier], scenario: Scenario) -> list[Tier]:
    """Copy ``tiers`` (a live plan or another scenario's plan) with their segments and usage
    distributions into ``scenario``'s plan, which must be empty. Each copy stands for the live tier its
    original is (a live tier) or stands for (a scenario tier). Returns the copies in order."""
    sources = list(tiers)
    with transaction.atomic():
        copies = Tier.objects.bulk_create(
            [
                Tier(
                    product_id=scenario.product_id,
                    scenario=scenario,
                    live_tier_id=source.pk if source.scenario_id is None else source.live_tier_id,
                    **{name: getattr(source, name) for name in TIER_FIELDS},
                )
                for source in sources
            ]
        )
        copy_of = {source.pk: copy for source, copy in zip(sources, copies, strict=True)}
        UsageDistribution.objects.bulk_create(
            [
                UsageDistribution(
                    tier=copy_of[usage.tier_id],
                    workload_id=usage.workload_id,
                    **{name: getattr(usage, name) for name in USAGE_DISTRIBUTION_FIELDS},
                )
                for usage in UsageDistribution.objects.filter(
                    tier__in=sources, segment__isnull=True
                ).order_by("tier_id", "workload_id")
            ]
        )
        segments_copy(pairs=list(zip(sources, copies, strict=True)))
    return copies


def plan_start(*, scenario: Scenario, source: Scenario | None = None) -> dict[int, Tier]:
    """Give the new ``scenario`` its plan: a copy of ``source``'s plan, or of the product's live
    plan when ``source`` is None. Returns each copy by the id of the tier it was copied from."""
    tiers = list(live_tiers(scenario.product) if source is None else scenario_tiers(source))
    copies = plan_copy(tiers=tiers, scenario=scenario)
    return {tier.pk: copy for tier, copy in zip(tiers, copies, strict=True)}


def levers_retargeted(
    levers: Iterable[Mapping[str, Any]], copies: Mapping[int, Tier]
) -> list[dict[str, Any]]:
    """``levers`` with the tier ids they name replaced by the ids of those tiers' copies.
    Raises ValidationError on ``levers`` for an id that is not a tier of the copied plan."""
    result = []
    for lever in levers:
        named = lever.get("tiers") or []
        unknown = [t for t in named if t not in copies]
        if unknown:
            raise ValidationError(
                {
                    "levers": f"Lever '{lever.get('key')}': tier id(s) {unknown} are not tiers "
                    "of the plan it starts from."
                }
            )
        result.append({**lever, "tiers": [copies[t].pk for t in named]} if named else dict(lever))
    return result
