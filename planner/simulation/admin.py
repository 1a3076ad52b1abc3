"""Admin of scenarios and their runs (registered when ``planner.admin`` imports this). Runs are
read-only: the run service starts them with a frozen snapshot."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from planner.products.admin import ByProductAdmin
from planner.products.models import Tier
from planner.simulation.models import Scenario, SimulationRun, WorkloadOverride


class SimulationRunInline(admin.TabularInline):
    model = SimulationRun
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("status", "seed", "users", "blocks_done", "blocks_total", "created_at", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class PlanTierForm(forms.ModelForm):
    """A tier of the scenario's plan: its product is the scenario's."""

    def clean(self) -> dict[str, Any] | None:
        scenario = self.instance.scenario if self.instance.scenario_id else None
        if scenario is not None:
            self.instance.product_id = scenario.product_id
        return super().clean()


class PlanTierInline(admin.StackedInline):
    """The scenario's own plan: editing it changes no other scenario and not the live plan."""

    model = Tier
    fk_name = "scenario"
    form = PlanTierForm
    extra = 0
    show_change_link = True
    verbose_name_plural = "plan (this scenario's tiers)"
    exclude = ["product"]
    raw_id_fields = ["live_tier"]


class WorkloadOverrideInline(admin.TabularInline):
    """The scenario's own token profiles and calls per request (the model mix is set through the
    document or the API, which validate it as a whole)."""

    model = WorkloadOverride
    extra = 0
    readonly_fields = ["model_mix"]


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
    inlines = [PlanTierInline, WorkloadOverrideInline, SimulationRunInline]


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
