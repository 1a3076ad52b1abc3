"""Using proposed segments: naming and shares (pure), and replacing a tier's segments with them,
each with the fit's gamma usage per workload, in one transaction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.segment_use import (
    HEAVY_USERS,
    LIGHT_USERS,
    proposed_segments_named,
    proposed_segments_use,
)
from planner.actuals.segments import LatentClassFit, SegmentClass, SegmentProposal
from planner.actuals.selectors import ProposedSegments, usage_segments_proposed
from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload
from planner.products.segments import segment_create
from planner.products.selectors import live_tiers
from planner.products.services import usage_distribution_set
from planner.simulation.models import Scenario
from tests.actuals.test_segments_fit import POWER_SHARE, two_segments, usage_records

MONTH = date(2025, 6, 1)
CUSTOMERS = 1_000
#: Standard error of the proposed minority share for this design (85/15, chat and agent): over
#: 200 seeds of 2,000 customers its error had a standard deviation of 1.3 points
#: (docs/ACTUALS.md, "Proposed segments"), which scales as 1 / sqrt(customers).
SHARE_SE = 0.013 * math.sqrt(2_000 / CUSTOMERS)


def mixture_ingest(
    *, organization: Organization, tier: Tier, workloads: Sequence[Workload], seed: int = 7
) -> npt.NDArray[np.int64]:
    """Ingest June 2025 usage of ``CUSTOMERS`` customers of ``tier`` drawn from the 85/15
    mixture of ``tests.actuals.test_segments_fit`` (its chat and agent columns, in the order of
    ``workloads``); returns the counts (customers x workloads)."""
    counts = two_segments(seed, CUSTOMERS)[:, : len(workloads)]
    records = usage_records(tier=tier, workloads=workloads, counts=counts)
    usage_records_ingest(organization=organization, records=records, now=datetime(2025, 7, 1, tzinfo=UTC))
    return counts


def _fit(classes: tuple[SegmentClass, ...]) -> LatentClassFit:
    return LatentClassFit(classes, 0.0, 1, 100, 0.0, 1, True)


def proposal_of(tier: Tier, workloads: Sequence[Workload], *classes: SegmentClass) -> ProposedSegments:
    """A hand-made proposal for ``tier`` (the fits' other figures do not matter here)."""
    return ProposedSegments(
        tier_id=tier.pk,
        tier_name=tier.name,
        workload_ids=tuple(w.pk for w in workloads),
        workload_names=tuple(w.name for w in workloads),
        proposal=SegmentProposal(single=_fit(classes[:1]), mixture=_fit(classes), bic_gain=42.0),
    )


@pytest.fixture
def pro(product: Product) -> Tier:
    return live_tiers(product).get(name="Pro")


@pytest.fixture
def workloads(product: Product) -> list[Workload]:
    return [product.workloads.get(name="Chat"), product.workloads.get(name="Agent")]


# --- Naming and shares (pure) ----------------------------------------------------------------------


def test_heavy_users_are_the_class_with_the_larger_sum_of_mean_requests(
    pro: Tier, workloads: list[Workload]
) -> None:
    majority = SegmentClass(0.8, (30.0, 1.0), (1.2, 0.8))
    # Fewer chat requests than the majority, but more in all.
    minority = SegmentClass(0.2, (20.0, 15.0), (1.5, 1.0))
    for order in ((majority, minority), (minority, majority)):
        light, heavy = proposed_segments_named(proposal_of(pro, workloads, *order))
        assert (light.name, heavy.name) == (LIGHT_USERS, HEAVY_USERS)
        assert (light.share, heavy.share) == pytest.approx((0.8, 0.2), rel=1e-15)
        assert [(u.workload_name, u.mean, u.shape) for u in heavy.usage] == [
            ("Chat", 20.0, 1.5),
            ("Agent", 15.0, 1.0),
        ]
        assert [u.workload_id for u in light.usage] == [w.pk for w in workloads]


def test_on_equal_sums_the_smaller_class_is_heavy(pro: Tier, workloads: list[Workload]) -> None:
    light, heavy = proposed_segments_named(
        proposal_of(
            pro, workloads, SegmentClass(0.3, (5.0, 5.0), (1, 1)), SegmentClass(0.7, (9.0, 1.0), (1, 1))
        )
    )
    assert (light.share, heavy.share) == pytest.approx((0.7, 0.3), rel=1e-15)


def test_shares_are_rescaled_to_sum_to_exactly_one(pro: Tier, workloads: list[Workload]) -> None:
    rng = np.random.default_rng(5)
    naive_misses = 0
    for a, b in rng.uniform(0.001, 1.0, size=(500, 2)):
        first, second = SegmentClass(float(a), (1.0, 1.0), (1, 1)), SegmentClass(float(b), (2.0, 2.0), (1, 1))
        light, heavy = proposed_segments_named(proposal_of(pro, workloads, first, second))
        assert light.share + heavy.share == 1.0
        assert light.share == pytest.approx(a / (a + b), rel=1e-15)
        naive_misses += a / (a + b) + b / (a + b) != 1.0
    assert naive_misses > 0  # the naive division would not do: the check above can fail


def test_a_proposal_without_two_classes_is_refused(pro: Tier, workloads: list[Workload]) -> None:
    with pytest.raises(ValueError, match="two classes; this one has 1"):
        proposed_segments_named(proposal_of(pro, workloads, SegmentClass(1.0, (1.0, 1.0), (1, 1))))


# --- Writing them into a plan --------------------------------------------------------------------


def test_the_proposal_from_usage_becomes_two_segments_with_the_fits_gamma_usage(
    organization: Organization,
    pro: Tier,
    workloads: list[Workload],
    priced_models: dict[str, Any],
) -> None:
    mixture_ingest(organization=organization, tier=pro, workloads=workloads)
    (proposed,) = usage_segments_proposed(organization=organization, period_range=(MONTH, MONTH))
    tier_usage = {(u.workload_id, u.kind, u.median) for u in pro.usage.filter(segment__isnull=True)}

    light, heavy = proposed_segments_use(tier=pro, proposal=proposed)

    assert list(pro.segments.order_by("position").values_list("name", "position")) == [
        (LIGHT_USERS, 0),
        (HEAVY_USERS, 1),
    ]
    assert light.share + heavy.share == 1.0
    assert heavy.share == pytest.approx(POWER_SHARE, abs=4 * SHARE_SE)
    classes = proposed.proposal.mixture.classes
    heavy_class = max(classes, key=lambda c: sum(c.means))
    light_class = min(classes, key=lambda c: sum(c.means))
    for segment, found in ((light, light_class), (heavy, heavy_class)):
        assert segment.share == pytest.approx(found.share / sum(c.share for c in classes), rel=1e-12)
        usage = {u.workload_id: u for u in UsageDistribution.objects.filter(segment=segment)}
        assert set(usage) == {w.pk for w in workloads}
        for column, workload in enumerate(workloads):
            stored = usage[workload.pk]
            assert stored.kind == "gamma" and stored.tier_id == pro.pk
            assert (stored.mean, stored.shape) == pytest.approx(
                (found.means[column], found.shapes[column]), rel=1e-12
            )
    # The power users are heavier in every workload; the tier's own usage is left as it was.
    assert all(h > lo for h, lo in zip(heavy_class.means, light_class.means, strict=True))
    assert {(u.workload_id, u.kind, u.median) for u in pro.usage.filter(segment__isnull=True)} == tier_usage


def test_using_them_again_replaces_the_old_segments_and_their_usage(
    pro: Tier, workloads: list[Workload]
) -> None:
    old = segment_create(tier=pro, name="Agentic", share=1.0)
    usage_distribution_set(tier=pro, workload=workloads[1], segment=old, kind="gamma", mean=9.0, shape=1.0)
    proposal = proposal_of(
        pro, workloads, SegmentClass(0.9, (10.0, 1.0), (1.0, 1.0)), SegmentClass(0.1, (50.0, 9.0), (2.0, 1.0))
    )
    proposed_segments_use(tier=pro, proposal=proposal)
    first = set(pro.segments.values_list("pk", flat=True))
    proposed_segments_use(tier=pro, proposal=proposal)

    assert not Segment.objects.filter(pk=old.pk).exists()
    assert not UsageDistribution.objects.filter(segment_id=old.pk).exists()
    assert sorted(pro.segments.values_list("name", flat=True)) == [HEAVY_USERS, LIGHT_USERS]
    assert not first & set(pro.segments.values_list("pk", flat=True))
    assert UsageDistribution.objects.filter(segment__tier=pro).count() == 2 * len(workloads)


def test_a_scenario_tier_standing_for_the_live_tier_gets_them_and_another_tier_does_not(
    pro: Tier, workloads: list[Workload], scenario: Scenario
) -> None:
    proposal = proposal_of(
        pro, workloads, SegmentClass(0.9, (10.0, 1.0), (1.0, 1.0)), SegmentClass(0.1, (50.0, 9.0), (2.0, 1.0))
    )
    stand_in = scenario.tiers.get(live_tier=pro)
    proposed_segments_use(tier=stand_in, proposal=proposal)
    assert stand_in.segments.count() == 2 and pro.segments.count() == 0

    free = scenario.tiers.get(name="Free")
    with pytest.raises(ValidationError) as refused:
        proposed_segments_use(tier=free, proposal=proposal)
    assert refused.value.message_dict == {
        "tier": ["These segments were proposed for “Pro”, not for this tier."]
    }
    assert free.segments.count() == 0


@pytest.mark.parametrize(
    ("heavy_means", "message"),
    [
        # The heavy class's last pair fails, after the light segment and its usage were written.
        ((80.0, 0.0), "Heavy users × Agent: mean: A gamma distribution needs a mean above 0."),
        ((2e9, 5.0), "Heavy users × Chat: mean: Ensure this value is less than or equal to 1000000000.0."),
    ],
)
def test_a_parameter_the_model_refuses_names_the_workload_and_writes_nothing(
    pro: Tier, workloads: list[Workload], heavy_means: tuple[float, float], message: str
) -> None:
    old = segment_create(tier=pro, name="Agentic", share=1.0)
    usage_distribution_set(tier=pro, workload=workloads[1], segment=old, kind="gamma", mean=9.0, shape=1.0)
    before = list(UsageDistribution.objects.order_by("pk").values())
    proposal = proposal_of(
        pro, workloads, SegmentClass(0.9, (10.0, 1.0), (1.0, 1.0)), SegmentClass(0.1, heavy_means, (2.0, 1.0))
    )

    with pytest.raises(ValidationError) as refused:
        proposed_segments_use(tier=pro, proposal=proposal)

    assert refused.value.message_dict == {"workload": [message]}
    assert list(pro.segments.values_list("pk", "name", "share")) == [(old.pk, "Agentic", 1.0)]
    assert list(UsageDistribution.objects.order_by("pk").values()) == before
