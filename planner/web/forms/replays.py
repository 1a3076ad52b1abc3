"""The form that starts a replay: which plan (a product's live plan or a scenario), which months
of usage, and at which prices (each record's own, a date's, or a price sheet's discounts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django import forms

from planner.prices.models import PriceSheet
from planner.products.models import Product
from planner.simulation.models import Scenario

LIVE, SCENARIO = "live", "scenario"


class ReplayForm(forms.Form):
    """``plan`` is ``live:<product id>`` or ``scenario:<scenario id>``; the months offered are
    those with usage; a price date and a price sheet exclude each other."""

    plan = forms.ChoiceField(label="Plan to replay the usage under")
    period_from = forms.ChoiceField(label="From")
    period_to = forms.ChoiceField(label="To")
    price_date = forms.DateField(
        required=False,
        label="Price every record at (optional)",
        help_text="Empty: each record at the catalog price of its own day.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    price_sheet = forms.ModelChoiceField(
        queryset=PriceSheet.objects.none(),
        required=False,
        label="Or apply a price sheet's discounts (optional)",
        empty_label="No sheet: catalog prices",
    )

    def __init__(
        self,
        *args: Any,
        products: Sequence[Product],
        scenarios: Sequence[Scenario],
        months: Sequence[date],
        sheets: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        plans: list[tuple[str, str]] = [
            (f"{LIVE}:{p.pk}", f"{p.name}: live plan (as billed)") for p in products
        ]
        plans += [(f"{SCENARIO}:{s.pk}", f"{s.product.name}: scenario {s.name}") for s in scenarios]
        self.fields["plan"].choices = plans  # type: ignore[attr-defined]
        month_choices = [(f"{m:%Y-%m}", f"{m:%B %Y}") for m in months]
        self.fields["period_from"].choices = month_choices  # type: ignore[attr-defined]
        self.fields["period_to"].choices = month_choices  # type: ignore[attr-defined]
        if months and not self.is_bound:
            self.initial.setdefault("period_from", f"{months[-1]:%Y-%m}")
            self.initial.setdefault("period_to", f"{months[0]:%Y-%m}")
        self.fields["price_sheet"].queryset = sheets  # type: ignore[attr-defined]
        self._products = {p.pk: p for p in products}
        self._scenarios = {s.pk: s for s in scenarios}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("price_date") and data.get("price_sheet"):
            self.add_error("price_sheet", "Give a price date or a price sheet, not both.")
        return data

    def target(self) -> dict[str, Any]:
        """``{"scenario": Scenario}`` or ``{"product": Product}`` of the chosen plan."""
        kind, _, pk = self.cleaned_data["plan"].partition(":")
        if kind == SCENARIO:
            return {"scenario": self._scenarios[int(pk)]}
        return {"product": self._products[int(pk)]}

    def months(self) -> tuple[date, date]:
        """The first days of the chosen months."""
        return tuple(  # type: ignore[return-value]
            date.fromisoformat(self.cleaned_data[name] + "-01") for name in ("period_from", "period_to")
        )
