"""Alert rules, alert channels (Slack, signed webhooks) and the deliveries of both (the outbox
rows that carried their figures)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.fields import OrganizationRelatedField, StrictCharField, StringOnly
from api.serializers.base import StrictModelSerializer
from api.tenancy import request_organization
from planner.alerts.channels import alert_channel_update, url_masked
from planner.alerts.models import (
    MAX_ALERT_RECIPIENTS,
    MAX_CHANNEL_URL_LENGTH,
    AlertChannel,
    AlertOutbox,
    AlertRule,
)
from planner.alerts.rules import RULE_FIELDS, alert_rule_create, alert_rule_update, cron_expression
from planner.alerts.selectors import alert_channels_for_organization
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
        child=StrictEmailField(max_length=254),
        max_length=MAX_ALERT_RECIPIENTS,
        required=False,
        help_text="Email addresses; a rule needs recipients, channels or both.",
    )
    channels = OrganizationRelatedField(
        selector=alert_channels_for_organization,
        many=True,
        required=False,
        help_text="Ids of the organisation's alert channels (GET /api/v1/alert-channels/).",
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
    items = MeasurementSerializer(
        many=True, help_text="One entry per rule the delivery reports (none: a channel's own test)."
    )


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
            "channel",
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


class MaskedUrlField(serializers.CharField):
    """A channel's URL as it may be shown: its host and last characters (the URL is a secret)."""

    def to_representation(self, value: str) -> str:
        return url_masked(value)


class AlertChannelSerializer(StrictModelSerializer):
    """A Slack or webhook channel. ``url`` is written, never read back whole."""

    url = StrictCharField(
        write_only=True,
        required=False,
        max_length=MAX_CHANNEL_URL_LENGTH,
        help_text="https:// only; Slack: https://hooks.slack.com/services/.... Required on create; "
        "left out on update, the URL stays. Never returned (see url_masked).",
    )
    url_masked = MaskedUrlField(source="url", read_only=True, help_text="The URL, masked.")

    class Meta:
        model = AlertChannel
        fields = ["id", "name", "kind", "url", "url_masked", "enabled", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and not attrs.get("url"):
            raise serializers.ValidationError({"url": "This field is required."}, code="required")
        return attrs

    def update(self, instance: AlertChannel, validated_data: dict[str, Any]) -> AlertChannel:
        return alert_channel_update(channel=instance, data=validated_data)


class AlertChannelSecretSerializer(AlertChannelSerializer):
    """A channel with its webhook signing secret: only in the answer that created or rotated it."""

    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The webhook's signing secret, shown this once (null for Slack). Store it now.",
    )

    class Meta(AlertChannelSerializer.Meta):
        fields = [*AlertChannelSerializer.Meta.fields, "secret"]
