"""Serializers for usage ingestion, customers, margins, fitted usage distributions and proposed
segments.

The ingestion body is *not* validated here: one serializer per record would cost more than the
whole fast path, so ``planner.actuals.ingest`` validates the parsed JSON and reports errors per
record. ``UsageRecordInputSerializer`` only documents the record in the OpenAPI schema.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from planner.actuals.models import USAGE_TOKEN_FIELDS, Customer, UsageRecord
from planner.actuals.segment_use import proposed_segments_named
from planner.actuals.selectors import ORDERINGS, ProposedSegments


def _money(help_text: str = "") -> serializers.DecimalField:
    """An amount of the organisation's currency as a decimal string with 6 places."""
    return serializers.DecimalField(
        max_digits=30, decimal_places=6, coerce_to_string=True, help_text=help_text
    )


class UsageRecordInputSerializer(serializers.Serializer[Any]):
    """One usage record as pushed by a billing system (docs/ACTUALS.md)."""

    event_id = serializers.CharField(max_length=255, help_text="Client id; unique per organisation.")
    customer = serializers.CharField(max_length=255, help_text="The customer's id in the billing system.")
    tier = serializers.IntegerField(
        required=False, allow_null=True, help_text="Tier id; required when the customer is new."
    )
    timestamp = serializers.DateTimeField(help_text="ISO 8601 with a UTC offset; at most 1 day ahead.")
    workload = serializers.IntegerField(required=False, allow_null=True, help_text="Workload id.")
    model = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Catalog model used, as provider/model (e.g. openai/o3); may be omitted when the "
        "workload's mix has a single model.",
    )
    variant = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text='Price variant ("" = standard).'
    )
    input_tokens = serializers.IntegerField(
        required=False, min_value=0, help_text="All input tokens, including cached and cache-write tokens."
    )
    output_tokens = serializers.IntegerField(
        required=False, min_value=0, help_text="All output tokens, including reasoning tokens."
    )
    cached_tokens = serializers.IntegerField(required=False, min_value=0, help_text="Input read from cache.")
    cache_write_tokens = serializers.IntegerField(
        required=False, min_value=0, help_text="Input written to the prompt cache."
    )
    reasoning_tokens = serializers.IntegerField(required=False, min_value=0)
    requests = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Default 1. 0: a part of requests counted by other records (e.g. an output-token event).",
    )
    credits = serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        required=False,
        allow_null=True,
        help_text="Quota credits used; default requests x the workload's credits per request (or 1).",
    )


class IngestConflictSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    event_id = serializers.CharField()


class IngestResultSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField(help_text="Records inserted by this request.")
    duplicates = serializers.IntegerField(help_text="Records already stored with the same payload.")
    conflicts = IngestConflictSerializer(
        many=True, help_text="Records whose event id exists with another payload (not written)."
    )


class UsageRecordSerializer(serializers.ModelSerializer[UsageRecord]):
    customer = serializers.CharField(source="customer.external_id")
    model = serializers.SerializerMethodField()
    cost = serializers.DecimalField(max_digits=20, decimal_places=10, coerce_to_string=True)
    credits = serializers.DecimalField(max_digits=18, decimal_places=6, coerce_to_string=True)

    class Meta:
        model = UsageRecord
        fields = [
            "id",
            "event_id",
            "customer",
            "timestamp",
            "period",
            "workload",
            "model",
            "price",
            *USAGE_TOKEN_FIELDS,
            "requests",
            "credits",
            "cost",
            "priced_at",
            "received_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_model(self, record: UsageRecord) -> str:
        return f"{record.model.provider.slug}/{record.model.slug}"


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    current_tier = serializers.IntegerField(
        source="current_tier_id", allow_null=True, read_only=True, help_text="Tier of the latest tier period."
    )

    class Meta:
        model = Customer
        fields = ["id", "external_id", "current_tier", "created_at"]
        read_only_fields = fields


class TierChangeSerializer(serializers.Serializer[Any]):
    tier = serializers.IntegerField(min_value=1, help_text="Tier id of the organisation.")
    effective_from = serializers.DateField(help_text="First day on the tier (organisation time zone).")


class TierPeriodSerializer(serializers.Serializer[Any]):
    tier = serializers.IntegerField(source="tier_id")
    effective_from = serializers.DateField()


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2025-06"})
class MonthField(serializers.Field[date, date, str, Any]):
    """A calendar month written ``YYYY-MM``; its value is the month's first day."""

    default_error_messages = {"invalid": "Enter a month as YYYY-MM."}

    def to_internal_value(self, data: Any) -> date:
        match = _MONTH.match(data) if isinstance(data, str) else None
        if match is None:
            self.fail("invalid")
        year, month = int(match[1]), int(match[2])
        if not (2000 <= year <= 9999 and 1 <= month <= 12):
            self.fail("invalid")
        return date(year, month, 1)

    def to_representation(self, value: date) -> str:
        return f"{value:%Y-%m}"


class MarginQuerySerializer(serializers.Serializer[Any]):
    period = MonthField(help_text="Month, YYYY-MM (organisation time zone).")
    tier = serializers.IntegerField(required=False, min_value=1, help_text="Only customers on this tier.")
    underwater = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only underwater (true) or other (false)."
    )
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False, default="margin")


class PeriodQuerySerializer(serializers.Serializer[Any]):
    period = MonthField(help_text="Month, YYYY-MM (organisation time zone).")


class FitQuerySerializer(serializers.Serializer[Any]):
    """``?from=YYYY-MM&to=YYYY-MM`` (Python keywords, hence ``get_fields``)."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "from": MonthField(help_text="First month, YYYY-MM."),
            "to": MonthField(help_text="Last month (inclusive), YYYY-MM."),
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["to"] < attrs["from"]:
            raise serializers.ValidationError({"to": "The range ends before it starts."})
        return attrs


class CustomerMarginSerializer(serializers.Serializer[Any]):
    customer = serializers.IntegerField(source="customer_id")
    external_id = serializers.CharField()
    tier = serializers.IntegerField(source="tier_id", allow_null=True, help_text="End-of-month tier.")
    tier_name = serializers.CharField()
    billed_days = serializers.IntegerField()
    requests = serializers.IntegerField()
    credits = _money()
    fee_revenue = _money()
    overage_credits = _money()
    overage_revenue = _money()
    payment_fees = _money()
    revenue = _money("Net of payment fees.")
    cogs = _money()
    margin = _money()
    paying = serializers.BooleanField()
    underwater = serializers.BooleanField()


class TierMarginSerializer(serializers.Serializer[Any]):
    tier = serializers.IntegerField(source="tier_id", allow_null=True)
    tier_name = serializers.CharField()
    paying = serializers.BooleanField()
    customers = serializers.IntegerField()
    revenue = _money()
    cogs = _money()
    margin = _money()
    margin_share = serializers.FloatField(allow_null=True, help_text="Margin / revenue.")
    cogs_per_customer = _money()
    underwater_customers = serializers.IntegerField()
    underwater_share = serializers.FloatField()
    underwater_loss = _money()


class GammaPoissonFitSerializer(serializers.Serializer[Any]):
    n = serializers.IntegerField(help_text="Customer-months observed.")
    mean = serializers.FloatField(help_text="Mean requests per month (gamma mean).")
    shape = serializers.FloatField(help_text="Gamma shape of the intensity.")
    mean_se = serializers.FloatField()
    shape_se = serializers.FloatField(allow_null=True)
    log_likelihood = serializers.FloatField()
    zero_share = serializers.FloatField()
    poisson_limit = serializers.BooleanField()


class FittedUsageSerializer(serializers.Serializer[Any]):
    tier = serializers.IntegerField(source="tier_id")
    tier_name = serializers.CharField()
    workload = serializers.IntegerField(source="workload_id")
    workload_name = serializers.CharField()
    kind = serializers.SerializerMethodField()
    fit = GammaPoissonFitSerializer()

    @extend_schema_field({"type": "string", "enum": ["gamma"]})
    def get_kind(self, fitted: Any) -> str:
        return "gamma"


class ProposedUsageSerializer(serializers.Serializer[Any]):
    workload = serializers.IntegerField(source="workload_id")
    workload_name = serializers.CharField()
    kind = serializers.SerializerMethodField(help_text="Always “gamma”.")
    mean = serializers.FloatField(help_text="Gamma mean of the segment's requests per month.")
    shape = serializers.FloatField(help_text="Gamma shape (10^6: no more spread than Poisson noise).")

    # A plain string: a second component with the enum ["gamma"] (the fitted usage has one) is a
    # "kind" enum collision drf-spectacular warns about, which `check --deploy` refuses.
    @extend_schema_field(OpenApiTypes.STR)
    def get_kind(self, usage: Any) -> str:
        return "gamma"


class ProposedSegmentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(
        help_text="“Light users”, then “Heavy users”: the segment with the larger sum of mean requests."
    )
    share = serializers.FloatField(help_text="Share of the tier's users; the two sum to 1.")
    usage = ProposedUsageSerializer(many=True)


class ProposedSegmentsSerializer(serializers.Serializer[Any]):
    tier = serializers.IntegerField(source="tier_id")
    tier_name = serializers.CharField()
    bic_gain = serializers.FloatField(
        source="proposal.bic_gain", help_text="BIC of one segment minus BIC of two (at least 10)."
    )
    segments = serializers.SerializerMethodField()

    @extend_schema_field(ProposedSegmentSerializer(many=True))
    def get_segments(self, proposed: ProposedSegments) -> Any:
        return ProposedSegmentSerializer(proposed_segments_named(proposed), many=True).data
