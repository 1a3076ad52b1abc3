"""Products and the base of their named parts (tiers, workloads)."""

from __future__ import annotations

from django.db import models

from planner.accounts.models import Organization
from planner.core.models import (
    PlannerModel,
    TimestampedModel,
    between_constraint,
    float_field,
    unique_constraint,
)


class Product(TimestampedModel):
    """An AI product an organisation sells; owns tiers, workloads and scenarios."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    default_correlation = float_field(
        "Usage correlation between workloads for pairs without their own value "
        "(heavy users tend to be heavy everywhere).",
        low=-1.0,
        high=1.0,
        default=0.8,
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            unique_constraint("product", ["organization", "name"], "name"),
            between_constraint("product", "default_correlation", -1.0, 1.0),
        ]

    def __str__(self) -> str:
        return self.name


class ProductPart(PlannerModel):
    """What tiers and workloads share as parts of a product: they are listed in ``position``
    order and a name is used once per product.

    Each declares its own ``product``, ``name`` and ``position`` fields: their reverse relations
    and help texts differ (the migrations record both), and declaring them here would move them
    ahead of ``product`` in the admin's forms.
    """

    class Meta:
        abstract = True
        ordering = ["product", "position", "id"]
        # "%(class)s" becomes the model's name: planner_tier_unique_name, planner_workload_unique_name.
        constraints = [unique_constraint("%(class)s", ["product", "name"], "name")]
