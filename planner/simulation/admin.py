"""Admin of scenarios and their runs (registered when ``planner.admin`` imports this). Runs are
read-only: the run service starts them with a frozen snapshot."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from planner.products.admin import ByProductAdmin
from planner.simulation.models import Scenario, SimulationRun


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
class ScenarioAdmin(ByProductAdmin):
    list_display = [
        "name",
        "product",
        "horizon_months",
        "simulated_users",
        "seed",
        "price_date",
        "updated_at",
    ]
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
