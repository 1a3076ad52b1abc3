"""Segments proposed from a joint latent-class fit (issue #13): the shares of an 85/15 mixture are
recovered within 3 percentage points, single-segment data propose no mixture in at least 95 of
100 replicates, the one-class fit is the per-workload gamma-Poisson fit, and the tier report
reads its observations from usage records."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from planner.accounts.models import Organization
from planner.actuals.fitting import MAX_SHAPE, gamma_poisson_fit
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.segments import latent_class_fit, segments_proposed
from planner.actuals.selectors import usage_segments_proposed
from planner.products.models import Product, Tier, Workload
from planner.products.selectors import live_tiers
from pricing.models import AIModel

CUSTOMERS = 2_000
# (mean, shape) of monthly requests for chat, agent and search. Chat-heavy majority (85%) and
# agentic power users (15%): the power class's means are 5x, 10x and 7x larger, agent-heavier.
LIGHT = ((25.0, 1.2), (2.0, 0.8), (8.0, 1.5))
POWER = ((125.0, 1.5), (20.0, 1.0), (56.0, 2.0))
POWER_SHARE = 0.15


def gamma_poisson(
    rng: np.random.Generator,
    mean: npt.NDArray[np.float64] | float,
    shape: npt.NDArray[np.float64] | float,
    size: int,
) -> npt.NDArray[np.int64]:
    return rng.poisson(rng.gamma(shape, np.divide(mean, shape), size=size))


def usage_records(tier: Tier, workloads: Sequence[Workload], counts: Any) -> list[dict[str, Any]]:
    """June 2025 usage records of ``tier``'s customers (``counts``: customers x workloads; no
    record for 0 requests of a workload that month)."""
    return [
        {
            "event_id": f"{tier.pk}-{customer}-{workload.pk}",
            "customer": f"{tier.name}-{customer}",
            "tier": tier.pk,
            "timestamp": "2025-06-10T00:00:00Z",
            "model": "openai/gpt-4o",
            "workload": workload.pk,
            "requests": int(requests),
            "input_tokens": 1_000,
            "output_tokens": 100,
        }
        for customer, row in enumerate(counts)
        for workload, requests in zip(workloads, row, strict=True)
        if requests
    ]


def two_segments(seed: int, customers: int = CUSTOMERS) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    power = rng.random(customers) < POWER_SHARE
    columns = [
        gamma_poisson(rng, np.where(power, pm, lm), np.where(power, ps, ls), customers)
        for (lm, ls), (pm, ps) in zip(LIGHT, POWER, strict=True)
    ]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_an_85_15_mixture_is_proposed_with_its_shares_within_3_points(seed: int) -> None:
    started = time.perf_counter()
    proposal = segments_proposed(two_segments(seed), seed=seed)
    assert proposal is not None
    majority, minority = proposal.mixture.classes
    print(
        f"seed {seed}: shares {majority.share:.4f} / {minority.share:.4f}, BIC gain {proposal.bic_gain:.0f}"
    )
    print(f"  {time.perf_counter() - started:.3f} s, {proposal.mixture.iterations} EM iterations")
    assert abs(minority.share - POWER_SHARE) <= 0.03
    assert abs(majority.share - (1 - POWER_SHARE)) <= 0.03
    assert all(p > m for p, m in zip(minority.means, majority.means, strict=True))
    assert proposal.bic_gain >= 10 and proposal.mixture.converged
    workloads = len(LIGHT)
    assert proposal.mixture.parameters == 1 + 2 * 2 * workloads
    assert proposal.mixture.bic == pytest.approx(
        -2 * proposal.mixture.log_likelihood + proposal.mixture.parameters * np.log(CUSTOMERS), rel=1e-12
    )
    assert proposal.bic_gain == pytest.approx(proposal.single.bic - proposal.mixture.bic, rel=1e-12)


def test_single_segment_data_propose_no_mixture_in_95_of_100_replicates() -> None:
    rng = np.random.default_rng(20250613)
    started = time.perf_counter()
    proposed = 0
    for replicate in range(100):
        workloads = int(rng.integers(2, 4))
        means, shapes = rng.uniform(2, 100, size=workloads), rng.uniform(0.5, 3, size=workloads)
        counts = np.stack(
            [gamma_poisson(rng, m, s, CUSTOMERS) for m, s in zip(means, shapes, strict=True)], 1
        )
        proposed += segments_proposed(counts, seed=replicate) is not None
    print(
        f"mixtures proposed on single-segment data: {proposed} of 100 ({time.perf_counter() - started:.2f} s)"
    )
    assert proposed <= 5


def test_one_class_is_the_per_workload_gamma_poisson_fit() -> None:
    rng = np.random.default_rng(11)
    counts = np.stack(
        [
            gamma_poisson(rng, 30.0, 0.8, 1_500),
            gamma_poisson(rng, 4.0, 2.5, 1_500),
            rng.poisson(12.0, size=1_500),  # no over-dispersion: the Poisson limit
            np.zeros(1_500, dtype=np.int64),  # a workload nobody uses
        ],
        axis=1,
    )
    fits = [gamma_poisson_fit(column) for column in counts.T]
    fit = latent_class_fit(counts, 1)
    (single,) = fit.classes
    assert fit.log_likelihood == pytest.approx(sum(f.log_likelihood for f in fits), rel=1e-9)
    assert single.share == 1.0 and single.means == pytest.approx([f.mean for f in fits], rel=1e-12)
    assert single.shapes == pytest.approx([f.shape for f in fits], rel=1e-6)
    assert single.shapes[2:] == (MAX_SHAPE, MAX_SHAPE) and single.means[3] == 0
    assert fit.parameters == 2 * 4 and fit.n == 1_500 and fit.converged


@pytest.mark.parametrize(
    ("counts", "classes", "field"),
    [
        ([1, 2, 3, 4], 1, "counts must be 2-D"),
        ([[1.5, 2], [1, 1]], 1, "counts must be finite non-negative integers"),
        ([[-1, 2], [1, 1]], 1, "counts must be finite non-negative integers"),
        ([[np.nan, 2], [1, 1]], 1, "counts must be finite non-negative integers"),
        ([[np.inf, 2], [1, 1]], 1, "counts must be finite non-negative integers"),
        ([["many", 2], [1, 1]], 1, "counts must be numeric"),
        ([[1, 2]], 1, "counts needs at least 2 rows"),
        ([[1], [2], [3]], 2, "counts needs at least 4 rows"),
        ([[1], [2], [3]], 0, "classes must be an integer"),
        ([[1], [2], [3]], 1.5, "classes must be an integer"),
    ],
)
def test_bad_input_is_refused_naming_the_field(counts: Any, classes: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        latent_class_fit(counts, classes)


def test_a_tier_of_two_segments_is_proposed_and_a_tier_of_one_is_not(
    organization: Organization, product: Product, priced_models: dict[str, AIModel]
) -> None:
    pro, free = live_tiers(product).get(name="Pro"), live_tiers(product).get(name="Free")
    chat, agent = product.workloads.get(name="Chat"), product.workloads.get(name="Agent")
    rng = np.random.default_rng(13)
    power = rng.random(300) < POWER_SHARE
    pro_counts = np.stack(
        [
            gamma_poisson(rng, np.where(power, 150.0, 20.0), 2.0, 300),
            gamma_poisson(rng, np.where(power, 30.0, 2.0), np.where(power, 1.5, 1.0), 300),
        ],
        axis=1,
    )
    free_counts = np.stack([gamma_poisson(rng, 10.0, 1.5, 100), gamma_poisson(rng, 1.0, 1.0, 100)], axis=1)
    records = [
        *usage_records(tier=pro, workloads=(chat, agent), counts=pro_counts),
        *usage_records(tier=free, workloads=(chat, agent), counts=free_counts),
    ]
    usage_records_ingest(organization=organization, records=records, now=datetime(2025, 7, 1, tzinfo=UTC))

    (proposed,) = usage_segments_proposed(
        organization=organization, period_range=(date(2025, 6, 1), date(2025, 6, 1))
    )

    assert (proposed.tier_id, proposed.tier_name) == (pro.pk, "Pro")
    assert proposed.workload_ids == (chat.pk, agent.pk) and proposed.workload_names == ("Chat", "Agent")
    # Customers without any request have no rollup row: they are not observed.
    observed = pro_counts[pro_counts.sum(axis=1) > 0]
    assert proposed.proposal.mixture.n == len(observed)
    expected = segments_proposed(observed)
    assert expected is not None
    assert proposed.proposal.bic_gain == pytest.approx(expected.bic_gain, rel=1e-9)
    assert segments_proposed(free_counts[free_counts.sum(axis=1) > 0]) is None
