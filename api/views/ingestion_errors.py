"""Ingestion errors: vendor events accepted on the wire and rejected afterwards (Stripe v2's
asynchronous stream, Orb's ``validation_failed``), newest first, never priced.

``GET /ingestion-errors/`` lists the organisation's (``read`` scope; cursor pagination, like
the other lists that grow without bound); ``?vendor=stripe`` keeps one vendor's.
"""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as django_filters
from rest_framework import generics

from api.filters import FilterBackend
from api.pagination import CursorPagination
from api.serializers.ingestion_errors import IngestionErrorSerializer
from api.views.base import OrganizationQuerysetMixin
from planner.actuals.compat.models import IngestionError
from planner.actuals.compat.selectors import ingestion_errors_for_organization
from planner.actuals.compat.vendors import Vendor


class IngestionErrorFilter(django_filters.FilterSet):
    vendor = django_filters.ChoiceFilter(choices=Vendor.choices)

    class Meta:
        model = IngestionError
        fields = ["vendor"]


class IngestionErrorPagination(CursorPagination):
    ordering = ("-received_at", "-id")


class IngestionErrorListView(OrganizationQuerysetMixin, generics.ListAPIView[IngestionError]):
    """The organisation's ingestion errors, newest first (filter with ``?vendor=``)."""

    model = IngestionError
    selector = staticmethod(ingestion_errors_for_organization)
    serializer_class = IngestionErrorSerializer
    pagination_class = IngestionErrorPagination
    filterset_class = IngestionErrorFilter
    filter_backends: list[Any] = [FilterBackend]
