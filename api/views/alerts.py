"""Alert rules (``/api/v1/alert-rules/``) and their history, scoped to the request's
organisation like every viewset (``api.views.OrganizationViewSetMixin``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.alerts import AlertOutboxSerializer, AlertRuleSerializer
from api.views.base import OrganizationViewSetMixin
from planner.alerts.models import AlertRule
from planner.alerts.rules import alert_rule_delete
from planner.alerts.selectors import alert_history, alert_rules_for_organization


class AlertRuleViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[AlertRule]):
    """Margin alert rules: metric, comparator and threshold, scope, schedule, recipients."""

    model = AlertRule
    selector = staticmethod(alert_rules_for_organization)
    serializer_class = AlertRuleSerializer
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    def perform_destroy(self, instance: AlertRule) -> None:
        alert_rule_delete(rule=instance)

    @extend_schema(
        summary="The rule's alert mails, newest first: status, attempts and what was measured",
        responses=AlertOutboxSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        page = self.paginate_queryset(alert_history(rule=rule))
        return self.get_paginated_response(AlertOutboxSerializer(page, many=True).data)
