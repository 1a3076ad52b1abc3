"""Customers' tier changes and usage distributions seeded from fitted actuals."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError

from planner.actuals.fitting import GammaPoissonFit
from planner.actuals.models import (
    Customer,
    CustomerTierPeriod,
)
from planner.products.models import Tier, UsageDistribution, Workload
from planner.products.services import usage_distribution_set

# --- Customers ----------------------------------------------------------------------------------


def customer_tier_change(*, customer: Customer, tier: Tier, effective_from: date) -> CustomerTierPeriod:
    """Put ``customer`` on ``tier`` from ``effective_from`` (a date in the organisation's time
    zone) until its next tier change; a change on the same date replaces that day's tier."""
    if tier.product.organization_id != customer.organization_id:
        raise ValidationError({"tier": "No such tier in the customer's organisation."})
    if not tier.is_live:
        raise ValidationError(
            {"tier": "This tier belongs to a scenario's plan; customers are on live tiers only."}
        )
    period, _ = CustomerTierPeriod.objects.update_or_create(
        customer=customer, effective_from=effective_from, defaults={"tier": tier}
    )
    return period


# --- Seeding a scenario from actuals --------------------------------------------------------------


def usage_distribution_from_fit(*, tier: Tier, workload: Workload, fit: GammaPoissonFit) -> UsageDistribution:
    """Set ``tier`` x ``workload``'s usage distribution to a fitted gamma intensity (mean, shape)."""
    if fit.mean <= 0:
        raise ValidationError(
            {"mean": "No requests were observed; a gamma distribution needs a mean above 0."}
        )
    return usage_distribution_set(tier=tier, workload=workload, kind="gamma", mean=fit.mean, shape=fit.shape)
