"""Form fields people type rates and money into: a percent field that stores the fraction, and
number inputs adorned with "%" or the organisation's currency symbol.

Percent in, percent out: a :class:`PercentField` shows a stored fraction as the percent a person
reads (``0.6`` -> ``60``) and cleans what they type back to the fraction (``"33.3333"`` ->
``0.333333``) through :func:`planner.core.formatting.percent_to_fraction`, exactly (Decimal), so
nothing drifts on a round trip. Its bounds are in percent and its error says so ("must be
between 0 and 100%"). Storage, the REST API and the scenario document keep fractions.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.html import format_html
from django.utils.safestring import SafeString

from planner.core.formatting import currency_symbol, fraction_to_percent, percent_to_fraction


class AdornedNumberInput(forms.NumberInput):
    """A number input with a unit beside it: ``prefix`` before (a currency symbol), ``suffix``
    after ("%"). The adornment is visual only (``aria-hidden``): the label names the unit."""

    def __init__(self, attrs: dict[str, Any] | None = None, *, prefix: str = "", suffix: str = "") -> None:
        super().__init__(attrs)
        self.prefix = prefix
        self.suffix = suffix

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        if not (self.prefix or self.suffix):
            return html
        before = (
            format_html('<span class="adornment" aria-hidden="true">{}</span>', self.prefix)
            if self.prefix
            else ""
        )
        after = (
            format_html('<span class="adornment" aria-hidden="true">{}</span>', self.suffix)
            if self.suffix
            else ""
        )
        return format_html('<span class="adorned">{}{}{}</span>', before, html, after)


class PercentInput(AdornedNumberInput):
    """A number input adorned with "%"."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"step": "any", **(attrs or {})}, suffix="%")


class MoneyInput(AdornedNumberInput):
    """A number input adorned with a currency symbol; :func:`currency_adorn` sets the
    organisation's (``$`` until then)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"step": "any", **(attrs or {})}, prefix="$")

    def format_value(self, value: Any) -> str | None:
        """A stored amount with cents and no further trailing zeros (``Decimal("20.0000")`` ->
        ``20.00``, ``0.0015`` stays ``0.0015``): the column keeps four decimals, people read
        money in cents. Text (what was typed) is shown as typed."""
        if isinstance(value, bool) or not isinstance(value, (Decimal, float, int)):
            return super().format_value(value)
        number = Decimal(str(value)).normalize()
        exponent = number.as_tuple().exponent
        places = max(2, -exponent) if isinstance(exponent, int) else 2
        return f"{number:.{places}f}"


class PercentField(forms.DecimalField):
    """A rate typed in percent and cleaned to the stored fraction.

    ``min_percent``/``max_percent`` bound what may be typed (percent). ``coerce`` turns the exact
    Decimal fraction into the stored type: ``Decimal`` (the default) for a DecimalField, ``float``
    for a FloatField or a JSON document. Initial values (fractions, as stored) are shown in
    percent; what a person typed is shown back as typed.
    """

    widget = PercentInput

    def __init__(
        self,
        *,
        min_percent: Decimal | int = 0,
        max_percent: Decimal | int = 100,
        coerce: Callable[[Decimal], Any] = Decimal,
        **kwargs: Any,
    ) -> None:
        self.min_percent = Decimal(min_percent)
        self.max_percent = Decimal(max_percent)
        self.coerce = coerce
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("min", str(self.min_percent))
        self.widget.attrs.setdefault("max", str(self.max_percent))

    def clean(self, value: Any) -> Any:
        """What was typed, checked in percent, as the stored fraction (``None`` when empty)."""
        typed = super().clean(value)
        if typed is None:
            return None
        if not self.min_percent <= typed <= self.max_percent:
            raise ValidationError(
                "Enter a percentage: it must be between %(low)s and %(high)s%%.",
                code="percent_range",
                params={"low": _plain(self.min_percent), "high": _plain(self.max_percent)},
            )
        return self.coerce(percent_to_fraction(typed))  # type: ignore[arg-type]

    def prepare_value(self, value: Any) -> Any:
        """A stored fraction as the percent shown; text (what was typed) as it is."""
        if isinstance(value, bool) or not isinstance(value, (Decimal, float, int)):
            return value
        return fraction_to_percent(value)


class ModelPercentDefaults(forms.BaseForm):
    """A model form whose declared :class:`PercentField` s start, for a new object, from their
    model field's default (a ``ModelForm`` takes a new object's initial values from the form
    fields the model makes; a declared field has none, so "0 %" would show as an empty,
    required input)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        if instance is None or not instance._state.adding:
            return
        for name, field in self.fields.items():
            if not isinstance(field, PercentField) or field.initial is not None or name in self.initial:
                continue
            try:
                model_field = instance._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if model_field.has_default():
                field.initial = model_field.get_default()


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


def currency_adorn(form: forms.BaseForm, currency: str) -> None:
    """Adorn every :class:`MoneyInput` of ``form`` with ``currency``'s symbol (ISO 4217)."""
    symbol = currency_symbol(currency)
    for field in form.fields.values():
        if isinstance(field.widget, MoneyInput):
            field.widget.prefix = symbol
