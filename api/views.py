"""API views: thin viewsets over the planner's selectors (reads) and services (writes).

Every queryset starts from the request's organisation (``api.tenancy.request_organization``),
so another organisation's object is a 404, and related ids in writes resolve only within the
organisation (``api.fields.OrganizationRelatedField``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from django.http import HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api import filters
from api.pagination import CursorPagination
from api.representation import finished_run_document, represent, represent_many, represent_versions
from api.serializers.documents import ScenarioDocumentSerializer
from api.serializers.resources import (
    ProductSerializer,
    ScenarioDetailSerializer,
    ScenarioSerializer,
    TierSerializer,
    UsageDistributionSerializer,
    WorkloadSerializer,
)
from api.serializers.runs import RunListSerializer, RunSerializer, RunStartSerializer
from api.tenancy import request_organization
from planner import selectors
from planner.models import Product, Scenario, SimulationRun, Tier, UsageDistribution, Workload
from planner.services import product as product_services
from planner.services import scenario as scenario_services
from planner.services.runs import run_cancel, run_start
from planner.services.scenario_document import scenario_document_export, scenario_document_import
from planner.services.simulation import SimulationInputError

#: Object ids in URLs: 1 to 19 digits (anything else is not a route, hence a 404).
ID_PATTERN = r"[0-9]{1,19}"


class OrganizationViewSetMixin(viewsets.GenericViewSet[Any]):
    """``get_queryset`` = ``selector(organization=<the request's organisation>)``.

    ``list`` and ``retrieve`` represent objects with the process's shared serializer
    (``api.representation``): the same JSON as a fresh serializer, without rebuilding its
    fields on every request.
    """

    selector: ClassVar[Callable[..., QuerySet[Any]]]
    model: ClassVar[type[Model]]
    lookup_value_regex = ID_PATTERN
    #: Set where the model stamps every change in this column and the list serializer reads
    #: only the model's own columns: lists then reuse representations by (id, version)
    #: (``api.representation.represent_versions``).
    version_field: ClassVar[str | None] = None

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request organisation
            return self.model._default_manager.none()
        return type(self).selector(organization=request_organization(self.request))

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Filters and ordering shape lists; one object (a detail route) is found by its id."""
        if self.detail:
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        serializer_class = self.get_serializer_class()
        if self.version_field is not None:
            versions = queryset.values_list("pk", self.version_field)
            page = self.paginate_queryset(versions)
            data = represent_versions(
                serializer_class,
                queryset,
                list(versions if page is None else page),
                version_field=self.version_field,
            )
            return Response(data) if page is None else self.get_paginated_response(data)
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response(represent_many(serializer_class, queryset))
        return self.get_paginated_response(represent_many(serializer_class, page))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(represent(self.get_serializer_class(), self.get_object()))


class ProductViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[Product]):
    """Products of the organisation."""

    model = Product
    selector = staticmethod(selectors.products_for_organization)
    serializer_class = ProductSerializer
    version_field = "updated_at"
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    def perform_destroy(self, instance: Product) -> None:
        product_services.product_delete(product=instance)


class TierViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[Tier]):
    """Tiers of the organisation's products (filter with ``?product=``)."""

    model = Tier
    selector = staticmethod(selectors.tiers_for_organization)
    serializer_class = TierSerializer
    filterset_class = filters.TierFilter
    ordering_fields = ["position", "name", "id", "subscribers", "monthly_fee"]
    ordering = ["product_id", "position", "id"]

    def perform_destroy(self, instance: Tier) -> None:
        product_services.tier_delete(tier=instance)


class WorkloadViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[Workload]):
    """Workloads with their model mix (``models``, written as a whole; shares sum to 1)."""

    model = Workload
    selector = staticmethod(selectors.workloads_for_organization)
    serializer_class = WorkloadSerializer
    filterset_class = filters.WorkloadFilter
    ordering_fields = ["position", "name", "id"]
    ordering = ["product_id", "position", "id"]

    def perform_destroy(self, instance: Workload) -> None:
        product_services.workload_delete(workload=instance)


class UsageDistributionViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[UsageDistribution]):
    """Per tier and workload: each user's expected requests per month."""

    model = UsageDistribution
    selector = staticmethod(selectors.usage_distributions_for_organization)
    serializer_class = UsageDistributionSerializer
    filterset_class = filters.UsageDistributionFilter
    ordering_fields = ["id", "tier", "workload"]
    ordering = ["tier_id", "workload_id"]

    def perform_destroy(self, instance: UsageDistribution) -> None:
        product_services.usage_distribution_delete(distribution=instance)


@extend_schema_view(retrieve=extend_schema(responses=ScenarioDetailSerializer))
class ScenarioViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[Scenario]):
    """Scenarios; reading one includes its product's tiers, workloads and usage (``inputs``)."""

    model = Scenario
    selector = staticmethod(selectors.scenarios_for_organization)
    serializer_class = ScenarioSerializer
    version_field = "updated_at"
    filterset_class = filters.ScenarioFilter
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    ordering = ["name", "id"]

    def get_queryset(self) -> QuerySet[Scenario]:
        if self.action == "retrieve" and not getattr(self, "swagger_fake_view", False):
            return selectors.scenarios_with_inputs_for_organization(
                organization=request_organization(self.request)
            )
        return super().get_queryset()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return ScenarioDetailSerializer if self.action == "retrieve" else ScenarioSerializer

    def perform_destroy(self, instance: Scenario) -> None:
        scenario_services.scenario_delete(scenario=instance)

    @extend_schema(
        summary="Export the scenario as a portable document",
        responses=ScenarioDocumentSerializer,
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def document(self, request: Request, pk: str | None = None) -> Response:
        scenario = self.get_object()
        return Response(ScenarioDocumentSerializer(scenario_document_export(scenario=scenario)).data)

    @extend_schema(
        summary="Import a scenario document as a new product and scenario",
        request=ScenarioDocumentSerializer,
        responses={201: ScenarioDetailSerializer},
        filters=False,
    )
    @action(detail=False, methods=["post"], url_path="import", pagination_class=None, filter_backends=[])
    def import_document(self, request: Request) -> Response:
        document = ScenarioDocumentSerializer(data=request.data)
        document.is_valid(raise_exception=True)
        scenario = scenario_document_import(
            organization=request_organization(request), document=document.validated_data
        )
        scenario = selectors.scenarios_with_inputs_for_organization(
            organization=scenario.product.organization
        ).get(pk=scenario.pk)
        return Response(
            ScenarioDetailSerializer(scenario, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Start a simulation run of the scenario",
        request=RunStartSerializer,
        responses={202: OpenApiResponse(RunSerializer, description="The run, queued.")},
        filters=False,
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        scenario = self.get_object()
        start = RunStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        try:
            run = run_start(scenario=scenario, **start.validated_data)
        except SimulationInputError as error:
            raise serializers.ValidationError(
                {"non_field_errors": [serializers.ErrorDetail(str(error), code="simulation_input")]}
            ) from error
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunViewSet(OrganizationViewSetMixin, viewsets.ReadOnlyModelViewSet[SimulationRun]):
    """Simulation runs, newest first (cursor pagination; filter with ``?scenario=`` and
    ``?status=``). Reading one gives its status, progress and, once succeeded, the results."""

    model = SimulationRun
    selector = staticmethod(selectors.runs_for_organization)
    serializer_class = RunSerializer
    filterset_class = filters.RunFilter
    pagination_class = CursorPagination
    filter_backends = [filters.FilterBackend]  # the cursor fixes the order

    def get_queryset(self) -> QuerySet[SimulationRun]:
        # The frozen inputs are never part of a response; results only of one run's read
        # (loaded there when the run's cached document is missing).
        return super().get_queryset().defer("snapshot", "package_versions", "results")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return RunListSerializer if self.action == "list" else RunSerializer

    @extend_schema(responses=RunSerializer)
    def retrieve(  # type: ignore[override]  # DRF views may answer any Django response
        self, request: Request, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """A succeeded run is final: its document is rendered once and served from the cache,
        with an ``ETag`` (``If-None-Match`` gives a 304)."""
        run = self.get_object()
        if run.status != SimulationRun.Status.SUCCEEDED:
            return Response(represent(RunSerializer, run))
        document = finished_run_document(run)
        response: HttpResponseBase
        if document.etag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
        else:
            response = HttpResponse(document.body, content_type="application/json")
        response.headers["ETag"] = document.etag
        return response

    @extend_schema(
        summary="Cancel a queued or running run", request=None, responses=RunSerializer, filters=False
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = run_cancel(run=self.get_object())
        return Response(RunSerializer(run).data)
