"""Admin of alert rules, channels and the alert outbox (registered when ``planner.admin``
imports this)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils import timezone

from planner.alerts.channels import url_masked
from planner.alerts.delivery import outbox_retry
from planner.alerts.models import AlertChannel, AlertOutbox, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """Rules; the schedule is the rule's ``crontab`` (edit it here or under Periodic Tasks ›
    Crontabs; its time zone is the organisation's). Create rules in the app or the API, which
    build the crontab from the schedule preset."""

    list_display = [
        "name",
        "organization",
        "scope",
        "metric",
        "comparator",
        "threshold",
        "schedule",
        "crontab",
    ]
    list_display += ["enabled", "digest", "last_evaluated_at"]
    list_filter = ["enabled", "scope", "metric", "schedule", "organization"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization", "crontab"]
    raw_id_fields = ["scenario", "tier"]
    filter_horizontal = ["channels"]
    readonly_fields = ["last_tick_at", "last_evaluated_at", "last_measurement", "created_at", "updated_at"]


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    """Channels, read-only here: the URL is a secret (shown masked) and the signing secret is
    derived from a seed this page never shows. Create, edit and rotate in the app or the API."""

    list_display = ["name", "organization", "kind", "masked_url", "enabled", "created_at"]
    list_filter = ["kind", "enabled", "organization"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    fields = readonly_fields = (
        "organization",
        "name",
        "kind",
        "masked_url",
        "enabled",
        "created_at",
        "updated_at",
    )

    @admin.display(description="URL")
    def masked_url(self, channel: AlertChannel) -> str:
        return url_masked(channel.url)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.action(description="Retry now (failed or retrying rows)")
def retry_now(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
    count = outbox_retry(rows=queryset, now=timezone.now())
    modeladmin.message_user(request, f"{count} row(s) queued for another attempt.")


@admin.register(AlertOutbox)
class AlertOutboxAdmin(admin.ModelAdmin):
    """The alert outbox: every mail with its status, attempts and last error. Read-only."""

    list_display = ["created_at", "organization", "kind", "rule", "window", "recipient", "channel", "status"]
    list_display += ["attempts"]
    list_display += ["sent_at", "next_attempt_at"]
    list_filter = ["status", "kind", "organization"]
    search_fields = ["recipient", "subject", "message_id", "window"]
    list_select_related = ["organization", "rule", "channel"]
    actions = [retry_now]
    readonly_fields = [f.name for f in AlertOutbox._meta.get_fields() if f.concrete and not f.many_to_many]
    readonly_fields += ["rules"]

    def has_add_permission(self, request: Any) -> bool:
        """Rows are written by the evaluation, never typed in."""
        return False
