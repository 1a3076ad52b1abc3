"""Read-side queries of products, scoped to an organisation."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from planner.accounts.models import Organization
from planner.products.models import Product, Tier, UsageDistribution, Workload, WorkloadModel


def products_for_organization(*, organization: Organization) -> QuerySet[Product]:
    return Product.objects.filter(organization=organization)


def tiers_for_organization(*, organization: Organization) -> QuerySet[Tier]:
    return Tier.objects.filter(product__organization=organization)


def workloads_for_organization(*, organization: Organization) -> QuerySet[Workload]:
    """Workloads of ``organization`` with their model mix prefetched."""
    mix = WorkloadModel.objects.select_related("model__provider")
    return Workload.objects.filter(product__organization=organization).prefetch_related(
        Prefetch("model_mix", queryset=mix)
    )


def usage_distributions_for_organization(*, organization: Organization) -> QuerySet[UsageDistribution]:
    return UsageDistribution.objects.filter(tier__product__organization=organization)
