"""Usage ingestion, customers, margins, fitted usage distributions and proposed segments (thin
views).

``POST /usage-records/`` takes one record object or a list of up to 10,000 and needs the
``ingest`` scope. A list answers 201 with the counts (conflicts listed per item); a single
object answers 201 when created, 200 when it was a duplicate and 409 when its event id exists
with another payload. Invalid input answers 400 naming each record and field (``[3].timestamp``
for a list, ``timestamp`` for a single object) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.pagination import CursorPagination
from api.permissions import HasScope, scope_required
from api.serializers.actuals import (
    CustomerMarginSerializer,
    CustomerSerializer,
    FitQuerySerializer,
    FittedUsageSerializer,
    IngestResultSerializer,
    MarginQuerySerializer,
    PeriodQuerySerializer,
    ProposedSegmentsSerializer,
    TierChangeSerializer,
    TierMarginSerializer,
    TierPeriodSerializer,
    UsageRecordInputSerializer,
    UsageRecordSerializer,
)
from api.tenancy import request_organization
from api.views.base import ID_PATTERN, OrganizationQuerysetMixin
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import Customer, UsageRecord
from planner.actuals.parse import UsageRecordsInvalid
from planner.actuals.selectors import (
    customer_margins_for_period,
    customers_for_organization,
    tier_margins_for_period,
    usage_distributions_fitted,
    usage_records_for_organization,
    usage_segments_proposed,
)
from planner.actuals.services import customer_tier_change
from planner.products.selectors import live_tier_for_organization

_ERRORS = OpenApiResponse(description='Errors: {"errors": [{"field", "code", "message"}]}')
_Get = TypeVar("_Get", bound=Callable[..., Response])


def _report_schema(
    summary: str, query: type[serializers.Serializer[Any]], rows: type[serializers.Serializer[Any]]
) -> Callable[[_Get], _Get]:
    """The schema of a report's ``get``: the ``query`` serializer's fields as query parameters,
    and the list of ``rows`` it answers (or the errors of a bad query)."""
    return extend_schema(summary=summary, parameters=[query], responses={200: rows(many=True), 400: _ERRORS})


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class UsageRecordPagination(CursorPagination):
    # Ids grow with ingestion and are unique: one indexed key is a complete, stable order.
    ordering = ("-id",)  # type: ignore[assignment]  # the base class declares a 2-tuple


def _invalid(exc: UsageRecordsInvalid, *, single: bool) -> exceptions.ValidationError:
    detail: dict[Any, Any] = {}
    for error in exc.errors:
        target = detail if single else detail.setdefault(error.index, {})
        target.setdefault(error.field, []).append(ErrorDetail(error.reason, code="invalid"))
    if exc.error_count > len(exc.errors):
        detail.setdefault("non_field_errors", []).append(
            ErrorDetail(f"{exc.error_count:,} errors in all; the first {len(exc.errors):,} are listed.")
        )
    return exceptions.ValidationError(detail)


class UsageRecordListCreateView(OrganizationQuerysetMixin, generics.ListAPIView[UsageRecord]):
    """Push usage records (``ingest`` scope) or list them, newest first (cursor pagination)."""

    model = UsageRecord
    selector = staticmethod(usage_records_for_organization)
    serializer_class = UsageRecordSerializer
    pagination_class = UsageRecordPagination
    filter_backends: list[Any] = []

    def get_permissions(self) -> list[BasePermission]:
        return [scope_required("ingest")() if self.request.method == "POST" else HasScope()]

    @extend_schema(
        summary="Ingest usage records",
        request=PolymorphicProxySerializer(
            component_name="UsageRecordsIngest",
            serializers=[UsageRecordInputSerializer, UsageRecordInputSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: IngestResultSerializer,
            200: OpenApiResponse(IngestResultSerializer, description="A single record already stored."),
            400: _ERRORS,
            409: OpenApiResponse(description="A single record whose event id exists with another payload."),
        },
    )
    def post(self, request: Request) -> Response:
        body = request.data
        single = isinstance(body, dict)
        if not single and not isinstance(body, list):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send a usage record object or a list of them."]}
            )
        records: list[Any] = [body] if single else list(body)
        try:
            result = usage_records_ingest(organization=request_organization(request), records=records)
        except UsageRecordsInvalid as exc:
            raise _invalid(exc, single=single) from exc
        if single and result.conflicts:
            raise Conflict(
                {
                    "event_id": [
                        ErrorDetail(
                            "This event id is already stored with a different payload.", code="conflict"
                        )
                    ]
                }
            )
        code = status.HTTP_200_OK if single and result.duplicates else status.HTTP_201_CREATED
        return Response(IngestResultSerializer(result).data, status=code)


class CustomerViewSet(OrganizationQuerysetMixin, viewsets.ReadOnlyModelViewSet[Customer]):
    """Customers (created by ingestion), with their current tier; tier changes by date."""

    model = Customer
    selector = staticmethod(customers_for_organization)
    serializer_class = CustomerSerializer
    lookup_value_regex = ID_PATTERN
    ordering_fields = ["external_id", "created_at", "id"]
    ordering = ["external_id", "id"]

    @extend_schema(
        summary="Change a customer's tier from a date",
        request=TierChangeSerializer,
        responses={201: TierPeriodSerializer, 400: _ERRORS},
        filters=False,
    )
    @action(detail=True, methods=["post"], url_path="tier-changes", filter_backends=[])
    def tier_changes(self, request: Request, pk: str | None = None) -> Response:
        customer = self.get_object()
        serializer = TierChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tier = live_tier_for_organization(
            organization=customer.organization_id, pk=serializer.validated_data["tier"]
        )
        period = customer_tier_change(
            customer=customer, tier=tier, effective_from=serializer.validated_data["effective_from"]
        )
        return Response(TierPeriodSerializer(period).data, status=status.HTTP_201_CREATED)


def _query(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class MarginListView(generics.GenericAPIView[Any]):
    """Margin per customer for one month, from the customer-month rollup."""

    serializer_class = CustomerMarginSerializer
    filter_backends: list[Any] = []

    @_report_schema("Margins per customer for a month", MarginQuerySerializer, CustomerMarginSerializer)
    def get(self, request: Request) -> Response:
        query = _query(MarginQuerySerializer, request)
        if query.get("tier") is not None:
            live_tier_for_organization(organization=request_organization(request), pk=query["tier"])
        rows = customer_margins_for_period(
            organization=request_organization(request),
            period=query["period"],
            tier=query.get("tier"),
            underwater=query.get("underwater"),
            order=query["ordering"],
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(CustomerMarginSerializer(page, many=True).data)


class TierMarginView(APIView):
    """Per-tier summary of the month's customer margins."""

    @_report_schema("Margins per tier for a month", PeriodQuerySerializer, TierMarginSerializer)
    def get(self, request: Request) -> Response:
        query = _query(PeriodQuerySerializer, request)
        rows = tier_margins_for_period(organization=request_organization(request), period=query["period"])
        return Response(TierMarginSerializer(rows, many=True).data)


class FittedUsageView(APIView):
    """Gamma-Poisson fits of monthly requests per tier x workload (they can seed a scenario)."""

    @_report_schema("Usage distributions fitted from actual usage", FitQuerySerializer, FittedUsageSerializer)
    def get(self, request: Request) -> Response:
        query = _query(FitQuerySerializer, request)
        fitted = usage_distributions_fitted(
            organization=request_organization(request), period_range=(query["from"], query["to"])
        )
        return Response(FittedUsageSerializer(fitted, many=True).data)


class ProposedSegmentsView(APIView):
    """Two user segments proposed per tier from a month's actual usage (a joint latent-class fit
    over the tier's workloads; only tiers where two segments lower the BIC by at least 10)."""

    @_report_schema(
        "User segments proposed from a month's usage", PeriodQuerySerializer, ProposedSegmentsSerializer
    )
    def get(self, request: Request) -> Response:
        query = _query(PeriodQuerySerializer, request)
        proposed = usage_segments_proposed(
            organization=request_organization(request), period_range=(query["period"], query["period"])
        )
        return Response(ProposedSegmentsSerializer(proposed, many=True).data)
