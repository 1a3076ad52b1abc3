"""Web forms for the scenario editor. They parse input only; the planner services validate the
domain rules and their errors are put back on the field at fault (``form_errors_add``)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from planner.core.validators import LEVER_PLAN_FIELDS, LEVER_PLAN_LIMITS
from planner.products.models import Tier, UsageDistribution, Workload
from planner.products.services import TIER_FIELDS, USAGE_DISTRIBUTION_FIELDS, WORKLOAD_FIELDS
from planner.simulation.models import Scenario
from planner.simulation.overrides import OVERRIDE_FIELDS
from planner.simulation.scenarios import SCENARIO_FIELDS
from planner.web.forms.fields import (
    ModelPercentDefaults,
    MoneyInput,
    PercentField,
    PercentInput,
    currency_adorn,
)

MIX_ROWS = 4


class CurrencyForm(forms.BaseForm):
    """A form whose money inputs carry the organisation's currency symbol (``currency``, ISO
    4217; USD when not given)."""

    def __init__(self, *args: Any, currency: str = "USD", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency_adorn(self, currency)


class ScenarioForm(CurrencyForm, ModelPercentDefaults, forms.ModelForm):
    """The scenario's settings; the seed stays as drawn and levers have a form of their own.
    Rates are typed in percent and stored as fractions."""

    price_trend_yearly = PercentField(
        min_percent=-99,
        coerce=float,
        label="Token price trend per year (%)",
        help_text="−30 = 30% cheaper each year; 0 = flat.",
    )
    usage_growth_monthly = PercentField(
        min_percent=-50, coerce=float, label="Usage growth per month (%)", help_text="5 = +5% a month."
    )
    discount_rate_yearly = PercentField(coerce=float, label="Discount rate per year, NPV (%)")
    target_margin = PercentField(
        min_percent=-100, coerce=float, label="Target gross margin (%)", help_text="60 = 60%."
    )

    field_order = ["name", "horizon_months", "simulated_users", "price_date"]  # the price date up front

    class Meta:
        model = Scenario
        fields = [name for name in SCENARIO_FIELDS if name not in ("seed", "levers", "model_costs")]
        widgets = {"price_date": forms.DateInput(attrs={"type": "date"}), "fixed_costs_monthly": MoneyInput()}
        labels = {"horizon_months": "Horizon (months)", "fixed_costs_monthly": "Fixed costs per month"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fixed_costs_monthly"].required = False

    def clean_fixed_costs_monthly(self) -> Decimal:
        """Empty means no fixed costs."""
        value = self.cleaned_data.get("fixed_costs_monthly")
        return Decimal(0) if value is None else value

    def validate_unique(self) -> None:
        """The service validates (and reports) uniqueness."""

    def _post_clean(self) -> None:
        """Skip the model's full_clean: the service runs it and its errors come back per field."""


class ModelCostForm(CurrencyForm, forms.Form):
    """One model cost of a scenario (``planner.simulation.model_costs``)."""

    label = forms.CharField(max_length=100, help_text="E.g. 'Fine-tune v1', 'Retrain', 'Eval suite'.")
    month = forms.IntegerField(min_value=1, max_value=600, initial=1, help_text="1 = the first month.")
    amount = forms.FloatField(min_value=0, max_value=1e12, widget=MoneyInput())
    every_months = forms.IntegerField(
        min_value=1, max_value=600, required=False, label="Repeat every (months)", help_text="Empty: once."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Field ids of their own (``id_cost_*``): the editor's lever form has a label too."""
        kwargs.setdefault("auto_id", "id_cost_%s")
        super().__init__(*args, **kwargs)


class ProductScenarioForm(forms.Form):
    product = forms.CharField(max_length=200, label="Product name")
    scenario = forms.CharField(max_length=200, label="First scenario", initial="Baseline")


class TierForm(CurrencyForm, ModelPercentDefaults, forms.ModelForm):
    """A tier of a plan: money in the organisation's currency, rates in percent (stored as
    fractions; the payment fee exact to 4 decimals of a percent, as its column keeps 6 of a
    fraction)."""

    payment_fee_pct = PercentField(
        decimal_places=4, label="Payment fee (% of revenue)", help_text="2.9 = 2.9% of revenue."
    )
    churn_monthly = PercentField(
        coerce=float, label="Monthly churn (%)", help_text="Share of subscribers leaving each month."
    )
    new_subscribers_growth_monthly = PercentField(
        min_percent=-99,
        max_percent=1000,
        coerce=float,
        label="Growth of new subscribers per month (%)",
        help_text="5 = 5% more new subscribers each month.",
    )

    class Meta:
        model = Tier
        fields = [name for name in TIER_FIELDS if name != "position"]
        widgets = {
            name: MoneyInput()
            for name in (
                "monthly_fee",
                "seat_fee",
                "annual_price",
                "overage_price_per_credit",
                "payment_fee_fixed",
                "cac",
            )
        }

    def validate_unique(self) -> None:
        """The service validates (and reports) uniqueness."""

    def _post_clean(self) -> None:
        """Skip the model's full_clean: the service runs it and its errors come back per field."""


class ModelMixFields(forms.BaseForm):
    """``MIX_ROWS`` rows of model-mix fields (model key, share, price variant, uses reasoning)
    added to a form, and the filled rows read back (the workload form and a scenario's
    workload override share them). ``mix_required``: an empty mix is an error."""

    mix_required = True

    def add_mix_fields(self) -> None:
        for i in range(MIX_ROWS):
            self.fields[f"mix_{i}_model"] = forms.CharField(
                required=False,
                max_length=300,
                label=f"Model {i + 1}",
                widget=forms.TextInput(
                    attrs={
                        "list": "catalog-models",
                        "placeholder": "provider/model",
                        "data-mix": "model",
                        "autocomplete": "off",
                    }
                ),
            )
            self.fields[f"mix_{i}_share"] = PercentField(
                required=False,
                coerce=float,
                label=f"Share {i + 1} (%)",
                widget=PercentInput(attrs={"data-mix": "share"}),
            )
            self.fields[f"mix_{i}_variant"] = forms.CharField(
                required=False,
                max_length=100,
                label=f"Price variant {i + 1}",
                widget=forms.TextInput(attrs={"placeholder": "standard", "data-mix": "variant"}),
            )
            self.fields[f"mix_{i}_reasoning"] = forms.BooleanField(
                required=False,
                label=f"Uses reasoning {i + 1}",
                widget=forms.CheckboxInput(attrs={"data-mix": "reasoning"}),
            )

    def mix_rows(self) -> list[tuple[str, float, str, bool]]:
        """The filled model-mix rows: (key, share, variant, uses_reasoning)."""
        rows = []
        for i in range(MIX_ROWS):
            key = (self.cleaned_data.get(f"mix_{i}_model") or "").strip()
            if not key:
                continue
            share = self.cleaned_data.get(f"mix_{i}_share")
            if share is None:
                self.add_error(f"mix_{i}_share", "Give this model's share of requests (0 to 100%).")
                continue
            rows.append(
                (
                    key,
                    float(share),
                    self.cleaned_data.get(f"mix_{i}_variant") or "",
                    bool(self.cleaned_data.get(f"mix_{i}_reasoning")),
                )
            )
        if not rows and not self.errors and self.mix_required:
            self.add_error("mix_0_model", "Pick at least one model.")
        return rows

    def mix_field_groups(self) -> list[list[forms.BoundField]]:
        return [
            [self[f"mix_{i}_{part}"] for part in ("model", "share", "variant", "reasoning")]
            for i in range(MIX_ROWS)
        ]


class WorkloadForm(ModelMixFields, ModelPercentDefaults, forms.ModelForm):
    """A workload: its token profile, cache and batch rates (in percent, stored as fractions)
    and model mix."""

    prompt_cache_share = PercentField(coerce=float, label="Prompt cache share (% of input read)")
    prompt_cache_write_share = PercentField(coerce=float, label="Prompt cache write share (% of input)")
    response_cache_hit_rate = PercentField(coerce=float, label="Response cache hit rate (%)")
    batch_share = PercentField(coerce=float, label="Batch share (% of requests)")
    distillation = PercentField(coerce=float, label="Distillation (% of input removed)")

    class Meta:
        model = Workload
        fields = [name for name in WORKLOAD_FIELDS if name != "position"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_mix_fields()

    def validate_unique(self) -> None:
        """The service validates (and reports) uniqueness."""

    def _post_clean(self) -> None:
        """Skip the model's full_clean: the service runs it and its errors come back per field."""

    def workload_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.Meta.fields]


class WorkloadOverrideForm(ModelMixFields, forms.Form):
    """A scenario's own token profile, calls per request and model mix of a product workload:
    empty fields (and no model) follow the product."""

    mix_required = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in OVERRIDE_FIELDS:
            label = name.replace("_", " ").replace("calls per request", "calls per request,").capitalize()
            self.fields[name] = forms.FloatField(required=False, min_value=0, label=label)
        self.add_mix_fields()

    def override_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in OVERRIDE_FIELDS]


def _values_text(values: list[float]) -> str:
    """An empirical distribution's observed values as the form shows them."""
    return ", ".join(f"{v:g}" for v in values)


class UsageForm(forms.ModelForm):
    values_text = forms.CharField(
        required=False,
        label="Observed values (empirical)",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "12, 40, 3, 150, ..."}),
        help_text="Requests per user per month, separated by commas or spaces.",
    )

    class Meta:
        model = UsageDistribution
        fields = [name for name in USAGE_DISTRIBUTION_FIELDS if name != "values"]  # values_text

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.values and not self.is_bound:
            self.initial["values_text"] = _values_text(self.instance.values)

    @classmethod
    def initial_from(cls, distribution: UsageDistribution) -> dict[str, Any]:
        """The form's values for a copy of ``distribution`` (a segment's form starts from the
        tier's usage, which it uses until it has its own)."""
        initial = {name: getattr(distribution, name) for name in cls.Meta.fields}
        initial["values_text"] = _values_text(distribution.values or [])
        return initial

    def clean_values_text(self) -> list[float]:
        text = self.cleaned_data.get("values_text") or ""
        try:
            return [float(part) for part in text.replace(",", " ").split()]
        except ValueError as exc:
            raise ValidationError("Enter numbers separated by commas or spaces.") from exc

    def validate_unique(self) -> None:
        """The service validates (and reports) uniqueness."""

    def _post_clean(self) -> None:
        """Skip the model's full_clean: the service runs it and its errors come back per field."""

    def parameters(self) -> dict[str, Any]:
        data = {name: self.cleaned_data.get(name) for name in self.Meta.fields}
        data["values"] = self.cleaned_data.get("values_text") or []
        return data


def _plan_field(name: str, label: str, help_text: str = "", *, money: bool = False) -> forms.FloatField:
    """An optional plan field of a lever, within ``LEVER_PLAN_LIMITS`` (``money``: adorned with
    the currency)."""
    return forms.FloatField(
        required=False,
        min_value=0,
        max_value=LEVER_PLAN_LIMITS[name],
        label=label,
        help_text=help_text,
        widget=MoneyInput() if money else None,
    )


class LeverForm(CurrencyForm, forms.Form):
    """A lever: cost shares in percent (cleaned to the fractions a lever stores), plan changes
    in the organisation's currency."""

    label = forms.CharField(
        max_length=100, help_text="How the lever reads in results, e.g. 'Route 50% to mini'."
    )
    workloads = forms.ModelMultipleChoiceField(
        queryset=Workload.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every workload.",
    )
    routing_model = forms.CharField(
        required=False,
        max_length=300,
        label="Route to model",
        widget=forms.TextInput(
            attrs={"list": "catalog-models", "placeholder": "provider/model", "autocomplete": "off"}
        ),
    )
    routing_share = PercentField(required=False, coerce=float, label="Share routed (%)")
    response_cache_hit_rate = PercentField(required=False, coerce=float, label="Response cache hit rate (%)")
    prompt_cache_share = PercentField(required=False, coerce=float, label="Prompt cache share (%)")
    distillation = PercentField(required=False, coerce=float, label="Distillation, input removed (%)")
    batch_share = PercentField(required=False, coerce=float, label="Batch share (%)")
    tiers = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tiers whose plan the price, quota and cap fields change. None ticked: every tier.",
    )
    fee_scale = _plan_field("fee_scale", "Fee multiplier", "Scales what the tier bills: 1.2 = +20 %.")
    fee = _plan_field(
        "fee",
        "New fee",
        "Sets the field each tier bills by: its monthly fee, seat fee or annual price.",
        money=True,
    )
    included_credits = _plan_field("included_credits", "Included credits")
    overage_price = _plan_field("overage_price", "Overage price per credit", money=True)
    hard_cap = _plan_field("hard_cap", "Hard cap (credits)")

    FRACTIONS = (
        "routing_share",
        "response_cache_hit_rate",
        "prompt_cache_share",
        "distillation",
        "batch_share",
    )
    PLAN = LEVER_PLAN_FIELDS

    def __init__(self, *args: Any, workloads: Any = None, tiers: Iterable[Tier] = (), **kwargs: Any) -> None:
        """``workloads``: the product's (a queryset); ``tiers``: the scenario's plan (already
        loaded, so the form adds no query)."""
        super().__init__(*args, **kwargs)
        if workloads is not None:
            field = self.fields["workloads"]
            assert isinstance(field, forms.ModelMultipleChoiceField)
            field.queryset = workloads
        tier_field = self.fields["tiers"]
        assert isinstance(tier_field, forms.TypedMultipleChoiceField)
        tier_field.choices = [(tier.pk, tier.name) for tier in tiers]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("fee") is not None and data.get("fee_scale") is not None:
            self.add_error("fee_scale", "Set a new fee or a multiplier, not both.")
        return data


class CorrelationForm(forms.Form):
    default_correlation = forms.FloatField(min_value=-1, max_value=1, label="Default correlation")

    def __init__(
        self, *args: Any, pairs: list[tuple[Workload, Workload, float | None]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pairs = pairs
        for a, b, rho in pairs:
            self.fields[f"rho_{a.pk}_{b.pk}"] = forms.FloatField(
                required=False,
                min_value=-1,
                max_value=1,
                label=f"{a.name} ~ {b.name}",
                initial=rho,
                widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "default"}),
            )

    def pair_fields(self) -> list[forms.BoundField]:
        return [self[f"rho_{a.pk}_{b.pk}"] for a, b, _ in self.pairs]
