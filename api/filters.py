"""Query filters. Parent objects are filtered by plain id (never validated against the
database), so filtering by another organisation's id gives an empty list, exactly like an id
that does not exist: no existence oracle."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request

from planner.products.models import Segment, UsageDistribution
from planner.simulation.models import SimulationRun


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, skipped when the request names none of the view's filters; a
    filter named with an empty value (``?status=``) is a 400 on it.

    The result is the same (a filterset without data filters nothing), but building the
    filterset and its form is most of the cost of a short list. A parameter counts when it
    starts with a filter's name, so suffixed widgets (``created_after``) are never missed.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = tuple(filterset_class.base_filters)
        if not any(parameter.startswith(names) for parameter in request.query_params):
            return queryset
        # django-filter reads ``?status=`` as no filter, but the list still counts the parameter
        # as named (``?scenario=`` listed every plan's segments): an empty value is refused.
        empty = [name for name in names if "" in request.query_params.getlist(name)]
        if empty:
            raise ValidationError(
                {
                    name: [ErrorDetail("Enter a value, or leave the filter out.", code="invalid")]
                    for name in empty
                }
            )
        return super().filter_queryset(request, queryset, view)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """An object id: a positive integer within 64 bits (anything else is a 400)."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs: object) -> None:
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)


class ProductFilter(filters.FilterSet):
    """The tiers, workloads or scenarios of one product: ``?product=<id>``. Without a model of
    its own, it serves each of those views."""

    product = IdFilter(field_name="product_id")


class TierFilter(ProductFilter):
    """``?product=`` and ``?scenario=<id>``: that scenario's plan (the list shows the live plan
    without it; ``api.views.products.PlanListMixin``)."""

    scenario = IdFilter(field_name="scenario_id")


class SegmentFilter(filters.FilterSet):
    """``?product=``, ``?scenario=`` and ``?tier=`` (the list shows the live plan's segments
    without ``scenario`` or ``tier``; ``api.views.products.PlanListMixin``)."""

    product = IdFilter(field_name="tier__product_id")
    scenario = IdFilter(field_name="tier__scenario_id")
    tier = IdFilter(field_name="tier_id")

    class Meta:
        model = Segment
        fields = ["product", "scenario", "tier"]


class UsageDistributionFilter(filters.FilterSet):
    product = IdFilter(field_name="tier__product_id")
    scenario = IdFilter(field_name="tier__scenario_id")
    tier = IdFilter(field_name="tier_id")
    segment = IdFilter(field_name="segment_id")
    workload = IdFilter(field_name="workload_id")
    kind = filters.ChoiceFilter(choices=UsageDistribution.Kind.choices)

    class Meta:
        model = UsageDistribution
        fields = ["product", "scenario", "tier", "segment", "workload", "kind"]


class RunFilter(filters.FilterSet):
    scenario = IdFilter(field_name="scenario_id")
    status = filters.ChoiceFilter(choices=SimulationRun.Status.choices)

    class Meta:
        model = SimulationRun
        fields = ["scenario", "status"]
