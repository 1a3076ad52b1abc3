"""Read-side queries of alerts, scoped to one organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from planner.accounts.models import Organization
from planner.alerts.models import AlertOutbox, AlertRule


def alert_rules_for_organization(*, organization: Organization) -> QuerySet[AlertRule]:
    """The organisation's alert rules with their schedule, scenario and tier joined."""
    return AlertRule.objects.filter(organization=organization).select_related(
        "organization", "crontab", "scenario", "tier"
    )


def alert_history(*, rule: AlertRule) -> QuerySet[AlertOutbox]:
    """The mails that carried ``rule``'s figures (its own, digests and tests), newest first."""
    return AlertOutbox.objects.filter(organization_id=rule.organization_id, rules=rule).order_by(
        "-created_at", "-id"
    )
