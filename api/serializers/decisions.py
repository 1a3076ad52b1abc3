"""Optimizations (issue #14): the request that starts one, and the job with its answer.

Units as in the rest of the API: shares and the gross margin are fractions (JSON numbers);
money (a fee or an overage price to vary, a loss to stay under) is a decimal string.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import StrictCharField, StrictFloatField, StrictIntegerField, is_number
from api.serializers.runs import JOB_FIELDS, JobSerializer
from planner.core.models import MAX_SEED, MAX_SIMULATED_USERS, MIN_SIMULATED_USERS
from planner.simulation.models import SimulationRun
from planner.simulation.optimizations import MAX_SWEEP_POINTS, SENSITIVITY_METRICS
from planner.simulation.optimize import METRICS, SETTING_NAMES

#: Settings and metrics measured in money: sent as decimal strings.
MONEY_SETTINGS = frozenset({"fee", "overage_price"})
MONEY_METRICS = frozenset({"underwater_loss"})


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "format": "decimal"}]})
class AmountField(serializers.Field[Any, Any, Any, Any]):
    """A finite JSON number or a decimal string; which one the value must be depends on what
    it measures (the serializer using it checks), so it returns ``(value, sent_as_string)``."""

    default_error_messages = {"invalid": "Enter a number, or an amount as a decimal string."}

    def to_internal_value(self, data: Any) -> tuple[float, bool]:
        if isinstance(data, str):
            try:
                amount = Decimal(data)
            except InvalidOperation:
                self.fail("invalid")
            if not amount.is_finite():
                self.fail("invalid")
            return float(amount), True
        if not is_number(data):
            self.fail("invalid")
        return float(data), False

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"oneOf": [{"type": "integer", "enum": [1]}, {"type": "string", "enum": ["horizon"]}]})
class MonthField(serializers.Field[Any, Any, Any, Any]):
    """Which figures constraints apply to: ``1`` (month 1) or ``"horizon"`` (horizon totals)."""

    default_error_messages = {"invalid": 'Enter 1 (month 1) or "horizon".'}

    def to_internal_value(self, data: Any) -> int | str:
        if (data == 1 and not isinstance(data, bool | float)) or data == "horizon":
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


def _unit_errors(data: dict[str, Any], names: tuple[str, ...], money: bool) -> dict[str, str]:
    """An error per bound sent in the wrong unit: money as a decimal string, else a number."""
    errors = {}
    for name in names:
        if data.get(name) is None:
            continue
        _, as_string = data[name]
        if money and not as_string:
            errors[name] = 'Enter the amount as a decimal string, such as "500.00".'
        elif not money and as_string:
            errors[name] = "Enter a number (a fraction such as 0.05 for 5%, or credits)."
    return errors


class VarySerializer(serializers.Serializer[Any]):
    setting = serializers.ChoiceField(choices=sorted([*SETTING_NAMES, "seat_fee"]))
    min = AmountField(required=False, help_text="Start of the range (default: see API.md).")
    max = AmountField(required=False, help_text="End of the range.")
    step = AmountField(required=False, help_text="Resolution ($0.01 fees, 1 credit, 0.005 shares).")
    lever = StrictCharField(
        required=False, max_length=60, help_text="Key of the scenario's cost lever whose share varies."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        money = attrs["setting"] == "seat_fee" or SETTING_NAMES[attrs["setting"]] in MONEY_SETTINGS
        errors = _unit_errors(attrs, ("min", "max", "step"), money)
        if errors:
            raise serializers.ValidationError(errors)
        return {k: (v[0] if k in ("min", "max", "step") else v) for k, v in attrs.items()}


class ConstraintSerializer(serializers.Serializer[Any]):
    metric = serializers.ChoiceField(choices=list(METRICS))
    min = AmountField(required=False, help_text="At least (gross_margin).")
    max = AmountField(required=False, help_text="At most (shares; underwater_loss in money).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("min") is None) == (attrs.get("max") is None):
            raise serializers.ValidationError("Give exactly one of min and max.")
        errors = _unit_errors(attrs, ("min", "max"), attrs["metric"] in MONEY_METRICS)
        if errors:
            raise serializers.ValidationError(errors)
        return {k: (v[0] if k in ("min", "max") else v) for k, v in attrs.items()}


class OptimizationStartSerializer(serializers.Serializer[Any]):
    tier = StrictCharField(
        allow_null=True, max_length=200, help_text="A tier name of the scenario (null: all paying tiers)."
    )
    vary = serializers.ListField(
        child=VarySerializer(), min_length=1, max_length=2, help_text="One setting, or two for a grid."
    )
    constraints = serializers.ListField(child=ConstraintSerializer(), min_length=1, max_length=4)
    confidence = StrictFloatField(min_value=0.5, max_value=0.999, default=0.95)
    objective = serializers.ChoiceField(choices=["least_change", "max_margin"], default="least_change")
    month = MonthField(default=1)
    users = StrictIntegerField(min_value=MIN_SIMULATED_USERS, max_value=MAX_SIMULATED_USERS, required=False)
    seed = StrictIntegerField(min_value=0, max_value=MAX_SEED, required=False)


class SweepSerializer(serializers.Serializer[Any]):
    input = StrictCharField(max_length=200, help_text="The input's key, as a tornado's bars name it.")
    points = StrictIntegerField(min_value=2, max_value=MAX_SWEEP_POINTS, default=9)


class SensitivityStartSerializer(serializers.Serializer[Any]):
    tier = StrictCharField(
        allow_null=True,
        required=False,
        default=None,
        max_length=200,
        help_text="Only this tier (null: every tier).",
    )
    ranges = serializers.DictField(
        child=serializers.ListField(child=StrictFloatField(), min_length=2, max_length=2, allow_null=True),
        required=False,
        help_text="Input -> [low, high] overriding the default range (null leaves the input out); API.md.",
    )
    metric = serializers.ChoiceField(choices=list(SENSITIVITY_METRICS), default="gross_margin")
    sweep = SweepSerializer(
        required=False, help_text="One input at `points` values over its range instead of a tornado."
    )
    users = StrictIntegerField(min_value=MIN_SIMULATED_USERS, max_value=MAX_SIMULATED_USERS, required=False)
    seed = StrictIntegerField(min_value=0, max_value=MAX_SEED, required=False)


class OptimizationSerializer(JobSerializer):
    request = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = ["id", "kind", *JOB_FIELDS[1:], "progress", "request", "result"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_request(self, job: SimulationRun) -> dict[str, Any]:
        return dict(job.spec.get("request", {}))

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_result(self, job: SimulationRun) -> dict[str, Any] | None:
        """The answer once succeeded. An optimization: ``feasible``, ``value`` (keyed by
        setting, or null), ``figures``, ``adjacent`` (or ``closest`` when infeasible),
        ``grid``/``frontier`` for two settings. A sensitivity analysis: the tornado per tier."""
        return job.results if job.status == SimulationRun.Status.SUCCEEDED else None
