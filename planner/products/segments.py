"""Services for user segments of a tier (``planner.products.models.Segment``).

A segment is created with its share; its usage distributions are set per workload with
``usage_distribution_set(tier=, workload=, segment=, ...)``. Shares of a tier's segments are
checked when the plan is simulated (they must sum to 1), not on each edit, so a founder can
move shares between segments one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from planner.core.services import model_update
from planner.products.models import Segment, Tier, UsageDistribution
from planner.products.services import USAGE_DISTRIBUTION_FIELDS

#: A segment's editable fields (its tier is its parent and fixed).
SEGMENT_FIELDS = ("name", "share", "position")


def segment_create(*, tier: Tier, name: str, share: float, position: int | None = None) -> Segment:
    """Add a segment to ``tier`` (at the end unless ``position`` is given); field errors as
    ``ValidationError`` (a name used twice in the tier, a share outside (0, 1])."""
    if position is None:
        position = tier.segments.count()
    segment = Segment(tier=tier)
    model_update(
        instance=segment, fields=SEGMENT_FIELDS, data={"name": name, "share": share, "position": position}
    )
    return segment


def segment_update(*, segment: Segment, data: Mapping[str, Any]) -> Segment:
    """Change the fields in ``data`` (``SEGMENT_FIELDS``), validate, save."""
    model_update(instance=segment, fields=SEGMENT_FIELDS, data=data)
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Delete ``segment`` with its usage distributions."""
    segment.delete()


def segments_copy(*, pairs: Sequence[tuple[Tier, Tier]]) -> dict[int, Segment]:
    """Copy the segments of each source tier to its copy (``(source, copy)`` pairs), with their
    usage distributions. Returns the copies by the source segment's id."""
    copy_of_tier = {source.pk: copy for source, copy in pairs}
    sources = list(Segment.objects.filter(tier_id__in=copy_of_tier).order_by("tier_id", "position", "id"))
    with transaction.atomic():
        copies = Segment.objects.bulk_create(
            [
                Segment(tier=copy_of_tier[s.tier_id], **{name: getattr(s, name) for name in SEGMENT_FIELDS})
                for s in sources
            ]
        )
        copy_of = {source.pk: copy for source, copy in zip(sources, copies, strict=True)}
        usage = []
        for u in UsageDistribution.objects.filter(segment__in=sources).order_by("segment_id", "workload_id"):
            assert u.segment_id is not None
            copy = copy_of[u.segment_id]
            fields = {name: getattr(u, name) for name in USAGE_DISTRIBUTION_FIELDS}
            usage.append(UsageDistribution(tier=copy.tier, segment=copy, workload_id=u.workload_id, **fields))
        UsageDistribution.objects.bulk_create(usage)
    return copy_of
