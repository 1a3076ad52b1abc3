"""Alert rules (``/api/v1/alert-rules/``) and their history, alert channels
(``/api/v1/alert-channels/``: Slack and signed webhooks) with their deliveries, scoped to the
request's organisation like every viewset (``api.views.OrganizationViewSetMixin``)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.alerts import (
    AlertChannelSecretSerializer,
    AlertChannelSerializer,
    AlertOutboxSerializer,
    AlertRuleSerializer,
)
from api.tenancy import request_organization
from api.views.base import OrganizationViewSetMixin
from planner.alerts.channels import (
    alert_channel_create,
    alert_channel_delete,
    alert_channel_rotate_secret,
    alert_channel_send_test,
)
from planner.alerts.models import AlertChannel, AlertRule
from planner.alerts.rules import alert_rule_delete
from planner.alerts.selectors import (
    alert_channel_deliveries,
    alert_channels_for_organization,
    alert_history,
    alert_rules_for_organization,
)


class AlertRuleViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[AlertRule]):
    """Margin alert rules: metric, comparator and threshold, scope, schedule, recipients, channels."""

    model = AlertRule
    selector = staticmethod(alert_rules_for_organization)
    serializer_class = AlertRuleSerializer
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    def perform_destroy(self, instance: AlertRule) -> None:
        alert_rule_delete(rule=instance)

    @extend_schema(
        summary="The rule's deliveries (mail, channels), newest first: status, attempts, what was measured",
        responses=AlertOutboxSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        page = self.paginate_queryset(alert_history(rule=rule))
        return self.get_paginated_response(AlertOutboxSerializer(page, many=True).data)


def _with_secret(channel: AlertChannel, secret: str | None) -> dict[str, Any]:
    return {**AlertChannelSerializer(channel).data, "secret": secret}


class AlertChannelViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[AlertChannel]):
    """Where alerts go besides mail: Slack incoming webhooks and signed webhooks (docs/ALERTS.md).
    A webhook's signing secret is in the answer that creates the channel or rotates the secret,
    and nowhere else."""

    model = AlertChannel
    selector = staticmethod(alert_channels_for_organization)
    serializer_class = AlertChannelSerializer
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    @extend_schema(responses={201: AlertChannelSecretSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel, secret = alert_channel_create(
            organization=request_organization(request), **serializer.validated_data
        )
        return Response(_with_secret(channel, secret), status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: AlertChannel) -> None:
        alert_channel_delete(channel=instance)

    @extend_schema(
        summary="A new signing secret for a webhook channel, shown this once",
        request=None,
        responses=AlertChannelSecretSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", filter_backends=[])
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        channel = self.get_object()
        secret = alert_channel_rotate_secret(channel=channel)
        return Response(_with_secret(channel, secret))

    @extend_schema(
        summary="Queue a test message to the channel through the outbox",
        request=None,
        responses={202: AlertOutboxSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def test(self, request: Request, pk: str | None = None) -> Response:
        row = alert_channel_send_test(channel=self.get_object(), now=timezone.now())
        return Response(AlertOutboxSerializer(row).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The channel's deliveries, newest first: status, attempts and the last error",
        responses=AlertOutboxSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        page = self.paginate_queryset(alert_channel_deliveries(channel=self.get_object()))
        return self.get_paginated_response(AlertOutboxSerializer(page, many=True).data)
