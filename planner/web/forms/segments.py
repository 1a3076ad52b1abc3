"""Web forms for the segments of a plan's tiers (``planner.products.segments``). They parse
input only; the services validate (a name used twice in a tier, a share outside (0, 1]);
the form takes the share in percent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from planner.products.models import Segment, Tier
from planner.web.forms.fields import ModelPercentDefaults, PercentField


class SegmentForm(ModelPercentDefaults, forms.ModelForm):
    """A segment's name and share; on a new segment, also its tier (one of the plan's)."""

    tier = forms.TypedChoiceField(coerce=int, label="Tier", required=True)
    share = PercentField(
        coerce=float,
        label="Share of the tier's users (%)",
        help_text="15 = 15% of the tier's users. A tier's segment shares must add up to 100% to run.",
    )

    class Meta:
        model = Segment
        fields = ["name", "share"]

    def __init__(self, *args: Any, tiers: Iterable[Tier] = (), **kwargs: Any) -> None:
        """``tiers``: the plan's tiers (already loaded); without them (editing a segment) the
        tier field is dropped: a segment's tier is fixed. A new segment's fields get ids of
        their own (``id_segment_*``): the editor holds other forms with a name field."""
        choices = [(tier.pk, tier.name) for tier in tiers]
        if choices:
            kwargs.setdefault("auto_id", "id_segment_%s")
        super().__init__(*args, **kwargs)
        if choices:
            field = self.fields["tier"]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = choices
        else:
            del self.fields["tier"]

    def validate_unique(self) -> None:
        """The service validates (and reports) uniqueness."""

    def _post_clean(self) -> None:
        """Skip the model's full_clean: the service runs it and its errors come back per field."""
