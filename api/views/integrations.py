"""Billing-vendor mappings (thin views over ``planner.actuals.compat.mappings``).

``GET /billing-mappings/`` lists the five vendors' mappings; ``GET /billing-mappings/{vendor}/``
answers the organisation's mapping, or the vendor's defaults when none is stored;
``PUT`` replaces it (omitted fields take the defaults) and ``PATCH`` changes the fields given.
Refusals (a token kind outside the five fields and ``multi``, another organisation's or a
scenario's tier as ``default_tier``...) answer 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.integrations import BillingMappingSerializer
from api.tenancy import request_organization
from planner.actuals.compat.mappings import (
    billing_mapping_save,
    billing_mappings_for_organization,
    mapping_as_data,
    organization_mapping,
    organization_mappings,
)
from planner.actuals.compat.models import BillingMapping
from planner.actuals.compat.vendors import Vendor

_ERRORS = OpenApiResponse(description='Errors: {"errors": [{"field", "code", "message"}]}')


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


class BillingMappingViewSet(viewsets.ViewSet):
    """How each billing vendor's events become usage records (docs/INTEGRATIONS.md)."""

    lookup_field = "vendor"
    lookup_value_regex = "|".join(Vendor.values)
    serializer_class = BillingMappingSerializer

    def get_queryset(self) -> QuerySet[BillingMapping]:
        """The organisation's stored mappings (the tenancy probes read them)."""
        if getattr(self, "swagger_fake_view", False):
            return BillingMapping.objects.none()
        return billing_mappings_for_organization(organization=request_organization(self.request))

    @extend_schema(summary="Every vendor's mapping", responses=BillingMappingSerializer(many=True))
    def list(self, request: Request) -> Response:
        mappings = organization_mappings(organization=request_organization(request))
        return Response([mapping_as_data(mapping) for mapping in mappings])

    @extend_schema(
        summary="A vendor's mapping (its defaults when none is stored)", responses=BillingMappingSerializer
    )
    def retrieve(self, request: Request, vendor: str) -> Response:
        mapping = organization_mapping(organization=request_organization(request), vendor=vendor)
        return Response(mapping_as_data(mapping))

    @extend_schema(
        summary="Replace a vendor's mapping (omitted fields take the defaults)",
        request=BillingMappingSerializer,
        responses={200: BillingMappingSerializer, 400: _ERRORS},
    )
    def update(self, request: Request, vendor: str) -> Response:
        mapping = billing_mapping_save(
            organization=request_organization(request), vendor=vendor, data=_body(request), partial=False
        )
        return Response(mapping_as_data(mapping))

    @extend_schema(
        summary="Change some fields of a vendor's mapping",
        request=BillingMappingSerializer(partial=True),
        responses={200: BillingMappingSerializer, 400: _ERRORS},
    )
    def partial_update(self, request: Request, vendor: str) -> Response:
        mapping = billing_mapping_save(
            organization=request_organization(request), vendor=vendor, data=_body(request), partial=True
        )
        return Response(mapping_as_data(mapping))
