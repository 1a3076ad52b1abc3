"""The results document of a run (``planner.engine.summary.summarize``), fully typed.

Money figures are Decimal strings quantized to 6 decimal places at this edge (per-user costs are
often fractions of a cent); ``cost_per_credit`` keeps 10. Shares are fractions (0..1) and
percentages are percent, as JSON numbers. ``mc_error`` is one Monte Carlo standard error and
``interval`` a 95% interval: simulation noise, not business uncertainty (docs/ENGINE.md).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.fields import ResultMoneyField

Base = serializers.Serializer[Any]


def _interval(child: serializers.Field[Any, Any, Any, Any]) -> serializers.ListField:
    return serializers.ListField(
        child=child, min_length=2, max_length=2, help_text="95% interval [low, high]."
    )


class MoneyEstimateSerializer(Base):
    value = ResultMoneyField()
    mc_error = ResultMoneyField(help_text="Monte Carlo standard error.")


class NumberEstimateSerializer(Base):
    value = serializers.FloatField()
    mc_error = serializers.FloatField(help_text="Monte Carlo standard error.")


class PercentileSerializer(Base):
    value = ResultMoneyField()
    interval = _interval(ResultMoneyField())


class CogsPerUserSerializer(Base):
    mean = MoneyEstimateSerializer()
    p50 = PercentileSerializer()
    p90 = PercentileSerializer()
    p95 = PercentileSerializer()
    p99 = PercentileSerializer()
    max = ResultMoneyField()


class TierUnderwaterSerializer(Base):
    share = serializers.FloatField(help_text="Share of the tier's users with a negative margin.")
    interval = _interval(serializers.FloatField())
    users = serializers.FloatField(help_text="Expected underwater subscribers.")
    monthly_loss = MoneyEstimateSerializer(help_text="Monthly loss carried by the underwater users.")


class BreakEvenSerializer(Base):
    kind = serializers.ChoiceField(
        choices=["none", "from", "range", "free"],
        help_text="none: never negative; from: negative from `credits` on; range: negative between "
        "`credits` and `until`; free: a free tier.",
    )
    credits = serializers.FloatField(allow_null=True)
    until = serializers.FloatField(allow_null=True)


class MarginHistogramSerializer(Base):
    edges = serializers.ListField(child=ResultMoneyField(), help_text="Bin edges (margin per user-month).")
    counts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Simulated user-months per bin."
    )


class HorizonMonthSerializer(Base):
    month = serializers.IntegerField()
    subscribers = serializers.FloatField()
    price_factor = serializers.FloatField()
    revenue = ResultMoneyField()
    cogs = MoneyEstimateSerializer()
    margin = MoneyEstimateSerializer()
    underwater_share = serializers.FloatField()


class TierHorizonSerializer(Base):
    months = HorizonMonthSerializer(many=True)
    total_revenue = ResultMoneyField()
    total_cogs = ResultMoneyField()
    total_margin = ResultMoneyField()
    npv_margin = ResultMoneyField()


class TierLeverSerializer(Base):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF's Field.label
    cogs_per_user = ResultMoneyField()
    cogs_change_per_user = MoneyEstimateSerializer()
    margin_change_per_user = MoneyEstimateSerializer()
    gross_margin_pct = serializers.FloatField()
    underwater_share = serializers.FloatField()
    underwater_share_change = serializers.FloatField()
    horizon_margin_change = ResultMoneyField()
    break_even = BreakEvenSerializer()


class TierResultSerializer(Base):
    key = serializers.CharField(help_text="Tier name.")
    paying = serializers.BooleanField()
    subscribers = serializers.IntegerField()
    simulated_users = serializers.IntegerField()
    revenue_per_user = MoneyEstimateSerializer()
    cogs_per_user = CogsPerUserSerializer()
    margin_per_user = MoneyEstimateSerializer()
    gross_margin_pct = NumberEstimateSerializer()
    underwater = TierUnderwaterSerializer()
    top_1pct_cogs_share = serializers.FloatField()
    top_5pct_cogs_share = serializers.FloatField()
    cogs_by_workload = serializers.DictField(
        child=ResultMoneyField(), help_text="COGS per user by workload name."
    )
    cogs_by_model = serializers.DictField(
        child=ResultMoneyField(), help_text="COGS per user by provider/model."
    )
    cost_per_credit = ResultMoneyField(decimal_places=10)
    break_even = BreakEvenSerializer()
    fee_for_target_margin = ResultMoneyField(
        allow_null=True, help_text="Null for free tiers or unreachable targets."
    )
    margin_histogram = MarginHistogramSerializer()
    horizon = TierHorizonSerializer()
    levers = TierLeverSerializer(many=True)
    acquisition_cost_per_user = MoneyEstimateSerializer(
        required=False, help_text="Free tiers only: COGS per free user."
    )


class TotalUnderwaterSerializer(Base):
    share = serializers.FloatField(help_text="Share of paying subscribers underwater.")
    interval = _interval(serializers.FloatField())
    users = serializers.FloatField()
    monthly_loss = ResultMoneyField()


class TotalHorizonSerializer(Base):
    margin_by_month = serializers.ListField(child=ResultMoneyField())
    total_margin = ResultMoneyField()
    npv_margin = ResultMoneyField()
    discount_rate_yearly = serializers.FloatField()


class TotalLeverSerializer(Base):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF's Field.label
    monthly_margin_change = ResultMoneyField()


class TotalResultSerializer(Base):
    subscribers = serializers.IntegerField()
    paying_subscribers = serializers.IntegerField()
    revenue = ResultMoneyField()
    cogs = MoneyEstimateSerializer()
    margin = ResultMoneyField()
    gross_margin_pct = serializers.FloatField()
    underwater_paying = TotalUnderwaterSerializer()
    free_cost_per_paying_user = ResultMoneyField()
    horizon = TotalHorizonSerializer()
    levers = TotalLeverSerializer(many=True)


class RunResultsSerializer(Base):
    engine_version = serializers.CharField()
    users = serializers.IntegerField()
    seed = serializers.IntegerField()
    blocks = serializers.IntegerField()
    horizon_months = serializers.IntegerField()
    error_note = serializers.CharField()
    cogs_percentile_bin_error = serializers.FloatField(
        help_text="Largest relative binning error of percentiles."
    )
    seconds = serializers.FloatField(required=False, help_text="Wall-clock seconds the run took.")
    tiers = TierResultSerializer(many=True)
    total = TotalResultSerializer()
