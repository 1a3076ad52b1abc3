"""Read-side queries of alerts, scoped to one organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from planner.accounts.models import Organization
from planner.alerts.models import AlertChannel, AlertOutbox, AlertRule


def alert_rules_for_organization(*, organization: Organization) -> QuerySet[AlertRule]:
    """The organisation's alert rules with their schedule, scenario, tier and channels."""
    return (
        AlertRule.objects.filter(organization=organization)
        .select_related("organization", "crontab", "scenario", "tier")
        .prefetch_related("channels")
    )


def alert_history(*, rule: AlertRule) -> QuerySet[AlertOutbox]:
    """The deliveries that carried ``rule``'s figures (its own, digests and tests, to mail
    recipients and channels), newest first."""
    return (
        AlertOutbox.objects.filter(organization_id=rule.organization_id, rules=rule)
        .select_related("channel")
        .order_by("-created_at", "-id")
    )


def alert_channels_for_organization(*, organization: Organization) -> QuerySet[AlertChannel]:
    """The organisation's Slack and webhook channels."""
    return AlertChannel.objects.filter(organization=organization).select_related("organization")


def alert_channel_deliveries(*, channel: AlertChannel) -> QuerySet[AlertOutbox]:
    """Every delivery to ``channel`` (alerts, digests, tests), newest first."""
    return (
        AlertOutbox.objects.filter(organization_id=channel.organization_id, channel=channel)
        .select_related("channel")
        .order_by("-created_at", "-id")
    )
