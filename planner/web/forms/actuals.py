"""Web forms of the actual-usage pages (parsing only): the customer list's search and cursor."""

from __future__ import annotations

from django import forms

from planner.actuals.customer_list import SEARCH_MAX_LENGTH, Cursor, InvalidCursor, cursor_decode


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
