"""Web form of a billing vendor's mapping (parsing only; ``planner.actuals.compat.mappings``
validates)."""

from __future__ import annotations

from typing import Any

from django import forms

from planner.accounts.models import Organization
from planner.actuals.compat.mappings import TOKEN_KINDS, VendorMapping
from planner.products.selectors import live_tiers_for_organization
from planner.web.forms.actuals import LiveTierChoiceField


class BillingMappingForm(forms.Form):
    token_kinds = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label="Token kinds",
        help_text=f"One 'event name = kind' a line; kinds: {', '.join(TOKEN_KINDS)}; '*' matches any other "
        "name. Empty: the vendor's defaults.",
    )
    customer_field = forms.CharField(
        max_length=100, required=False, help_text="The vendor's customer field (default), or a property."
    )
    tier_property = forms.CharField(
        max_length=100, required=False, help_text="Property naming a new customer's live tier (name or id)."
    )
    default_tier = LiveTierChoiceField(
        required=False,
        empty_label="None: refuse new customers without a tier",
        help_text="Live tier of a new customer whose events name none.",
    )
    default_provider = forms.CharField(
        max_length=100,
        required=False,
        help_text="Provider of bare model names sold by several (e.g. openai).",
    )
    model_property = forms.CharField(max_length=100, help_text="Property naming the model.")
    credits_property = forms.CharField(
        max_length=100, required=False, help_text="Property giving credits (empty: one per request)."
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tier = self.fields["default_tier"]
        assert isinstance(tier, LiveTierChoiceField)
        tier.live_tiers_set(live_tiers_for_organization(organization=organization))

    @staticmethod
    def initial_for(mapping: VendorMapping) -> dict[str, Any]:
        return {
            "token_kinds": "\n".join(f"{name} = {kind}" for name, kind in mapping.token_kinds.items()),
            "customer_field": mapping.customer_field,
            "tier_property": mapping.tier_property,
            "default_tier": mapping.default_tier_id,
            "default_provider": mapping.default_provider,
            "model_property": mapping.model_property,
            "credits_property": mapping.credits_property,
        }

    def clean_token_kinds(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["token_kinds"].splitlines(), start=1):
            if not line.strip():
                continue
            name, separator, kind = line.replace(":", "=", 1).partition("=")
            if not separator or not name.strip():
                raise forms.ValidationError(f"Line {number}: write 'event name = kind'.")
            kinds[name.strip()] = kind.strip()
        return kinds

    def mapping_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        tier = data.pop("default_tier")
        return {**data, "default_tier": tier.pk if tier is not None else None}
