"""Read-side queries of products, scoped to an organisation."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet

from planner.accounts.models import Organization
from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload, WorkloadModel


def products_for_organization(*, organization: Organization) -> QuerySet[Product]:
    return Product.objects.filter(organization=organization)


def tiers_for_organization(*, organization: Organization) -> QuerySet[Tier]:
    """Every tier of ``organization``: the live plans' and the scenarios'."""
    return Tier.objects.filter(product__organization=organization)


def live_tiers_for_organization(*, organization: Organization) -> QuerySet[Tier]:
    """The live tiers of ``organization`` (the plans real customers are on)."""
    return Tier.objects.filter(product__organization=organization, scenario__isnull=True)


def live_tier_for_organization(*, organization: Organization | int, pk: int, field: str = "tier") -> Tier:
    """The live tier ``pk`` of ``organization``, for inputs about real customers (usage, tier
    changes, margin filters, actual-scope alerts). Raises a ``ValidationError`` on ``field``: no
    such tier in the organisation, or a scenario's tier (scenario plans have no customers)."""
    tier = Tier.objects.filter(pk=pk, product__organization=organization).first()
    if tier is None:
        raise ValidationError({field: f"No tier {pk} in this organisation."})
    if not tier.is_live:
        raise ValidationError(
            {field: f"Tier {pk} belongs to a scenario's plan; real customers are on live tiers only."}
        )
    return tier


def products_with_live_plans(*, organization: Organization) -> list[Product]:
    """``organization``'s products by name, each with ``live_tier_list`` (its live tiers in plan
    order; a scenario's tiers never) and ``workload_list`` (by name) prefetched: what a person
    needs to name tiers and workloads in a usage file, ids included (three queries)."""
    return list(
        Product.objects.filter(organization=organization)
        .order_by("name", "id")
        .prefetch_related(
            Prefetch(
                "all_tiers",
                queryset=Tier.objects.filter(scenario__isnull=True).order_by("position", "id"),
                to_attr="live_tier_list",
            ),
            Prefetch("workloads", queryset=Workload.objects.order_by("name", "id"), to_attr="workload_list"),
        )
    )


def live_tiers(product: Product) -> QuerySet[Tier]:
    """The live plan of ``product``: its tiers that belong to no scenario, in display order."""
    return Tier.objects.filter(product=product, scenario__isnull=True).order_by("position", "id")


def segments_for_organization(*, organization: Organization) -> QuerySet[Segment]:
    """The segments of ``organization``'s tiers, live plans' and scenarios' alike."""
    return Segment.objects.filter(tier__product__organization=organization)


def segments_of_scenario(scenario_id: int) -> QuerySet[Segment]:
    """The segments of a scenario's own plan, in plan order (tier, then segment position)."""
    return Segment.objects.filter(tier__scenario_id=scenario_id).order_by(
        "tier__position", "tier_id", "position", "id"
    )


def workloads_for_organization(*, organization: Organization) -> QuerySet[Workload]:
    """Workloads of ``organization`` with their model mix prefetched."""
    mix = WorkloadModel.objects.select_related("model__provider")
    return Workload.objects.filter(product__organization=organization).prefetch_related(
        Prefetch("model_mix", queryset=mix)
    )


def usage_distributions_for_organization(*, organization: Organization) -> QuerySet[UsageDistribution]:
    return UsageDistribution.objects.filter(tier__product__organization=organization)
