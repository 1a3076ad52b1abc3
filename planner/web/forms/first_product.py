"""Forms of the guided first product (``planner.simulation.first_product``): one per step.
They parse input; the services validate the domain rules, and their errors come back on the
field at fault (``service_errors`` renames their keys)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from planner.products.models import Tier, UsageDistribution, Workload
from planner.simulation.first_product import DEFAULT_TIERS, WORKLOAD_PRESETS, guide_models
from planner.web.forms.fields import MoneyInput, currency_adorn

PLAN_ROWS = 3
TIER_INPUTS = (
    "name",
    "monthly_fee",
    "included_credits",
    "overage_price_per_credit",
    "hard_cap_credits",
    "subscribers",
)


class GuidedPlanForm(forms.Form):
    """Step 1: the product's name and up to three tiers (a row without a name is left out)."""

    product = forms.CharField(max_length=200, label="Product name")

    def __init__(self, *args: Any, currency: str = "USD", **kwargs: Any) -> None:
        """``currency``: the organisation's, on the money inputs."""
        super().__init__(*args, **kwargs)
        for i in range(PLAN_ROWS):
            defaults = DEFAULT_TIERS[i] if i < len(DEFAULT_TIERS) else {}
            n = i + 1
            self.fields[f"tier_{i}_name"] = forms.CharField(
                max_length=100, required=False, label=f"Tier {n} name", initial=defaults.get("name")
            )
            self.fields[f"tier_{i}_monthly_fee"] = forms.DecimalField(
                min_value=Decimal(0),
                max_digits=12,
                decimal_places=2,
                required=False,
                label=f"Tier {n} monthly fee",
                widget=MoneyInput(),
                initial=defaults.get("monthly_fee"),
                help_text="0 for a free tier.",
            )
            self.fields[f"tier_{i}_included_credits"] = forms.FloatField(
                min_value=0,
                required=False,
                label=f"Tier {n} credits included",
                initial=defaults.get("included_credits"),
                help_text="Empty: unlimited.",
            )
            self.fields[f"tier_{i}_overage_price_per_credit"] = forms.DecimalField(
                min_value=Decimal(0),
                max_digits=12,
                decimal_places=6,
                required=False,
                label=f"Tier {n} overage price per credit",
                widget=MoneyInput(),
                initial=defaults.get("overage_price_per_credit"),
                help_text="Empty: the quota blocks further use.",
            )
            self.fields[f"tier_{i}_hard_cap_credits"] = forms.FloatField(
                min_value=0,
                required=False,
                label=f"Tier {n} hard cap (credits)",
                initial=defaults.get("hard_cap_credits"),
                help_text="Empty: no cap.",
            )
            self.fields[f"tier_{i}_subscribers"] = forms.IntegerField(
                min_value=0,
                max_value=100_000_000,
                required=False,
                label=f"Tier {n} subscribers",
                initial=defaults.get("subscribers"),
            )
        currency_adorn(self, currency)

    def rows(self) -> list[list[forms.BoundField]]:
        """The tier fields, one list per tier (for the template's table)."""
        return [[self[f"tier_{i}_{name}"] for name in TIER_INPUTS] for i in range(PLAN_ROWS)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for i in range(PLAN_ROWS):
            named = bool(data.get(f"tier_{i}_name"))
            filled = any(data.get(f"tier_{i}_{name}") not in (None, "") for name in TIER_INPUTS[1:])
            if filled and not named:
                self.add_error(f"tier_{i}_name", "Name this tier, or clear its row to leave it out.")
            elif named and data.get(f"tier_{i}_monthly_fee") is None:
                self.add_error(f"tier_{i}_monthly_fee", "Give the monthly fee (0 for a free tier).")
        if not any(data.get(f"tier_{i}_name") for i in range(PLAN_ROWS)):
            self.add_error("tier_0_name", "Give the plan at least one tier.")
        return data

    def tiers(self) -> list[dict[str, Any]]:
        """The named tiers' fields for ``first_product_create``."""
        tiers = []
        for i in range(PLAN_ROWS):
            if not self.cleaned_data.get(f"tier_{i}_name"):
                continue
            fields = {name: self.cleaned_data.get(f"tier_{i}_{name}") for name in TIER_INPUTS}
            fields["subscribers"] = fields["subscribers"] or 0
            tiers.append(fields)
        return tiers

    def service_errors(self, error: ValidationError) -> ValidationError:
        """A service error keyed ``tiers[i].field`` keyed by the form field ``tier_i_field``."""
        renamed: dict[str, list[str]] = {}
        for key, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
            match = re.fullmatch(r"tiers\[(\d+)\]\.(\w+)", key)
            field = f"tier_{match[1]}_{match[2]}" if match else key
            if field not in self.fields:
                messages = (
                    [f"{key.replace('_', ' ')}: {m}" for m in messages] if key != "__all__" else messages
                )
                field = "__all__"
            renamed.setdefault(field, []).extend(messages)
        return ValidationError(renamed)


class GuidedWorkloadForm(forms.Form):
    """Step 2: one feature that spends tokens, from a preset, on one model."""

    name = forms.CharField(max_length=100, label="Workload name", initial="Chat")
    preset = forms.ChoiceField(
        label="What kind of feature",
        choices=[(key, preset.label) for key, preset in WORKLOAD_PRESETS.items()],
        initial="chat",
        widget=forms.RadioSelect,
    )
    model = forms.ChoiceField(
        label="Model", help_text="Catalog prices; a mix of models can be set in the editor."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        models = guide_models()
        self.fields["model"].choices = [  # type: ignore[attr-defined]
            (key, f"{model.provider.name} {model.name or model.slug}") for key, model in models
        ]
        if models:
            self.fields["model"].initial = models[0][0]


class GuidedUsageForm(forms.Form):
    """Step 3: median and p90 requests per month for each tier x workload of the plan."""

    def __init__(self, *args: Any, tiers: list[Tier], workloads: list[Workload], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cells: list[tuple[Tier, Workload, str]] = []
        current = {
            (u.tier_id, u.workload_id): u
            for u in UsageDistribution.objects.filter(tier__in=tiers, segment__isnull=True)
        }
        for tier in tiers:
            for workload in workloads:
                prefix = f"usage_{tier.pk}_{workload.pk}"
                usage = current.get((tier.pk, workload.pk))
                lognormal = usage is not None and usage.kind == UsageDistribution.Kind.LOGNORMAL
                for stat, word in (("median", "median"), ("p90", "90th percentile")):
                    self.fields[f"{prefix}_{stat}"] = forms.FloatField(
                        min_value=0.001,
                        max_value=1e7,
                        label=f"{tier.name}: {workload.name}, requests per month ({word})",
                        initial=getattr(usage, stat) if lognormal else None,
                    )
                self.cells.append((tier, workload, prefix))

    def rows(self) -> list[tuple[Tier, list[tuple[Workload, forms.BoundField, forms.BoundField]]]]:
        by_tier: dict[int, list[tuple[Workload, forms.BoundField, forms.BoundField]]] = {}
        tiers: dict[int, Tier] = {}
        for tier, workload, prefix in self.cells:
            tiers[tier.pk] = tier
            by_tier.setdefault(tier.pk, []).append(
                (workload, self[f"{prefix}_median"], self[f"{prefix}_p90"])
            )
        return [(tiers[pk], cells) for pk, cells in by_tier.items()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for _, _, prefix in self.cells:
            median, p90 = data.get(f"{prefix}_median"), data.get(f"{prefix}_p90")
            if median is not None and p90 is not None and p90 < median:
                self.add_error(f"{prefix}_p90", "The 90th percentile cannot be below the median.")
        return data

    def usage(self) -> dict[tuple[int, int], tuple[float, float]]:
        return {
            (tier.pk, workload.pk): (
                self.cleaned_data[f"{prefix}_median"],
                self.cleaned_data[f"{prefix}_p90"],
            )
            for tier, workload, prefix in self.cells
        }

    def service_errors(self, error: ValidationError) -> ValidationError:
        """A service error keyed ``<tier> x <workload>.<field>`` keyed by that cell's field."""
        fields = {f"{tier.name} x {workload.name}": prefix for tier, workload, prefix in self.cells}
        renamed: dict[str, list[str]] = {}
        for key, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
            pair, _, stat = key.rpartition(".")
            field = f"{fields[pair]}_{stat}" if pair in fields and stat in ("median", "p90") else "__all__"
            renamed.setdefault(field, []).extend(messages)
        return ValidationError(renamed)


class GuidedRunForm(forms.Form):
    """Step 4: how many users to simulate and over how many months."""

    simulated_users = forms.IntegerField(
        min_value=1_000,
        max_value=1_000_000,
        initial=100_000,
        label="Simulated users",
        help_text="More users, smaller simulation error; 100,000 takes a few seconds.",
    )
    horizon_months = forms.IntegerField(min_value=1, max_value=60, initial=12, label="Horizon (months)")
