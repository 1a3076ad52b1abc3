"""Web forms of the actual-usage pages (parsing only): the usage CSV upload, the customer list's
search and cursor, and the picker of a live tier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import QuerySet

from planner.actuals.customer_list import SEARCH_MAX_LENGTH, Cursor, InvalidCursor, cursor_decode
from planner.products.models import Product, Tier

ANY_PRODUCT = "All products: tiers and workloads by id, or by a name only one product uses"


class UsageUploadForm(forms.Form):
    """A usage CSV and the product whose live tiers and workloads its names and ids mean
    (``planner.actuals.usage_csv``). With one product it is chosen and the only choice; with
    several, "all products" (no product) stays possible for files that name tiers by id."""

    product = forms.ModelChoiceField(
        queryset=Product.objects.none(),
        required=False,
        label="Product",
        help_text="The tier and workload columns name this product's live tiers and workloads (the "
        "table below has their ids).",
    )
    file = forms.FileField(
        label="Usage CSV",
        help_text="Columns: event_id, customer, tier (live tier name or id), timestamp (ISO 8601 with "
        "offset), model (provider/model), workload (name or id), input_tokens, output_tokens, "
        "cached_tokens, cache_write_tokens, reasoning_tokens, requests, credits, variant. Empty cells "
        "use the defaults.",
    )

    def __init__(self, *args: Any, products: Sequence[Product], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["product"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Product.objects.filter(pk__in=[p.pk for p in products])
        if len(products) == 1:
            # Chosen and the only choice; a post without it looks among the organisation's
            # tiers, which are that product's.
            field.empty_label = None
            self.initial.setdefault("product", products[0].pk)
        else:
            field.empty_label = ANY_PRODUCT
        # The choices from ``products`` as given (already read): rendering queries nothing.
        empty = [("", field.empty_label)] if field.empty_label is not None else []
        field.choices = [*empty, *((p.pk, p.name) for p in products)]


class LiveTierChoiceField(forms.ModelChoiceField):
    """A picker of live tiers only (the tiers real customers are on; never a scenario's), grouped
    by product when the organisation has several."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", Tier.objects.none())
        super().__init__(*args, **kwargs)

    def live_tiers_set(self, tiers: QuerySet[Tier]) -> None:
        """Offer ``tiers`` (filtered to live ones here too), grouped by product if several (one
        query: the choices are built here, so rendering does not query again)."""
        live = tiers.filter(scenario__isnull=True).select_related("product")
        self.queryset = live.order_by("product__name", "product_id", "position", "id")
        groups: dict[str, list[tuple[int, str]]] = {}
        for tier in self.queryset:
            groups.setdefault(tier.product.name, []).append((tier.pk, tier.name))
        empty = [("", self.empty_label)] if self.empty_label is not None else []
        if len(groups) > 1:
            self.choices = [*empty, *groups.items()]
        else:
            self.choices = [*empty, *(option for options in groups.values() for option in options)]

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class CustomerSearchForm(forms.Form):
    """The customer list's query string: ``q`` (a part of the external id) and ``cursor`` (a
    page link's position). Each field that does not clean is left out: the page shows its error
    and the list without it (all customers, or the first page)."""

    q = forms.CharField(
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        label="Customer id contains",
        error_messages={
            "max_length": f"Search for at most {SEARCH_MAX_LENGTH} characters (this has %(show_value)d): "
            "showing every customer."
        },
    )
    cursor = forms.CharField(required=False, strip=False)

    def clean_cursor(self) -> Cursor | None:
        text = self.cleaned_data["cursor"]
        if not text:
            return None
        try:
            return cursor_decode(text)
        except InvalidCursor as error:
            raise forms.ValidationError(f"{error} Showing the first page.") from None
