"""API views of replay jobs (issue #15): started from a scenario
(``POST /scenarios/{id}/replays/``) or from a product's live plan
(``POST /products/{id}/replays/``); read, listed, cancelled, their rows paged and exported here.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES
from api.pagination import CursorPagination
from api.serializers.replays import (
    ReplayRowSerializer,
    ReplayRowsQuerySerializer,
    ReplaySerializer,
    ReplayStartSerializer,
)
from api.tenancy import request_organization
from api.views.decisions import JobViewSetMixin, start_error
from planner.actuals.replay_export import replay_csv_lines, replay_json_lines
from planner.actuals.replay_jobs import replay_start
from planner.actuals.replay_selectors import (
    replay_row_replays,
    replay_rows_of,
    replays_for_organization,
    row_replay,
)
from planner.products.models import Product
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_cancel

START_SCHEMA = extend_schema(
    request=ReplayStartSerializer,
    parameters=[IDEMPOTENCY_KEY_PARAMETER],
    responses={
        202: OpenApiResponse(ReplaySerializer, description="The replay, queued; read it under /replays/."),
        **IDEMPOTENCY_RESPONSES,
    },
    filters=False,
)


def start_replay(owner: Model, request: Request) -> Response:
    """Validate the body and start a replay of ``owner`` (a scenario, or a product's live
    plan); 202 with the job; 400s name the field."""
    start = ReplayStartSerializer(data=request.data, context={"request": request})
    start.is_valid(raise_exception=True)
    body = start.validated_data
    target: dict[str, Any] = {"scenario": owner} if isinstance(owner, Scenario) else {"product": owner}
    assert isinstance(owner, Scenario | Product)
    try:
        job = replay_start(
            organization=request_organization(request),
            period_from=body["from"],
            period_to=body["to"],
            price_date=body["price_date"],
            price_sheet=body["price_sheet"],
            bootstrap=body["bootstrap"],
            seed=body["seed"],
            **target,
        )
    except ValueError as error:
        raise start_error(error) from error
    return Response(ReplaySerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ReplayRowPagination(CursorPagination):
    """A replay's customer-months by customer, then month."""

    page_size = 100
    ordering = ("customer_id", "period")


class ReplayViewSet(JobViewSetMixin, viewsets.ReadOnlyModelViewSet[SimulationRun]):
    """Replay jobs, newest first (cursor pagination; ``?scenario=`` and ``?status=``). Reading
    one gives its status, progress and, once succeeded, its totals; ``rows/`` pages its
    customer-months; ``export/csv/`` and ``export/json/`` download them all."""

    selector = staticmethod(replays_for_organization)
    serializer_class = ReplaySerializer

    @extend_schema(
        summary="Cancel a queued or running replay", request=None, responses=ReplaySerializer, filters=False
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return Response(ReplaySerializer(run_cancel(run=self.get_object())).data)

    @extend_schema(
        summary="A replay's customer-months (actual and replayed), by customer then month",
        parameters=[ReplayRowsQuerySerializer],
        responses=ReplayRowSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=ReplayRowPagination)
    def rows(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        query = ReplayRowsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = replay_rows_of(job, **query.validated_data)
        page = self.paginate_queryset(rows)
        assert page is not None
        replays = [row_replay(vars(row)) for row in page]  # a model's fields by attname
        return self.get_paginated_response(ReplayRowSerializer(replays, many=True).data)

    def _export(self, extension: str) -> StreamingHttpResponse:
        job = self.get_object()
        if job.status != SimulationRun.Status.SUCCEEDED:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        f"The replay is {job.status}: its export exists once it has succeeded."
                    ]
                }
            )
        rows = replay_row_replays(replay_rows_of(job))
        if extension == "csv":
            response = StreamingHttpResponse(replay_csv_lines(rows), content_type="text/csv; charset=utf-8")
        else:
            body = replay_json_lines(dict(ReplaySerializer(job).data), rows)
            response = StreamingHttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="replay-{job.pk}.{extension}"'
        return response

    @extend_schema(
        summary="Download a succeeded replay's customer-months as CSV (money in USD)",
        responses={(200, "text/csv"): OpenApiTypes.STR},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], url_path="export/csv", url_name="export-csv")
    def export_csv(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        return self._export("csv")

    @extend_schema(
        summary="Download a succeeded replay with its customer-months as JSON",
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], url_path="export/json", url_name="export-json")
    def export_json(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        return self._export("json")
