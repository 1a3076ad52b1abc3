"""API views of products, tiers, segments, workloads and usage distributions."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api import filters
from api.idempotency import idempotent
from api.serializers.resources import (
    ProductSerializer,
    SegmentSerializer,
    TierSerializer,
    UsageDistributionSerializer,
    WorkloadSerializer,
)
from api.views.base import OrganizationViewSetMixin
from api.views.replays import START_SCHEMA, start_replay
from planner.products import services as product_services
from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload
from planner.products.segments import segment_delete
from planner.products.selectors import (
    products_for_organization,
    segments_for_organization,
    tiers_for_organization,
    usage_distributions_for_organization,
    workloads_for_organization,
)


class ProductViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[Product]):
    """Products of the organisation."""

    model = Product
    selector = staticmethod(products_for_organization)
    serializer_class = ProductSerializer
    version_field = "updated_at"
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    def perform_destroy(self, instance: Product) -> None:
        product_services.product_delete(product=instance)

    @START_SCHEMA
    @extend_schema(summary="Replay past months of actual usage under the product's live plan")
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def replays(self, request: Request, pk: str | None = None) -> Response:
        return start_replay(self.get_object(), request)


_Part = TypeVar("_Part", Tier, Workload)


class _ProductPartViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[_Part]):
    """Tiers or workloads: the parts a product orders by ``position``. Filtered with
    ``?product=``; listed product by product, in position order."""

    filterset_class = filters.ProductFilter
    ordering = ["product_id", "position", "id"]


class PlanListMixin:
    """Lists show the live plan unless ``?scenario=<id>`` names a scenario's plan (or another of
    ``plan_parameters`` names a part of one plan); reading, changing or deleting one object by id
    works for either."""

    #: The lookup from the listed model to ``Tier.scenario``.
    plan_lookup = "scenario"
    #: Query parameters that name one plan or a part of one: the list is then that plan's.
    plan_parameters: tuple[str, ...] = ("scenario",)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)  # type: ignore[misc]
        action, parameters = self.action, self.request.query_params  # type: ignore[attr-defined]
        if action == "list" and not any(name in parameters for name in self.plan_parameters):
            queryset = queryset.filter(**{f"{self.plan_lookup}__isnull": True})
        return queryset


class TierViewSet(PlanListMixin, _ProductPartViewSet[Tier]):
    """Tiers of the organisation's products: the live plan (filter with ``?product=``), or one
    scenario's plan with ``?scenario=<id>``."""

    model = Tier
    selector = staticmethod(tiers_for_organization)
    serializer_class = TierSerializer
    filterset_class = filters.TierFilter
    ordering_fields = ["position", "name", "id", "subscribers", "monthly_fee"]

    def perform_destroy(self, instance: Tier) -> None:
        product_services.tier_delete(tier=instance)


class SegmentViewSet(PlanListMixin, OrganizationViewSetMixin, viewsets.ModelViewSet[Segment]):
    """Segments of a tier's users, each with its share (a tier's shares sum to 1 before it is
    simulated). Lists show the live plan's; ``?scenario=<id>`` that scenario's, ``?tier=<id>``
    that tier's. ``tier`` is fixed after creation; deleting a segment deletes its usage."""

    plan_lookup = "tier__scenario"
    plan_parameters = ("scenario", "tier")

    model = Segment
    selector = staticmethod(segments_for_organization)
    serializer_class = SegmentSerializer
    filterset_class = filters.SegmentFilter
    ordering_fields = ["id", "tier", "position", "name", "share"]
    ordering = ["tier_id", "position", "id"]

    def perform_destroy(self, instance: Segment) -> None:
        segment_delete(segment=instance)


@extend_schema_view(
    destroy=extend_schema(
        parameters=[
            OpenApiParameter(
                "confirm",
                bool,
                description="true: delete even though scenarios use the workload (their levers drop it, "
                "their overrides of it go).",
            )
        ]
    )
)
class WorkloadViewSet(_ProductPartViewSet[Workload]):
    """Workloads with their model mix (``models``, written as a whole; shares sum to 1).
    ``DELETE`` of a workload that scenarios use (levers, overrides) is a 400 listing them unless
    ``?confirm=true``: then their levers drop it (a lever naming only it goes) and its overrides go."""

    model = Workload
    selector = staticmethod(workloads_for_organization)
    serializer_class = WorkloadSerializer
    ordering_fields = ["position", "name", "id"]

    def perform_destroy(self, instance: Workload) -> None:
        raw = self.request.query_params.get("confirm", "false")
        if raw not in ("true", "false"):  # a boolean, as the schema says: anything else is a 400
            raise serializers.ValidationError({"confirm": ["Enter true or false."]})
        product_services.workload_delete(workload=instance, confirm=raw == "true")


class UsageDistributionViewSet(
    PlanListMixin, OrganizationViewSetMixin, viewsets.ModelViewSet[UsageDistribution]
):
    """Per tier (or segment of a tier) and workload: each user's expected requests per month.
    Lists show the live plan's; ``?scenario=<id>`` that scenario's, ``?tier=<id>`` or
    ``?segment=<id>`` that tier's or segment's."""

    plan_lookup = "tier__scenario"
    plan_parameters = ("scenario", "tier", "segment")

    model = UsageDistribution
    selector = staticmethod(usage_distributions_for_organization)
    serializer_class = UsageDistributionSerializer
    filterset_class = filters.UsageDistributionFilter
    ordering_fields = ["id", "tier", "workload"]
    ordering = ["tier_id", "workload_id", "id"]

    def perform_destroy(self, instance: UsageDistribution) -> None:
        product_services.usage_distribution_delete(distribution=instance)
