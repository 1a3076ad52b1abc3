"""Admin for the price catalog: searchable and filterable, read-only.

The catalog is written by ``manage.py import_prices`` only; an edit made here would be undone or
retired by the next import, and price rows may be referred to by runs, so nothing is editable.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pricing.models import AIModel, ModelPrice, Provider

# What a price row says: its variant, when it holds (dates, and hours for time-of-day prices) and
# what a million tokens cost.
PRICE_FIELDS = (
    "variant",
    "effective_from",
    "effective_to",
    "start_time",
    "end_time",
    "input_mtok",
    "output_mtok",
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only admin: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Provider)
class ProviderAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "api_pattern", "retired_at"]
    list_filter = [("retired_at", admin.EmptyFieldListFilter)]
    search_fields = ["slug", "name"]


class ModelPriceInline(admin.TabularInline):
    model = ModelPrice
    fields = readonly_fields = PRICE_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AIModel)
class AIModelAdmin(ReadOnlyAdmin):
    list_display = ["slug", "provider", "name", "context_window", "deprecated", "retired_at"]
    list_filter = ["provider", "deprecated", ("retired_at", admin.EmptyFieldListFilter)]
    list_select_related = ["provider"]
    search_fields = ["slug", "name", "provider__slug", "provider__name"]
    inlines = [ModelPriceInline]


@admin.register(ModelPrice)
class ModelPriceAdmin(ReadOnlyAdmin):
    list_display = ["model", *PRICE_FIELDS, "cache_read_mtok", "has_tiers", "source"]
    list_filter = [
        "variant",
        "has_tiers",
        "source",
        ("retired_at", admin.EmptyFieldListFilter),
        ("model__provider", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["model__provider"]
    search_fields = ["model__slug", "model__name", "model__provider__slug", "model__provider__name"]
    date_hierarchy = "effective_from"
