"""API views of decision jobs: optimizations (issue #14). Started from a scenario
(``POST /scenarios/{id}/optimizations/``, in ``api.views.simulation``); read, listed and
cancelled here, like runs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api import filters
from api.pagination import CursorPagination
from api.serializers.decisions import (
    OptimizationSerializer,
    OptimizationStartSerializer,
    SensitivityStartSerializer,
)
from api.views.base import OrganizationViewSetMixin
from planner.simulation.adapter import SimulationInputError
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.optimizations import (
    ConstraintRequest,
    VaryRequest,
    error_field,
    optimization_start,
    sensitivity_start,
)
from planner.simulation.runs import run_cancel
from planner.simulation.selectors import optimizations_for_organization


def field_error(error: ValueError) -> serializers.ValidationError:
    """A service's ``"field: message"`` as a 400 on that field (``vary[0].max``); a message
    without a field is about the request as a whole."""
    field, message = error_field(error)
    return serializers.ValidationError({field or "non_field_errors": [message]})


def start_error(error: ValueError) -> serializers.ValidationError:
    """The 400 of a job that could not start: the plan cannot be simulated (about the request
    as a whole, code ``simulation_input``) or a field of the request is wrong."""
    if isinstance(error, SimulationInputError):
        detail = serializers.ErrorDetail(str(error), code="simulation_input")
        return serializers.ValidationError({"non_field_errors": [detail]})
    return field_error(error)


def start_sensitivity(scenario: Scenario, data: Any) -> SimulationRun:
    """Validate the request body and start a sensitivity job; 400s name the field."""
    start = SensitivityStartSerializer(data=data)
    start.is_valid(raise_exception=True)
    try:
        return sensitivity_start(scenario=scenario, **start.validated_data)
    except ValueError as error:
        raise start_error(error) from error


def start_optimization(scenario: Scenario, data: Any) -> SimulationRun:
    """Validate the request body and start the job; 400s name the field."""
    start = OptimizationStartSerializer(data=data)
    start.is_valid(raise_exception=True)
    body = start.validated_data
    try:
        return optimization_start(
            scenario=scenario,
            tier=body["tier"],
            vary=[VaryRequest(**item) for item in body["vary"]],
            constraints=[ConstraintRequest(**item) for item in body["constraints"]],
            confidence=body["confidence"],
            objective=body["objective"],
            month=body["month"],
            users=body.get("users"),
            seed=body.get("seed"),
        )
    except ValueError as error:
        raise start_error(error) from error


class JobViewSetMixin(OrganizationViewSetMixin):
    """A list of jobs (``SimulationRun`` rows of some kinds): newest first by cursor, filtered
    with ``?scenario=`` and ``?status=``, never reading the frozen snapshot."""

    model = SimulationRun
    filterset_class = filters.RunFilter
    pagination_class = CursorPagination
    filter_backends = [filters.FilterBackend]

    def get_queryset(self) -> QuerySet[SimulationRun]:
        return super().get_queryset().defer("snapshot", "package_versions")


class OptimizationViewSet(JobViewSetMixin, viewsets.ReadOnlyModelViewSet[SimulationRun]):
    """Optimization jobs, newest first (cursor pagination; filter with ``?scenario=`` and
    ``?status=``). Reading one gives its status, progress and, once succeeded, the answer."""

    selector = staticmethod(optimizations_for_organization)
    serializer_class = OptimizationSerializer

    @extend_schema(
        summary="Cancel a queued or running optimization",
        request=None,
        responses=OptimizationSerializer,
        filters=False,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = run_cancel(run=self.get_object())
        return Response(OptimizationSerializer(job).data)
