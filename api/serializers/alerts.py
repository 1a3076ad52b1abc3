"""Alert rules and their history (the outbox rows that carried their figures)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.fields import OrganizationRelatedField, StrictCharField, StringOnly
from api.serializers.base import StrictModelSerializer
from api.tenancy import request_organization
from planner.alerts.models import MAX_ALERT_RECIPIENTS, AlertOutbox, AlertRule
from planner.alerts.rules import RULE_FIELDS, alert_rule_create, alert_rule_update, cron_expression
from planner.products.selectors import tiers_for_organization
from planner.simulation.selectors import scenarios_for_organization


class StrictEmailField(StringOnly, serializers.EmailField):
    default_error_messages = {"invalid": "Enter a valid email address."}


class CronField(StrictCharField):
    """The rule's schedule as a crontab(5) expression; written only for ``schedule: "cron"``."""

    def get_attribute(self, instance: AlertRule) -> str:
        return cron_expression(instance.crontab)


class CustomerFigureSerializer(serializers.Serializer[Any]):
    customer = serializers.CharField()
    tier = serializers.CharField()
    revenue = serializers.CharField(help_text="Decimal string.")
    cogs = serializers.CharField(help_text="Decimal string.")
    margin = serializers.CharField(help_text="Decimal string.")


class MeasurementSerializer(serializers.Serializer[Any]):
    """What one evaluation of a rule measured."""

    rule = serializers.IntegerField()
    rule_name = serializers.CharField()
    metric = serializers.ChoiceField(choices=AlertRule.Metric.choices)
    metric_label = serializers.CharField()
    scope = serializers.ChoiceField(choices=AlertRule.Scope.choices)
    tier = serializers.CharField(allow_null=True)
    window = serializers.CharField(help_text="Schedule window in the organisation's time zone.")
    period = serializers.CharField(allow_null=True, help_text="YYYY-MM, for actual usage.")
    scenario = serializers.CharField(allow_null=True)
    run = serializers.IntegerField(allow_null=True)
    value = serializers.CharField(allow_null=True, help_text="Decimal string; null without data.")
    value_display = serializers.CharField(allow_null=True)
    unit = serializers.CharField(help_text="% or the organisation's currency.")
    comparator = serializers.CharField()
    threshold = serializers.CharField()
    threshold_display = serializers.CharField()
    breached = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True)
    subject = serializers.CharField()
    customers_listed = serializers.IntegerField()
    top_customers = CustomerFigureSerializer(many=True)


class LastMeasurementSerializer(MeasurementSerializer):
    evaluated_at = serializers.DateTimeField()


class AlertRuleSerializer(StrictModelSerializer):
    scenario = OrganizationRelatedField(
        selector=scenarios_for_organization,
        allow_null=True,
        required=False,
        help_text="For the scenario scope: the scenario whose latest succeeded run is measured.",
    )
    tier = OrganizationRelatedField(
        selector=tiers_for_organization,
        allow_null=True,
        required=False,
        help_text="Only this tier; all tiers when null. Actual scope: a live tier; scenario scope: a tier "
        "of that scenario's plan (GET /api/v1/tiers/?scenario={id}).",
    )
    recipients = serializers.ListField(
        child=StrictEmailField(max_length=254), min_length=1, max_length=MAX_ALERT_RECIPIENTS
    )
    cron = CronField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="minute hour day-of-month month day-of-week, in the organisation's time zone "
        "(for schedule 'cron'; read: the schedule in force).",
    )
    last_measurement = LastMeasurementSerializer(read_only=True, allow_null=True)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            *RULE_FIELDS,
            "last_tick_at",
            "last_evaluated_at",
            "last_measurement",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["last_tick_at", "last_evaluated_at", "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> AlertRule:
        return alert_rule_create(organization=request_organization(self.context["request"]), **validated_data)

    def update(self, instance: AlertRule, validated_data: dict[str, Any]) -> AlertRule:
        return alert_rule_update(rule=instance, data=validated_data)


class AlertMeasuredSerializer(serializers.Serializer[Any]):
    items = MeasurementSerializer(many=True, help_text="One entry per rule the mail reports.")


class AlertOutboxSerializer(serializers.ModelSerializer[AlertOutbox]):
    measured = AlertMeasuredSerializer()

    class Meta:
        model = AlertOutbox
        fields = [
            "id",
            "kind",
            "rule",
            "window",
            "recipient",
            "status",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "message_id",
            "subject",
            "measured",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields
