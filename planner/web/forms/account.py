"""Web forms for accounts, members, API keys and actual-usage uploads (parsing only)."""

from __future__ import annotations

import zoneinfo

from django import forms

from planner.accounts.models import ApiKey, Membership

COMMON_CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "INR", "BRL", "SGD"]


class SignupForm(forms.Form):
    organization_name = forms.CharField(max_length=200, label="Company or product name")
    currency = forms.ChoiceField(choices=[(c, c) for c in COMMON_CURRENCIES], initial="USD")
    time_zone = forms.ChoiceField(
        choices=[(z, z) for z in sorted(zoneinfo.available_timezones())],
        initial="UTC",
        help_text="Billing months and alert windows follow it.",
    )
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))


class InviteForm(forms.Form):
    identifier = forms.CharField(
        max_length=254,
        label="Username or e-mail",
        help_text="An existing user is added; otherwise an account is created with a one-time password.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.EDITOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “billing”.")
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ApiKey.SCOPES], widget=forms.CheckboxSelectMultiple, initial=["read"]
    )
