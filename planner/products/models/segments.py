"""User segments: named shares of a tier's users with usage of their own."""

from __future__ import annotations

from collections.abc import Collection

from django.core.exceptions import ValidationError
from django.db import models

from planner.core.models import PlannerModel, between_constraint, float_field, unique_constraint
from planner.products.models.tiers import Tier


class Segment(PlannerModel):
    """A named share of a tier's users (e.g. 85% "chat", 15% "agentic power users").

    A tier with segments is a mixture: each user belongs to one segment with probability its
    ``share`` and draws usage from that segment's distributions (``UsageDistribution.segment``);
    a workload the segment has no distribution for uses the tier's own (``segment`` null). A
    tier's segment shares must sum to 1 before it can be simulated; a tier without segments is
    one group using the tier's distributions. Segments belong to one plan, as their tier does.
    """

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=100)
    share = float_field("Share of the tier's users in this segment (0..1).", low=0.0, high=1.0)
    position = models.PositiveSmallIntegerField(default=0, help_text="Display order within the tier.")

    class Meta:
        ordering = ["tier", "position", "id"]
        constraints = [
            unique_constraint("segment", ["tier", "name"], "name"),
            between_constraint("segment", "share", 0.0, 1.0, low_exclusive=True),
        ]

    def __str__(self) -> str:
        return f"{self.tier} / {self.name}"

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """One name per tier, reported on ``name`` (Django's message for a two-field unique
        rule names no field)."""
        if self.tier_id is None or (exclude and "name" in exclude):
            return
        if Segment.objects.exclude(pk=self.pk).filter(tier_id=self.tier_id, name=self.name).exists():
            raise ValidationError(
                {
                    "name": ValidationError(
                        f"A segment named {self.name!r} already exists in this tier.", code="unique"
                    )
                }
            )
        # The share's range is a CheckConstraint, left to the database (``PlannerModel``).


#: Shares of a tier's segments must sum to 1 within this tolerance.
SEGMENT_SHARE_TOLERANCE = 1e-6


def segment_shares_problem(shares: list[float]) -> str | None:
    """Why these segment shares cannot be simulated (``None``: they sum to 1)."""
    total = sum(shares)
    if shares and abs(total - 1.0) > SEGMENT_SHARE_TOLERANCE:
        return f"segment shares sum to {total:.4g}, not 1"
    return None
