"""Serializers of the planner's resources: products, tiers, segments, workloads, usage
distributions and scenarios. ``create``/``update`` call the planner services, which validate the
domain rules and raise field errors (turned into 400s by ``api.exceptions``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import (
    MAX_ID,
    CatalogModelField,
    MoneyField,
    OrganizationRelatedField,
    PositiveFractionField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from api.representation import represent_many
from api.serializers.base import StrictModelSerializer, fixed_on_update
from api.tenancy import request_organization
from planner.core.validators import LEVER_PLAN_LIMITS, MAX_MODEL_COST, MAX_MODEL_COSTS, lever_label_duplicates
from planner.products import services as product_services
from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload
from planner.products.segments import SEGMENT_FIELDS, segment_create, segment_update
from planner.products.selectors import (
    live_tiers_for_organization,
    products_for_organization,
    segments_for_organization,
    segments_of_scenario,
    tiers_for_organization,
    workloads_for_organization,
)
from planner.products.services import PRODUCT_FIELDS, TIER_FIELDS, USAGE_DISTRIBUTION_FIELDS, WORKLOAD_FIELDS
from planner.simulation import scenarios as scenario_services
from planner.simulation.models import Scenario
from planner.simulation.selectors import scenarios_for_organization
from pricing.models import AIModel


def _organization(serializer: serializers.BaseSerializer[Any]) -> Any:
    return request_organization(serializer.context["request"])


class ProductSerializer(StrictModelSerializer):
    class Meta:
        model = Product
        fields = ["id", *PRODUCT_FIELDS, "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> Product:
        return product_services.product_create(organization=_organization(self), **validated_data)

    def update(self, instance: Product, validated_data: dict[str, Any]) -> Product:
        return product_services.product_update(product=instance, data=validated_data)


class TierSerializer(StrictModelSerializer):
    product = OrganizationRelatedField(selector=products_for_organization)
    scenario = OrganizationRelatedField(
        selector=scenarios_for_organization,
        allow_null=True,
        required=False,
        help_text="The scenario whose plan the tier belongs to; null = the live plan (set on create).",
    )
    live_tier = OrganizationRelatedField(
        selector=live_tiers_for_organization,
        allow_null=True,
        required=False,
        help_text="For a scenario's tier: the live tier it stands for (null for a tier the scenario adds).",
    )
    monthly_revenue_per_subscriber = MoneyField(max_digits=18, decimal_places=6, read_only=True)

    class Meta:
        model = Tier
        fields = ["id", "product", "scenario", "live_tier", *TIER_FIELDS, "monthly_revenue_per_subscriber"]
        # Unique names (among live tiers, within a scenario) are checked by the model with
        # messages naming the plan; DRF's validators would also demand ``scenario`` in every body.
        validators: list[Any] = []

    def create(self, validated_data: dict[str, Any]) -> Tier:
        return product_services.tier_create(**validated_data)

    def update(self, instance: Tier, validated_data: dict[str, Any]) -> Tier:
        fixed_on_update(instance, validated_data, "product", "scenario")
        return product_services.tier_update(tier=instance, data=validated_data)


class SegmentSerializer(StrictModelSerializer):
    tier = OrganizationRelatedField(
        selector=tiers_for_organization, help_text="The tier (live or a scenario's) whose users this divides."
    )
    share = PositiveFractionField(
        help_text="Share of the tier's users in this segment, in (0, 1]; a tier's shares must sum to 1 "
        "before it is simulated."
    )
    position = StrictIntegerField(
        min_value=0,
        max_value=32767,
        required=False,
        help_text="Display order within the tier; default: after the tier's segments.",
    )

    class Meta:
        model = Segment
        fields = ["id", "tier", *SEGMENT_FIELDS]
        # One name per tier, checked by the model (``Segment.validate_constraints``, on ``name``).
        # DRF's validator would also demand ``tier`` in every PATCH.
        validators: list[Any] = []

    def create(self, validated_data: dict[str, Any]) -> Segment:
        return segment_create(**validated_data)

    def update(self, instance: Segment, validated_data: dict[str, Any]) -> Segment:
        fixed_on_update(instance, validated_data, "tier")
        return segment_update(segment=instance, data=validated_data)


class ModelMixEntrySerializer(serializers.Serializer[Any]):
    """One model of a workload's model mix."""

    model = CatalogModelField(queryset=AIModel.objects.all(), help_text="Catalog model id (/api/v1 prices).")
    model_key = serializers.SerializerMethodField(help_text="The model as provider/slug.")
    share = StrictFloatField(min_value=0.0, max_value=1.0, help_text="Share of the workload's requests.")
    variant = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    uses_reasoning = StrictBooleanField(required=False, default=False)

    def get_model_key(self, entry: Any) -> str:
        return str(entry.model)


class WorkloadSerializer(StrictModelSerializer):
    product = OrganizationRelatedField(selector=products_for_organization)
    models = serializers.ListSerializer[Any](
        child=ModelMixEntrySerializer(),
        source="model_mix",
        max_length=100,
        help_text="The model mix; shares sum to 1.",
    )

    class Meta:
        model = Workload
        fields = ["id", "product", *WORKLOAD_FIELDS, "models"]

    @staticmethod
    def _mix(entries: list[dict[str, Any]]) -> list[product_services.ModelShare]:
        return [
            product_services.ModelShare(
                e["model"], e["share"], e.get("variant", ""), e.get("uses_reasoning", False)
            )
            for e in entries
        ]

    def create(self, validated_data: dict[str, Any]) -> Workload:
        models = self._mix(validated_data.pop("model_mix"))
        return product_services.workload_create(models=models, **validated_data)

    def update(self, instance: Workload, validated_data: dict[str, Any]) -> Workload:
        fixed_on_update(instance, validated_data, "product")
        entries = validated_data.pop("model_mix", None)
        return product_services.workload_update(
            workload=instance, data=validated_data, models=None if entries is None else self._mix(entries)
        )


class UsageDistributionSerializer(StrictModelSerializer):
    tier = OrganizationRelatedField(selector=tiers_for_organization)
    workload = OrganizationRelatedField(selector=workloads_for_organization)
    segment = OrganizationRelatedField(
        selector=segments_for_organization,
        allow_null=True,
        required=False,
        help_text="A segment of ``tier``: this is that segment's usage of the workload; null (the "
        "default) = the whole tier's. Set on create.",
    )
    values = serializers.ListField(
        child=StrictFloatField(min_value=0.0),
        max_length=UsageDistribution.MAX_EMPIRICAL_VALUES,
        required=False,
        help_text="Empirical: observed requests per month of individual users.",
    )

    class Meta:
        model = UsageDistribution
        fields = ["id", "tier", "segment", "workload", *USAGE_DISTRIBUTION_FIELDS]
        # One per (tier, segment, workload), checked in create(): a new workload's placeholder
        # (zero usage, see UsageDistribution.is_placeholder) is replaced, a set distribution is not.
        validators: list[Any] = []

    def create(self, validated_data: dict[str, Any]) -> UsageDistribution:
        segment = validated_data.get("segment")
        existing = UsageDistribution.objects.filter(
            tier=validated_data["tier"], workload=validated_data["workload"], segment=segment
        ).first()
        if existing is not None and not existing.is_placeholder:
            names = "tier, segment, workload" if segment is not None else "tier, workload"
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        serializers.ErrorDetail(f"The fields {names} must make a unique set.", code="unique")
                    ]
                }
            )
        return product_services.usage_distribution_set(**validated_data)

    def update(self, instance: UsageDistribution, validated_data: dict[str, Any]) -> UsageDistribution:
        fixed_on_update(instance, validated_data, "tier", "workload", "segment")
        parameters = {
            name: validated_data.get(name, getattr(instance, name)) for name in USAGE_DISTRIBUTION_FIELDS
        }
        return product_services.usage_distribution_set(
            tier=instance.tier, workload=instance.workload, segment=instance.segment, **parameters
        )


def _fraction(help_text: str) -> StrictFloatField:
    return StrictFloatField(
        min_value=0.0, max_value=1.0, required=False, allow_null=True, help_text=help_text
    )


def _plan_number(name: str, help_text: str) -> StrictFloatField:
    return StrictFloatField(
        min_value=0.0,
        max_value=LEVER_PLAN_LIMITS[name],
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class LeverSerializer(serializers.Serializer[Any]):
    """A lever of a scenario: a change measured against the baseline on the same simulated users.
    It changes costs (the fractions, routing), the plan of the tiers it names (``fee_scale`` or
    ``fee``, ``included_credits``, ``overage_price``, ``hard_cap``), or both."""

    key = StrictCharField(max_length=100)
    label = StrictCharField(max_length=200)  # type: ignore[assignment]  # DRF's Field.label
    workloads = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID),
        default=list,
        max_length=1000,
        help_text="Workload ids the lever applies to; empty or absent = every workload.",
    )
    tiers = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID),
        default=list,
        max_length=1000,
        help_text="Tier ids of the scenario's own plan the plan fields apply to (on create: tiers of the "
        "live plan, stored as the ids of their copies); empty or absent = every tier.",
    )
    routing_model = StrictIntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="Catalog model id to route to.",
    )
    routing_share = _fraction("Share of requests routed to routing_model.")
    response_cache_hit_rate = _fraction("Response-cache hit rate under the lever.")
    prompt_cache_share = _fraction("Prompt-cache read share under the lever.")
    distillation = _fraction("Share of input tokens removed by distillation.")
    batch_share = _fraction("Share of requests sent through the batch API.")
    fee_scale = _plan_number("fee_scale", "Multiplies what each tier bills (1.2 = +20 %); not with fee.")
    fee = _plan_number(
        "fee",
        "Sets the amount each tier bills by (its monthly fee, seat fee or annual price), a JSON number "
        "like every lever value; not with fee_scale.",
    )
    included_credits = _plan_number("included_credits", "Sets each tier's included credits (quota).")
    overage_price = _plan_number("overage_price", "Sets each tier's overage price per credit.")
    hard_cap = _plan_number("hard_cap", "Sets each tier's hard cap in credits.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """Every field of a stored lever (a JSON object holding the fields it sets), absent ones
        as their defaults: ``[]`` for ``workloads`` and ``tiers``, null otherwise. DRF would
        drop a missing field with a default from a partial update's response."""
        lists: dict[str, list[int]] = {"workloads": [], "tiers": []}
        full = {name: lists.get(name) for name in LEVER_FIELDS} | dict(instance)
        return super().to_representation(full)


#: Every field of a lever, in the API's order.
LEVER_FIELDS = tuple(LeverSerializer().get_fields())


class LeverListSerializer(serializers.ListSerializer[Any]):
    """A scenario's levers: each label used once (case and surrounding spaces ignored), a
    duplicate refused on ``levers[i].label`` naming the lever that has it."""

    def validate(self, attrs: Any) -> Any:
        duplicates = lever_label_duplicates(attrs)
        if duplicates:
            detail: dict[Any, Any] = {index: {"label": [message]} for index, message in duplicates.items()}
            raise serializers.ValidationError(detail, code="unique")
        return attrs


class ModelCostSerializer(serializers.Serializer[Any]):
    """A model cost of a scenario: training, fine-tuning, evaluation or a retrain."""

    label = StrictCharField(max_length=100)  # type: ignore[assignment]  # DRF's Field.label
    month = StrictIntegerField(min_value=1, max_value=600, help_text="1 = the horizon's first month.")
    amount = StrictFloatField(min_value=0.0, max_value=MAX_MODEL_COST, help_text="A JSON number, in money.")
    every_months = StrictIntegerField(
        min_value=1,
        max_value=600,
        required=False,
        allow_null=True,
        default=None,
        help_text="Repeated every this many months from ``month`` (a retrain); null: once.",
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """``every_months`` always present (null when the cost is paid once)."""
        return super().to_representation({"every_months": None} | dict(instance))


class ScenarioSerializer(StrictModelSerializer):
    product = OrganizationRelatedField(selector=products_for_organization)
    levers = LeverListSerializer(child=LeverSerializer(), required=False, max_length=50)
    model_costs = serializers.ListSerializer[Any](
        child=ModelCostSerializer(),
        required=False,
        max_length=MAX_MODEL_COSTS,
        help_text="Model costs for the lifetime figures (docs/ENGINE.md, Lifetime). Default: none.",
    )

    class Meta:
        model = Scenario
        fields = ["id", "product", *scenario_services.SCENARIO_FIELDS, "created_at", "updated_at"]
        extra_kwargs = {
            "seed": {"required": False},
            "price_date": {"required": False},
            "price_trend_yearly": {
                "help_text": "Yearly change of token prices (-0.30 = 30 % cheaper each year). "
                "Default on create: 0 (flat prices)."
            },
            "usage_growth_monthly": {
                "help_text": "Monthly growth of each user's usage (0.05 = +5 % a month). "
                "Default on create: 0 (no growth)."
            },
        }

    def create(self, validated_data: dict[str, Any]) -> Scenario:
        return scenario_services.scenario_create(**validated_data)

    def update(self, instance: Scenario, validated_data: dict[str, Any]) -> Scenario:
        fixed_on_update(instance, validated_data, "product")
        return scenario_services.scenario_update(scenario=instance, data=validated_data)


class ScenarioDuplicateSerializer(serializers.Serializer[Any]):
    """The body of ``POST /api/v1/scenarios/{id}/duplicate/``: everything optional."""

    name = StrictCharField(
        max_length=200,
        required=False,
        help_text='Name of the copy; default "<name> (copy)", numbered when taken.',
    )


class ScenarioInputsSerializer(serializers.Serializer[Any]):
    """Everything a simulation of the scenario reads: its product's fields and workloads, and
    the tiers, segments and usage distributions of the scenario's own plan."""

    id = serializers.IntegerField(source="product.id", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    description = serializers.CharField(source="product.description", read_only=True)
    default_correlation = serializers.FloatField(source="product.default_correlation", read_only=True)
    created_at = serializers.DateTimeField(source="product.created_at", read_only=True)
    updated_at = serializers.DateTimeField(source="product.updated_at", read_only=True)
    tiers = serializers.ListSerializer[Any](child=TierSerializer(), read_only=True)
    workloads = serializers.ListSerializer[Any](
        child=WorkloadSerializer(), source="product.workloads", read_only=True
    )
    segments = serializers.SerializerMethodField()
    usage_distributions = serializers.SerializerMethodField()

    @extend_schema_field(SegmentSerializer(many=True))
    def get_segments(self, scenario: Scenario) -> Any:
        return represent_many(SegmentSerializer, segments_of_scenario(scenario.pk))

    @extend_schema_field(UsageDistributionSerializer(many=True))
    def get_usage_distributions(self, scenario: Scenario) -> Any:
        """Tier by tier: the whole tier's usage, then each segment's, in workload order."""
        usage = [
            u
            for tier in scenario.tiers.all()
            for u in sorted(tier.usage.all(), key=lambda u: (u.segment_id or 0, u.workload_id))
        ]
        return represent_many(UsageDistributionSerializer, usage)


class ScenarioDetailSerializer(ScenarioSerializer):
    """A scenario with a nested read of its plan (tiers and usage) and its product's workloads."""

    inputs = ScenarioInputsSerializer(source="*", read_only=True)

    class Meta(ScenarioSerializer.Meta):
        fields = [*ScenarioSerializer.Meta.fields, "inputs"]
