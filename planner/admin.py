"""Admin for every planner model. Model-mix shares are validated for the workload as a whole."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from planner.accounts.models import Membership, Organization
from planner.alerts.delivery import outbox_retry
from planner.alerts.models import AlertOutbox, AlertRule
from planner.core.validators import model_mix_validate
from planner.products.models import (
    Product,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadCorrelation,
    WorkloadModel,
)
from planner.products.services import TIER_PLAN_FIELDS
from planner.simulation.models import Scenario, SimulationRun


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "time_zone", "created_at"]
    list_filter = ["currency", "time_zone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]


class TierInline(admin.StackedInline):
    model = Tier
    extra = 0
    show_change_link = True


class WorkloadInline(admin.TabularInline):
    model = Workload
    extra = 0
    show_change_link = True
    fields = ["name", "position", "credits_per_request", "response_cache_hit_rate", "batch_share"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "default_correlation", "updated_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    inlines = [TierInline, WorkloadInline]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "product", *TIER_PLAN_FIELDS, "subscribers", "churn_monthly"]
    list_filter = ["product__organization", "product"]
    search_fields = ["name", "product__name"]


class ModelMixFormSet(BaseInlineFormSet):
    """Checks that the shares of the models kept in the mix sum to 1."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        shares = [
            form.cleaned_data["share"]
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("share") is not None
        ]
        try:
            model_mix_validate(shares)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


class WorkloadModelInline(admin.TabularInline):
    model = WorkloadModel
    formset = ModelMixFormSet
    extra = 0
    autocomplete_fields = ["model"]


@admin.register(Workload)
class WorkloadAdmin(admin.ModelAdmin):
    list_display = ["name", "product", "credits_per_request", "prompt_cache_share", "response_cache_hit_rate"]
    list_filter = ["product__organization", "product"]
    search_fields = ["name", "product__name"]
    inlines = [WorkloadModelInline]
    fieldsets = [
        (None, {"fields": ["product", "name", "position", "credits_per_request"]}),
        (
            "Tokens per call (median / p90)",
            {
                "fields": [
                    ("input_tokens_median", "input_tokens_p90"),
                    ("output_tokens_median", "output_tokens_p90"),
                    ("reasoning_tokens_median", "reasoning_tokens_p90"),
                    ("calls_per_request_median", "calls_per_request_p90"),
                ]
            },
        ),
        (
            "Caching, batch and distillation",
            {
                "fields": [
                    "prompt_cache_share",
                    "prompt_cache_write_share",
                    "response_cache_hit_rate",
                    "batch_share",
                    "distillation",
                ]
            },
        ),
    ]


@admin.register(WorkloadModel)
class WorkloadModelAdmin(admin.ModelAdmin):
    list_display = ["workload", "model", "share", "variant", "uses_reasoning"]
    list_filter = ["uses_reasoning", "workload__product"]
    autocomplete_fields = ["model"]


@admin.register(UsageDistribution)
class UsageDistributionAdmin(admin.ModelAdmin):
    list_display = ["tier", "workload", "kind", "median", "p90", "mean", "shape", "alpha", "overdispersion"]
    list_filter = ["kind", "tier__product"]
    search_fields = ["tier__name", "workload__name"]


@admin.register(WorkloadCorrelation)
class WorkloadCorrelationAdmin(admin.ModelAdmin):
    list_display = ["product", "workload_a", "workload_b", "rho"]
    list_filter = ["product"]


class SimulationRunInline(admin.TabularInline):
    model = SimulationRun
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("status", "seed", "users", "blocks_done", "blocks_total", "created_at", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "product",
        "horizon_months",
        "simulated_users",
        "seed",
        "price_date",
        "updated_at",
    ]
    list_filter = ["product__organization", "product"]
    search_fields = ["name", "product__name"]
    inlines = [SimulationRunInline]


@admin.register(SimulationRun)
class SimulationRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "scenario",
        "organization",
        "status",
        "users",
        "blocks_done",
        "blocks_total",
        "created_at",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["scenario__name"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "scenario",
        "organization",
        "seed",
        "users",
        "snapshot",
        "package_versions",
        "blocks_total",
        "blocks_done",
        "attempts",
        "heartbeat_at",
        "created_at",
        "started_at",
        "finished_at",
        "results",
    ]

    def has_add_permission(self, request: Any) -> bool:
        """Runs are started by the run service (with a frozen snapshot), never typed in."""
        return False


# --- Alerts (issue 7) ------------------------------------------------------------------------


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
    readonly_fields = ["last_tick_at", "last_evaluated_at", "last_measurement", "created_at", "updated_at"]


@admin.action(description="Retry now (failed or retrying rows)")
def retry_now(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
    count = outbox_retry(rows=queryset, now=timezone.now())
    modeladmin.message_user(request, f"{count} row(s) queued for another attempt.")


@admin.register(AlertOutbox)
class AlertOutboxAdmin(admin.ModelAdmin):
    """The alert outbox: every mail with its status, attempts and last error. Read-only."""

    list_display = ["created_at", "organization", "kind", "rule", "window", "recipient", "status", "attempts"]
    list_display += ["sent_at", "next_attempt_at"]
    list_filter = ["status", "kind", "organization"]
    search_fields = ["recipient", "subject", "message_id", "window"]
    list_select_related = ["organization", "rule"]
    actions = [retry_now]
    readonly_fields = [f.name for f in AlertOutbox._meta.get_fields() if f.concrete and not f.many_to_many]
    readonly_fields += ["rules"]

    def has_add_permission(self, request: Any) -> bool:
        """Rows are written by the evaluation, never typed in."""
        return False
