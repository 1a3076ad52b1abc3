"""Replays (issue #15): the request that starts one, the job with its totals, its rows.

Units as in the rest of the API: money as decimal strings, months as ``YYYY-MM``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import OrganizationRelatedField, StrictBooleanField, StrictCharField, StrictIntegerField
from api.serializers.actuals import MonthField
from api.serializers.runs import JOB_FIELDS, JobSerializer
from planner.actuals.replay_jobs import MAX_BOOTSTRAP
from planner.actuals.replay_selectors import FLIP_FILTERS
from planner.core.models import MAX_SEED
from planner.prices.selectors import price_sheets_for_organization
from planner.simulation.models import SimulationRun


class ReplayStartSerializer(serializers.Serializer[Any]):
    """``from`` and ``to`` (months, inclusive); a ``price_date`` or a ``price_sheet`` (not both;
    neither: each record at its own timestamp's price); ``bootstrap`` resamples and ``seed``."""

    price_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Price every record at this date (noon UTC)."
    )
    price_sheet = OrganizationRelatedField(
        selector=price_sheets_for_organization,
        required=False,
        allow_null=True,
        default=None,
        help_text="A price sheet of the organisation: its discounts apply to every record.",
    )
    bootstrap = StrictIntegerField(
        min_value=0, max_value=MAX_BOOTSTRAP, required=False, default=2000, help_text="Bootstrap resamples."
    )
    seed = StrictIntegerField(min_value=0, max_value=MAX_SEED, required=False, default=0)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()  # ``from`` is a Python keyword: added here
        return {
            "from": MonthField(help_text="First month, YYYY-MM (organisation time zone)."),
            "to": MonthField(help_text="Last month (inclusive), YYYY-MM."),
            **fields,
        }


class ReplaySerializer(JobSerializer):
    """A replay job: ``customers`` re-rated, ``request`` as started and, once succeeded,
    ``result``: totals per tier and in total (actual and replayed revenue gross and net of
    payment fees, COGS, margin; underwater customer-months; flips; 95% cluster-bootstrap
    intervals of the margin change and of the replayed margin, or a reason), unmapped tiers,
    ``flipped_customers``, ``customers_cut_count``, ``customer_months`` and notes."""

    customers = serializers.IntegerField(source="users", read_only=True)
    product = serializers.SerializerMethodField()
    request = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [
            "id",
            "kind",
            *(f for f in JOB_FIELDS[1:] if f != "users"),
            "scenario",
            "product",
            "customers",
            "progress",
            "request",
            "result",
        ]
        read_only_fields = fields

    def get_product(self, job: SimulationRun) -> int | None:
        return (job.spec.get("request") or {}).get("product")

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_request(self, job: SimulationRun) -> dict[str, Any]:
        return dict(job.spec.get("request", {}))

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_result(self, job: SimulationRun) -> dict[str, Any] | None:
        return job.results if job.status == SimulationRun.Status.SUCCEEDED else None


class ReplayRowsQuerySerializer(serializers.Serializer[Any]):
    flip = serializers.ChoiceField(
        choices=FLIP_FILTERS, required=False, default="", help_text="Only the customer-months that flipped."
    )
    tier = StrictIntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Only customer-months of this live tier (end of month).",
    )
    customer = StrictCharField(
        max_length=255, required=False, default="", help_text="A customer's external id."
    )
    cut = StrictBooleanField(
        required=False, allow_null=True, default=None, help_text="Only cut (or uncut) ones."
    )


class _SideSerializer(serializers.Serializer[Any]):
    tier_id = serializers.IntegerField(allow_null=True)
    tier_name = serializers.CharField()
    credits = serializers.DecimalField(max_digits=24, decimal_places=6)
    revenue_gross = serializers.DecimalField(
        max_digits=20, decimal_places=6, help_text="Before payment fees."
    )
    payment_fees = serializers.DecimalField(max_digits=20, decimal_places=6)
    revenue = serializers.DecimalField(max_digits=20, decimal_places=6, help_text="Net of payment fees.")
    cogs = serializers.DecimalField(max_digits=20, decimal_places=6)
    margin = serializers.DecimalField(max_digits=20, decimal_places=6)
    paying = serializers.BooleanField()
    underwater = serializers.BooleanField()


class ReplayRowSerializer(serializers.Serializer[Any]):
    """One customer-month: billed under the live plan (``actual``) and the replayed one."""

    customer_id = serializers.IntegerField()
    external_id = serializers.CharField()
    period = MonthField()
    actual = _SideSerializer()
    replayed = _SideSerializer()
    cut = serializers.BooleanField(help_text="The replayed cap removed usage.")
    flip = serializers.CharField(help_text='"became_underwater", "stopped_underwater" or "".')
