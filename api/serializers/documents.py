"""The scenario document (``planner.simulation.document``): a scenario's plan with its
product, referring to tiers and workloads by name and to models by ``provider/slug``.
``ScenarioDocumentSerializer`` is version 2 (export, import, PUT), with the optional segments,
usage by segment and lever tiers and plan fields added since (still version 2: documents
without them are valid); version 1 is still imported (``ScenarioDocumentV1Serializer``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.fields import (
    PositiveFractionField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from api.serializers.base import StrictModelSerializer
from api.serializers.resources import LeverListSerializer, LeverSerializer, ModelCostSerializer
from planner.core.validators import LEVER_FRACTION_FIELDS, LEVER_PLAN_FIELDS, MAX_MODEL_COSTS
from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload
from planner.products.services import PRODUCT_FIELDS, TIER_FIELDS, USAGE_DISTRIBUTION_FIELDS, WORKLOAD_FIELDS
from planner.simulation import document as documents
from planner.simulation.models import Scenario
from planner.simulation.overrides import OVERRIDE_FIELDS

Base = serializers.Serializer[Any]


class DocumentProductSerializer(StrictModelSerializer):
    class Meta:
        model = Product
        fields = list(PRODUCT_FIELDS)


class DocumentTierSerializer(StrictModelSerializer):
    class Meta:
        model = Tier
        fields = list(TIER_FIELDS)


class DocumentModelEntrySerializer(Base):
    model = StrictCharField(max_length=300, help_text="Catalog model as provider/slug.")
    share = StrictFloatField(min_value=0.0, max_value=1.0)
    variant = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    uses_reasoning = StrictBooleanField(required=False, default=False)


class DocumentWorkloadSerializer(StrictModelSerializer):
    models = serializers.ListSerializer[Any](child=DocumentModelEntrySerializer(), max_length=100)

    class Meta:
        model = Workload
        fields = [*WORKLOAD_FIELDS, "models"]


class DocumentUsageSerializer(StrictModelSerializer):
    tier = StrictCharField(max_length=100, help_text="Tier name.")
    workload = StrictCharField(max_length=100, help_text="Workload name.")
    values = serializers.ListField(
        child=StrictFloatField(min_value=0.0),
        max_length=UsageDistribution.MAX_EMPIRICAL_VALUES,
        required=False,
    )

    class Meta:
        model = UsageDistribution
        fields = ["tier", "workload", *USAGE_DISTRIBUTION_FIELDS]


class DocumentPlanUsageSerializer(DocumentUsageSerializer):
    """A usage distribution of a plan: the whole tier's, or one of its segments'."""

    segment = StrictCharField(
        max_length=100,
        required=False,
        allow_null=True,
        default=None,
        help_text="Name of a segment of the tier (plan.segments); null = the whole tier's usage.",
    )

    class Meta(DocumentUsageSerializer.Meta):
        fields = ["tier", "segment", "workload", *USAGE_DISTRIBUTION_FIELDS]
        # Names, not ids: one per (tier, segment, workload) is checked by the plan's replacement.
        validators: list[Any] = []


class DocumentSegmentSerializer(StrictModelSerializer):
    """A segment of a plan tier's users, by the tier's name."""

    tier = StrictCharField(max_length=100, help_text="Tier name.")
    share = PositiveFractionField(help_text="Share of the tier's users, in (0, 1].")

    class Meta:
        model = Segment
        fields = ["tier", "name", "share", "position"]
        # Names, not ids: one name per tier is checked by the plan's replacement.
        validators: list[Any] = []


class DocumentCorrelationSerializer(Base):
    workload_a = StrictCharField(max_length=100)
    workload_b = StrictCharField(max_length=100)
    rho = StrictFloatField(min_value=-1.0, max_value=1.0)


class DocumentLeverSerializer(Base):
    key = StrictCharField(max_length=100)
    label = StrictCharField(max_length=200)  # type: ignore[assignment]  # DRF's Field.label
    workloads = serializers.ListField(
        child=StrictCharField(max_length=100), default=list, max_length=1000, help_text="Workload names."
    )
    tiers = serializers.ListField(
        child=StrictCharField(max_length=100),
        default=list,
        max_length=1000,
        help_text="Names of the plan's tiers the plan fields apply to; empty = every tier.",
    )
    routing_model = StrictCharField(
        max_length=300, required=False, allow_null=True, help_text="provider/slug."
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """The lever's fractions and plan fields are the scenario API's (``LeverSerializer``),
        after the fields that name things here instead of giving their ids."""
        fields = super().get_fields()
        lever_fields = LeverSerializer().get_fields()
        return fields | {name: lever_fields[name] for name in (*LEVER_FRACTION_FIELDS, *LEVER_PLAN_FIELDS)}


class DocumentScenarioSerializer(StrictModelSerializer):
    levers = LeverListSerializer(child=DocumentLeverSerializer(), required=False, max_length=50)

    class Meta:
        model = Scenario
        fields = [*documents.SCENARIO_COPIED_FIELDS, "levers"]
        extra_kwargs = {"seed": {"required": False}, "price_date": {"required": False}}


class ScenarioDocumentV1Serializer(Base):
    """Version 1: the scenario's tiers, workloads, usage and correlations at the top level."""

    format = serializers.ChoiceField(choices=[documents.DOCUMENT_FORMAT])
    version = StrictIntegerField(min_value=1, max_value=1)
    product = DocumentProductSerializer()
    tiers = serializers.ListSerializer[Any](child=DocumentTierSerializer(), max_length=100)
    workloads = serializers.ListSerializer[Any](child=DocumentWorkloadSerializer(), max_length=100)
    usage_distributions = serializers.ListSerializer[Any](child=DocumentUsageSerializer(), max_length=10_000)
    correlations = serializers.ListSerializer[Any](
        child=DocumentCorrelationSerializer(), required=False, max_length=10_000
    )
    scenario = DocumentScenarioSerializer()


class DocumentProductSectionSerializer(DocumentProductSerializer):
    """The product: its fields, workloads and correlations (read-only through a scenario)."""

    workloads = serializers.ListSerializer[Any](child=DocumentWorkloadSerializer(), max_length=100)
    correlations = serializers.ListSerializer[Any](
        child=DocumentCorrelationSerializer(), required=False, max_length=10_000
    )

    class Meta(DocumentProductSerializer.Meta):
        fields = [*PRODUCT_FIELDS, "workloads", "correlations"]


class DocumentPlanTierSerializer(DocumentTierSerializer):
    live_tier = StrictCharField(
        max_length=100,
        required=False,
        allow_null=True,
        default=None,
        help_text="Name of the live tier this tier stands for; null for a tier the scenario adds.",
    )

    class Meta(DocumentTierSerializer.Meta):
        fields = [*TIER_FIELDS, "live_tier"]


class DocumentSettingsSerializer(StrictModelSerializer):
    model_costs = serializers.ListSerializer[Any](
        child=ModelCostSerializer(), required=False, max_length=MAX_MODEL_COSTS
    )

    class Meta:
        model = Scenario
        fields = list(documents.SCENARIO_COPIED_FIELDS)
        extra_kwargs = {"seed": {"required": False}, "price_date": {"required": False}}


class DocumentOverrideSerializer(Base):
    """A workload as this scenario overrides it; null fields (and ``models``) follow the product."""

    workload = StrictCharField(max_length=100, help_text="Workload name.")
    models = serializers.ListSerializer[Any](
        child=DocumentModelEntrySerializer(),
        max_length=100,
        required=False,
        allow_null=True,
        default=None,
        help_text="The scenario's model mix; null = the product's.",
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        for name in OVERRIDE_FIELDS:
            fields[name] = StrictFloatField(
                min_value=1.0 if name.startswith("calls") else 0.0,
                required=False,
                allow_null=True,
                default=None,
            )
        return fields


class DocumentPlanSerializer(Base):
    """The scenario's plan: settings, tiers, their segments, usage, workload overrides and levers."""

    settings = DocumentSettingsSerializer()
    tiers = serializers.ListSerializer[Any](child=DocumentPlanTierSerializer(), max_length=100)
    segments = serializers.ListSerializer[Any](
        child=DocumentSegmentSerializer(),
        required=False,
        max_length=1000,
        help_text="Segments of the plan's tiers; absent = none.",
    )
    usage_distributions = serializers.ListSerializer[Any](
        child=DocumentPlanUsageSerializer(), max_length=10_000
    )
    overrides = serializers.ListSerializer[Any](
        child=DocumentOverrideSerializer(), required=False, max_length=100
    )
    levers = LeverListSerializer(child=DocumentLeverSerializer(), required=False, max_length=50)


class ScenarioDocumentSerializer(Base):
    """Version 2: ``product`` (read-only through a scenario) and the scenario's ``plan``."""

    format = serializers.ChoiceField(choices=[documents.DOCUMENT_FORMAT])
    version = StrictIntegerField(min_value=documents.DOCUMENT_VERSION, max_value=documents.DOCUMENT_VERSION)
    product = DocumentProductSectionSerializer()
    plan = DocumentPlanSerializer()
