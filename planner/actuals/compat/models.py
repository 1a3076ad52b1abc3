"""Per-organisation vendor mappings, rejected vendor events and Stripe v2 meter-event sessions."""

from __future__ import annotations

from django.db import models

from planner.accounts.models import ApiKey, Organization
from planner.actuals.compat.vendors import Vendor
from planner.core.models import PlannerModel, one_of_constraint, unique_constraint
from planner.products.models import Tier


class BillingMapping(PlannerModel):
    """How one vendor's events become usage records for an organisation.

    No row means the vendor's defaults (``planner.actuals.compat.mappings.default_mapping``),
    which make each vendor's documented LLM shapes work. ``token_kinds`` maps an event type /
    code / meter name to one of the five token fields, or to ``"multi"`` for events carrying
    several kinds as properties. Empty text fields mean the vendor's default.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="billing_mappings")
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    token_kinds = models.JSONField(default=dict, blank=True)
    customer_field = models.CharField(max_length=100, blank=True)
    tier_property = models.CharField(max_length=100, default="tier", blank=True)
    default_tier = models.ForeignKey(Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    default_provider = models.CharField(max_length=100, blank=True)
    model_property = models.CharField(max_length=100, default="model", blank=True)
    credits_property = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "vendor"]
        constraints = [
            unique_constraint("billingmapping", ["organization", "vendor"]),
            one_of_constraint("billingmapping", "vendor", list(Vendor.values)),
        ]

    def __str__(self) -> str:
        return f"{self.organization} {self.vendor} mapping"


class IngestionError(PlannerModel):
    """A vendor event accepted on the wire and then rejected (e.g. Stripe v2's asynchronous
    stream, Orb's ``validation_failed``): listed on the ingestion errors page and endpoint."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    received_at = models.DateTimeField()
    event_key = models.CharField(max_length=255, blank=True)
    customer = models.CharField(max_length=255, blank=True)
    field = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The event as received, trimmed.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-received_at"], name="planner_ingesterr_org_recv"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.event_key}: {self.reason}"


class MeterEventSession(PlannerModel):
    """A Stripe v2 meter-event session: a short-lived token (stored as its SHA-256) that
    authenticates ``meter_event_stream`` calls for the API key that created it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex.")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"meter event session of {self.api_key_id} until {self.expires_at}"
