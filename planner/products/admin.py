"""Admin of products, tiers, workloads, model mixes, usage distributions and correlations
(registered when ``planner.admin`` imports this). Model-mix shares are validated for the workload
as a whole."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

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


class ByProductAdmin(admin.ModelAdmin):
    """The admin of named rows that belong to a product (tiers, workloads, scenarios): filtered
    by organisation and product, searched by their name and the product's."""

    list_filter = ["product__organization", "product"]
    search_fields = ["name", "product__name"]


class TierInline(admin.StackedInline):
    """The product's live plan (scenarios' tiers are edited on their scenario)."""

    model = Tier
    fk_name = "product"
    extra = 0
    show_change_link = True
    verbose_name_plural = "live plan (tiers real customers are on)"
    exclude = ["scenario", "live_tier"]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).filter(scenario__isnull=True)


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
class TierAdmin(ByProductAdmin):
    """Every tier: live ones (no scenario) and scenarios' (filter by scenario)."""

    list_display = [
        "name",
        "product",
        "scenario",
        "live_tier",
        *TIER_PLAN_FIELDS,
        "subscribers",
        "churn_monthly",
    ]
    list_filter = [*ByProductAdmin.list_filter, ("scenario", admin.EmptyFieldListFilter), "scenario"]
    list_select_related = ["product", "scenario", "live_tier"]
    raw_id_fields = ["scenario", "live_tier"]


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
class WorkloadAdmin(ByProductAdmin):
    list_display = ["name", "product", "credits_per_request", "prompt_cache_share", "response_cache_hit_rate"]
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
