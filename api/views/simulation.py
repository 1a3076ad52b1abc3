"""API views of scenarios and runs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils.http import parse_etags
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api import filters
from api.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES, idempotent
from api.pagination import CursorPagination
from api.representation import finished_run_document, represent
from api.serializers.decisions import (
    OptimizationSerializer,
    OptimizationStartSerializer,
    SensitivityStartSerializer,
)
from api.serializers.documents import ScenarioDocumentSerializer, ScenarioDocumentV1Serializer
from api.serializers.resources import (
    ScenarioDetailSerializer,
    ScenarioDuplicateSerializer,
    ScenarioSerializer,
)
from api.serializers.runs import RunListSerializer, RunSerializer, RunStartSerializer
from api.tenancy import request_organization
from api.views.base import OrganizationViewSetMixin
from api.views.decisions import start_error, start_optimization, start_sensitivity
from api.views.replays import START_SCHEMA, start_replay
from planner.simulation import scenarios as scenario_services
from planner.simulation.adapter import SimulationInputError
from planner.simulation.document import scenario_document_export
from planner.simulation.document_import import scenario_document_import
from planner.simulation.document_replace import scenario_document_replace
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_cancel, run_start
from planner.simulation.selectors import (
    runs_for_organization,
    scenarios_for_organization,
    scenarios_with_inputs_for_organization,
)


@extend_schema_view(retrieve=extend_schema(responses=ScenarioDetailSerializer))
class ScenarioViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[Scenario]):
    """Scenarios; reading one includes its product's tiers, workloads and usage (``inputs``)."""

    model = Scenario
    selector = staticmethod(scenarios_for_organization)
    serializer_class = ScenarioSerializer
    version_field = "updated_at"
    filterset_class = filters.ProductFilter
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    ordering = ["name", "id"]

    def get_queryset(self) -> QuerySet[Scenario]:
        if self.action == "retrieve" and not getattr(self, "swagger_fake_view", False):
            return scenarios_with_inputs_for_organization(organization=request_organization(self.request))
        return super().get_queryset()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return ScenarioDetailSerializer if self.action == "retrieve" else ScenarioSerializer

    def perform_destroy(self, instance: Scenario) -> None:
        scenario_services.scenario_delete(scenario=instance)

    @extend_schema(
        methods=["GET"],
        summary="The scenario as a portable document (version 2: product and plan)",
        responses=ScenarioDocumentSerializer,
        filters=False,
    )
    @extend_schema(
        methods=["PUT"],
        summary="Replace the scenario's plan with the document's, in one transaction",
        request=ScenarioDocumentSerializer,
        responses={200: ScenarioDocumentSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get", "put"], pagination_class=None, filter_backends=[])
    def document(self, request: Request, pk: str | None = None) -> Response:
        scenario = self.get_object()
        if request.method == "PUT":
            document = ScenarioDocumentSerializer(data=request.data)
            document.is_valid(raise_exception=True)
            scenario_document_replace(scenario=scenario, document=document.validated_data)
        return Response(ScenarioDocumentSerializer(scenario_document_export(scenario=scenario)).data)

    @extend_schema(
        summary="Import a scenario document (version 2, or 1) as a new product and scenario",
        request=PolymorphicProxySerializer(
            component_name="ScenarioDocumentImport",
            serializers=[ScenarioDocumentSerializer, ScenarioDocumentV1Serializer],
            resource_type_field_name=None,
        ),
        responses={201: ScenarioDetailSerializer},
        filters=False,
    )
    @action(detail=False, methods=["post"], url_path="import", pagination_class=None, filter_backends=[])
    def import_document(self, request: Request) -> Response:
        version = request.data.get("version") if isinstance(request.data, dict) else None
        serializer_class = ScenarioDocumentV1Serializer if version == 1 else ScenarioDocumentSerializer
        document = serializer_class(data=request.data)
        document.is_valid(raise_exception=True)
        scenario = scenario_document_import(
            organization=request_organization(request), document=document.validated_data
        )
        scenario = scenarios_with_inputs_for_organization(organization=scenario.product.organization).get(
            pk=scenario.pk
        )
        return Response(
            ScenarioDetailSerializer(scenario, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Duplicate the scenario: its plan, settings and levers (same seed)",
        request=ScenarioDuplicateSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: OpenApiResponse(ScenarioSerializer, description="The new scenario."),
            **IDEMPOTENCY_RESPONSES,
        },
        filters=False,
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def duplicate(self, request: Request, pk: str | None = None) -> Response:
        scenario = self.get_object()
        body = ScenarioDuplicateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        copy = scenario_services.scenario_duplicate(scenario=scenario, name=body.validated_data.get("name"))
        return Response(
            ScenarioSerializer(copy, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Start a simulation run of the scenario",
        request=RunStartSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            202: OpenApiResponse(RunSerializer, description="The run, queued."),
            **IDEMPOTENCY_RESPONSES,
        },
        filters=False,
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def runs(self, request: Request, pk: str | None = None) -> Response:
        scenario = self.get_object()
        start = RunStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        try:
            run = run_start(scenario=scenario, **start.validated_data)
        except SimulationInputError as error:
            raise start_error(error) from error
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Start an optimization of the scenario's plan (goal seek, or a grid and frontier)",
        request=OptimizationStartSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            202: OpenApiResponse(OptimizationSerializer, description="The job, queued."),
            **IDEMPOTENCY_RESPONSES,
        },
        filters=False,
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def optimizations(self, request: Request, pk: str | None = None) -> Response:
        job = start_optimization(self.get_object(), request.data)
        return Response(OptimizationSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Start a sensitivity analysis of the scenario's plan (a tornado per tier)",
        request=SensitivityStartSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            202: OpenApiResponse(
                OptimizationSerializer, description="The job, queued; read it under /optimizations/."
            ),
            **IDEMPOTENCY_RESPONSES,
        },
        filters=False,
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def sensitivities(self, request: Request, pk: str | None = None) -> Response:
        job = start_sensitivity(self.get_object(), request.data)
        return Response(OptimizationSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @START_SCHEMA
    @extend_schema(summary="Replay past months of actual usage under the scenario's plan")
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def replays(self, request: Request, pk: str | None = None) -> Response:
        return start_replay(self.get_object(), request)


class RunViewSet(OrganizationViewSetMixin, viewsets.ReadOnlyModelViewSet[SimulationRun]):
    """Simulation runs, newest first (cursor pagination; filter with ``?scenario=`` and
    ``?status=``). Reading one gives its status, progress and, once succeeded, the results."""

    model = SimulationRun
    selector = staticmethod(runs_for_organization)
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
