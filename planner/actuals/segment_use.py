"""Turning the two segments proposed from actual usage into a plan's segments.

``proposed_segments_named`` (pure) names the two latent classes of a proposal and rescales their
shares; ``proposed_segments_use`` replaces a tier's segments with them, each with a gamma usage
distribution per workload (the class's mean and shape). The web page and the API show what
``proposed_segments_named`` returns, so what a founder sees is what is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.actuals.fitting import MAX_SHAPE
from planner.actuals.segments import SegmentClass
from planner.actuals.selectors import ProposedSegments
from planner.products.models import Segment, Tier, Workload
from planner.products.segments import segment_create
from planner.products.services import usage_distribution_set

LIGHT_USERS = "Light users"
HEAVY_USERS = "Heavy users"


@dataclass(frozen=True)
class ProposedUsage:
    """A proposed segment's gamma intensity of monthly requests for one workload."""

    workload_id: int
    workload_name: str
    mean: float
    shape: float

    @property
    def poisson_limit(self) -> bool:
        """Counts no more spread than Poisson noise: the fit's shape sits at its upper bound
        (the rule of ``planner.actuals.fitting.gamma_poisson_fit``)."""
        return self.shape >= MAX_SHAPE * 0.999


@dataclass(frozen=True)
class ProposedSegment:
    """A named proposed segment: its share of the tier's users and its usage per workload."""

    name: str
    share: float
    usage: tuple[ProposedUsage, ...]


def proposed_segments_named(proposed: ProposedSegments) -> tuple[ProposedSegment, ProposedSegment]:
    """The proposal's two classes as (light, heavy) segments, in that order (their positions).

    "Heavy users" is the class with the larger sum of mean requests over the workloads (on a
    tie, the smaller class). Shares are the class shares divided by their sum, written so that
    they add up to exactly 1.0 in floating point: the larger share is computed, the other is
    ``1 - larger``, which is exact for a larger share in [0.5, 1] (Sterbenz). Raises ValueError
    unless the proposal has exactly two classes.
    """
    classes = proposed.proposal.mixture.classes
    if len(classes) != 2:
        raise ValueError(f"A proposal has two classes; this one has {len(classes)}.")
    big, small = sorted(classes, key=lambda c: c.share, reverse=True)
    larger = big.share / (big.share + small.share)
    # Stable sort: on a tie of the sums the larger class stays first, i.e. light.
    (light, light_share), (heavy, heavy_share) = sorted(
        [(big, larger), (small, 1.0 - larger)], key=lambda pair: sum(pair[0].means)
    )

    def segment(name: str, found: SegmentClass, share: float) -> ProposedSegment:
        usage = tuple(
            ProposedUsage(workload_id, workload_name, mean, shape)
            for workload_id, workload_name, mean, shape in zip(
                proposed.workload_ids, proposed.workload_names, found.means, found.shapes, strict=True
            )
        )
        return ProposedSegment(name=name, share=share, usage=usage)

    return segment(LIGHT_USERS, light, light_share), segment(HEAVY_USERS, heavy, heavy_share)


def proposed_segments_use(*, tier: Tier, proposal: ProposedSegments) -> list[Segment]:
    """Replace ``tier``'s segments with the two of ``proposal`` and return them (light, heavy).

    ``tier`` is the proposal's live tier or a scenario's tier standing for it; anything else is
    refused. In one transaction: the tier's segments (and their usage) are deleted, "Light
    users" and "Heavy users" are created with the shares of ``proposed_segments_named`` (summing
    to exactly 1), and each gets a gamma usage distribution per workload of the proposal with
    the class's mean and shape. The tier's own distributions (no segment) are left as they are.
    Nothing is clamped: a parameter the model refuses (a class that never used a workload has a
    mean of 0, which no gamma has) raises ``ValidationError`` naming the segment and the
    workload, and nothing is written.
    """
    if proposal.tier_id not in (tier.pk, tier.live_tier_id):
        raise ValidationError(
            {"tier": f"These segments were proposed for “{proposal.tier_name}”, not for this tier."}
        )
    named = proposed_segments_named(proposal)
    workloads = Workload.objects.filter(product_id=tier.product_id).in_bulk(
        [u.workload_id for u in named[0].usage]
    )
    gone = [u.workload_name for u in named[0].usage if u.workload_id not in workloads]
    if gone:
        raise ValidationError({"workload": f"No longer a workload of this product: {', '.join(gone)}."})
    with transaction.atomic():
        tier.segments.all().delete()
        segments = []
        for position, proposed in enumerate(named):
            segment = segment_create(tier=tier, name=proposed.name, share=proposed.share, position=position)
            for usage in proposed.usage:
                try:
                    usage_distribution_set(
                        tier=tier,
                        workload=workloads[usage.workload_id],
                        segment=segment,
                        kind="gamma",
                        mean=usage.mean,
                        shape=usage.shape,
                    )
                except ValidationError as error:
                    raise ValidationError(
                        {"workload": f"{proposed.name} × {usage.workload_name}: {_reasons(error)}"}
                    ) from error
            segments.append(segment)
    return segments


def _reasons(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return " ".join(f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items())
    return " ".join(error.messages)
