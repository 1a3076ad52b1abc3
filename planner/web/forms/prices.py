"""Web forms for the price pages. They parse input only; the services validate and write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet

from planner.accounts.models import Organization
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from planner.prices.self_hosted import DEPLOYMENT_FIELDS
from planner.prices.sheets import ENTRY_COLUMNS, SHEET_FIELDS
from planner.products.models import Workload
from planner.web.forms.fields import ModelPercentDefaults, PercentField
from pricing.selectors import CATALOG_SORTS


class CatalogSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Provider or model", max_length=200)
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("relevance", "Relevance"),
            ("input", "Input price, cheapest first"),
            ("-input", "Input price, dearest first"),
            ("output", "Output price, cheapest first"),
            ("-output", "Output price, dearest first"),
        ],
    )

    def sort_value(self) -> str:
        sort = self.cleaned_data.get("sort") or "relevance"
        return sort if sort in CATALOG_SORTS else "relevance"


class _OrganizationForm(forms.ModelForm):
    """A model form whose organisation is chosen among the ones the user may edit (creation only)."""

    def __init__(
        self, *args: Any, organizations: QuerySet[Organization] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if organizations is None:
            del self.fields["organization"]
        else:
            field = self.fields["organization"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = organizations
            field.empty_label = None


class PriceSheetForm(_OrganizationForm):
    class Meta:
        model = PriceSheet
        fields = ["organization", *SHEET_FIELDS]
        widgets = {
            "effective_from": forms.DateInput(attrs={"type": "date"}),
            "effective_to": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


class SelfHostedForm(ModelPercentDefaults, _OrganizationForm):
    """A self-hosted deployment; its utilisation is typed in percent (stored as a fraction)."""

    target_utilization = PercentField(
        min_percent=Decimal("0.01"),
        coerce=float,
        label="Target utilisation (%)",
        help_text="Share of paid GPU hours that serve traffic: 60 = 60%.",
    )

    class Meta:
        model = SelfHostedDeployment
        fields = ["organization", *DEPLOYMENT_FIELDS]


class EntryForm(forms.Form):
    """One sheet entry as text cells, exactly the columns of a CSV line."""

    kind = forms.ChoiceField(choices=PriceSheetEntry.Kind.choices)
    provider = forms.CharField(required=False, help_text="Catalog provider slug, e.g. openai (discount).")
    model = forms.CharField(
        required=False, help_text="Catalog model slug; empty = every model of the provider."
    )
    discount = PercentField(
        required=False,
        decimal_places=6,
        label="Discount (% off)",
        help_text="20 = 20% off every catalog price of the provider or model.",
    )
    slug = forms.CharField(required=False, help_text="Private model id.")
    name = forms.CharField(required=False)
    input_mtok = forms.CharField(required=False, label="Input, $ per 1M tokens")
    output_mtok = forms.CharField(required=False, label="Output, $ per 1M tokens")
    cache_read_mtok = forms.CharField(required=False, label="Cache read, $ per 1M tokens")
    cache_write_mtok = forms.CharField(required=False, label="Cache write, $ per 1M tokens")
    reasoning_mtok = forms.CharField(required=False, label="Reasoning, $ per 1M tokens")

    def row(self) -> dict[str, str]:
        """The entry as the text cells of a CSV line (the discount as the file's fraction)."""
        cells = {column: self.cleaned_data.get(column) for column in ENTRY_COLUMNS}
        return {column: "" if value is None else str(value) for column, value in cells.items()}


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(
        choices=[("auto", "From the file name"), ("csv", "CSV"), ("json", "JSON")], initial="auto"
    )

    def format_value(self) -> str:
        chosen = self.cleaned_data["format"]
        if chosen != "auto":
            return str(chosen)
        return "json" if self.cleaned_data["file"].name.lower().endswith(".json") else "csv"


class BreakEvenForm(forms.Form):
    model = forms.CharField(label="API model (provider/model)", help_text="e.g. openai/gpt-4o")
    workload = forms.ModelChoiceField(
        queryset=Workload.objects.none(),
        required=False,
        help_text="Take the token mix from a workload's medians (else the token counts given here).",
    )
    input_tokens = forms.FloatField(min_value=0, initial=3000, label="Input tokens per request")
    output_tokens = forms.FloatField(min_value=0, initial=1000, label="Output tokens per request")

    def __init__(self, *args: Any, workloads: QuerySet[Workload], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["workload"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = workloads

    def token_mix(self) -> tuple[float, float]:
        workload: Workload | None = self.cleaned_data.get("workload")
        if workload is None:
            return float(self.cleaned_data["input_tokens"]), float(self.cleaned_data["output_tokens"])
        reasoning = workload.reasoning_tokens_median or 0.0
        return float(workload.input_tokens_median), float(workload.output_tokens_median + reasoning)
