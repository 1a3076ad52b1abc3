"""API views: thin viewsets over the planner's selectors (reads) and services (writes).

Every queryset starts from the request's organisation (``api.tenancy.request_organization``),
so another organisation's object is a 404, and related ids in writes resolve only within the
organisation (``api.fields.OrganizationRelatedField``).

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import generics, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.representation import represent, represent_many, represent_versions
from api.tenancy import request_organization

#: Object ids in URLs: 1 to 19 digits (anything else is not a route, hence a 404).
ID_PATTERN = r"[0-9]{1,19}"


class OrganizationQuerysetMixin(generics.GenericAPIView[Any]):
    """``get_queryset`` = ``selector(organization=<the request's organisation>)``; ``model``'s
    empty queryset while the schema is generated (there is no request organisation then)."""

    selector: ClassVar[Callable[..., QuerySet[Any]]]
    model: ClassVar[type[Model]]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        return type(self).selector(organization=request_organization(self.request))


class OrganizationViewSetMixin(OrganizationQuerysetMixin, viewsets.GenericViewSet[Any]):
    """The organisation's objects (``OrganizationQuerysetMixin``), as a viewset.

    ``list`` and ``retrieve`` represent objects with the process's shared serializer
    (``api.representation``): the same JSON as a fresh serializer, without rebuilding its
    fields on every request.
    """

    lookup_value_regex = ID_PATTERN
    #: Set where the model stamps every change in this column and the list serializer reads
    #: only the model's own columns: lists then reuse representations by (id, version)
    #: (``api.representation.represent_versions``).
    version_field: ClassVar[str | None] = None

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
