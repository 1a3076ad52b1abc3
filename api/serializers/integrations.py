"""Billing-vendor mappings (``/api/v1/billing-mappings/{vendor}/``): how each vendor's events
become usage records. The service (``planner.actuals.compat.mappings.billing_mapping_save``)
validates; these serializers describe the shapes for the schema and represent the mapping."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from planner.actuals.compat.mappings import TOKEN_KINDS
from planner.actuals.compat.vendors import Vendor


class BillingMappingSerializer(serializers.Serializer[Any]):
    """A vendor's mapping. Every field is optional in a PUT (omitted: the default) or a PATCH."""

    vendor = serializers.ChoiceField(choices=Vendor.choices, read_only=True)
    token_kinds = serializers.DictField(
        required=False,
        child=serializers.ChoiceField(choices=TOKEN_KINDS),
        help_text='Event type / code / meter name -> token field, or "multi" for events naming their '
        'kinds themselves; "*" matches any other name. Empty: the vendor\'s defaults.',
    )
    customer_field = serializers.CharField(
        required=False,
        max_length=100,
        allow_blank=True,
        help_text="The vendor's customer field, or a property naming the customer.",
    )
    tier_property = serializers.CharField(
        required=False,
        max_length=100,
        allow_blank=True,
        help_text="Property naming a live tier (name or id) for new customers.",
    )
    default_tier = serializers.IntegerField(
        required=False, allow_null=True, help_text="Live tier of a new customer whose events name none."
    )
    default_provider = serializers.CharField(
        required=False,
        max_length=100,
        allow_blank=True,
        help_text="Catalog provider of bare model names sold by several.",
    )
    model_property = serializers.CharField(
        required=False, max_length=100, help_text="Property naming the model."
    )
    credits_property = serializers.CharField(
        required=False,
        max_length=100,
        allow_blank=True,
        help_text="Property giving credits (empty: requests x credits per request).",
    )
    is_default = serializers.BooleanField(
        read_only=True, help_text="No mapping stored: the vendor's defaults."
    )
