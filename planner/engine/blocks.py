"""One block of simulated users, and merging the blocks' aggregates.

Contract
--------
- ``simulate_block(prepared, b)`` draws only from the child seed ``SeedSequence(seed,
  spawn_key=(b,))`` (= ``SeedSequence(seed).spawn(n)[b]``) and returns a :class:`BlockAggregate`
  of sums over the block's users. So results depend on the seed and the inputs only, never on
  how blocks are grouped into chunks or spread over workers.
- ``merge(prepared, aggregates)`` adds block aggregates in block order (deterministic float sums)
  and rejects a block given twice; :func:`empty_aggregate` is its identity.

Model of one user-month (tier t, month m)
-----------------------------------------
A user belongs to one of the tier's segments (``Tier.mixture``; drawn with the segments'
shares). Latent intensity per workload from their segment's usage distribution (Gaussian
copula), grown by
``(1 + usage_growth) ** m``; requested count ``N ~ Poisson(intensity * shock)`` with an optional
mean-1 gamma shock (overdispersion). Credits ``C = sum N_w * credits_w``. The effective cap
(hard cap, or the quota when there is no overage price) scales every workload's served requests
by ``cap / C`` when exceeded. Revenue = fee + overage price * max(0, min(C, cap) - included).
Payment fees = pct * revenue + fixed (when revenue > 0). COGS = sum over workloads of the
monthly cost of the served requests (response-cache hits cost nothing) times the month's price
factor ``(1 + price_trend) ** (m / 12)``. Margin = revenue - payment fees - COGS.

Levers: a lever that changes a tier's plan (``Lever.plan``) re-applies the cap and re-bills the
same requested counts under its plan; a lever that changes costs re-prices the served counts
with its cost tables and the same uniforms. Every variant sees the same simulated users.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.engine import stats
from planner.engine.prepare import PreparedRun, block_size
from planner.engine.types import FloatArray, Tier
from planner.engine.usage import correlated_normals, intensity_from_normal

#: Fixed batches of users per tier within each block, for batch-means errors.
BATCHES_PER_BLOCK = 16

# Indices into BlockAggregate.moments' second axis. CAPPED counts users whose requested
# credits exceeded the effective cap (the friction a cap causes); UNDERWATER_FLIPS and
# CAPPED_FLIPS count users whose status under a lever differs from the baseline's (0 for the
# baseline), for the errors of share changes.
REVENUE, OVERAGE, FEES, COGS, MARGIN, UNDERWATER, LOSS, CAPPED, UNDERWATER_FLIPS, CAPPED_FLIPS = range(10)
MOMENTS = 10
#: Month-1 baseline figures per segment (BlockAggregate.segment_moments' third axis).
SEGMENT_FIGURES = ("users", "revenue", "cogs", "margin", "underwater", "loss", "capped")


@dataclass
class BlockAggregate:
    """Mergeable sums of one block (or of several merged blocks).

    - ``users[t]``: simulated users of tier t; ``batch_users[t, b]`` per batch;
    - ``moments[v, k, t, m, b]``: per variant v (0 = baseline), quantity k (REVENUE..CAPPED),
      tier, month and batch: sums over users;
    - ``segment_moments[t, s, k, b]``: month-1 baseline sums of ``SEGMENT_FIGURES[k]`` over
      the users of segment s of tier t (``Tier.mixture``; tiers with fewer segments leave the
      rest at 0), per batch; ``segment_cogs_by_workload[t, s, w]`` and
      ``underwater_cogs_by_workload[t, s, w]``: month-1 baseline COGS sums of all and of the
      underwater users;
    - ``cogs_hist/cogs_hist_sum[t, bin]``: month-1 COGS histogram counts and COGS sums;
    - ``margin_hist[t, bin]``: month-1 margin histogram;
    - ``cogs_max[t]``: month-1 maximum COGS; ``cogs_by_workload[t, m, w]``: baseline COGS sums.
    """

    users: np.ndarray
    batch_users: np.ndarray
    moments: FloatArray
    cogs_hist: np.ndarray
    cogs_hist_sum: FloatArray
    margin_hist: np.ndarray
    cogs_max: FloatArray
    cogs_by_workload: FloatArray
    segment_moments: FloatArray
    segment_cogs_by_workload: FloatArray
    underwater_cogs_by_workload: FloatArray
    blocks: list[int] = field(default_factory=list)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name (for storage, e.g. ``np.savez_compressed``)."""
        return {
            "users": self.users,
            "batch_users": self.batch_users,
            "moments": self.moments,
            "cogs_hist": self.cogs_hist,
            "cogs_hist_sum": self.cogs_hist_sum,
            "margin_hist": self.margin_hist,
            "cogs_max": self.cogs_max,
            "cogs_by_workload": self.cogs_by_workload,
            "segment_moments": self.segment_moments,
            "segment_cogs_by_workload": self.segment_cogs_by_workload,
            "underwater_cogs_by_workload": self.underwater_cogs_by_workload,
            "blocks": np.asarray(self.blocks, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BlockAggregate:
        values = {name: np.asarray(arrays[name]) for name in arrays}
        blocks = [int(b) for b in values.pop("blocks")]
        return cls(**values, blocks=blocks)


def tier_user_counts(allocation: FloatArray, n_users: int) -> np.ndarray:
    """Split ``n_users`` over tiers by ``allocation`` (largest remainder; deterministic)."""
    exact = allocation * n_users
    counts = np.floor(exact).astype(np.int64)
    remainder = n_users - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts


def segment_count(prepared: PreparedRun) -> int:
    """Segment slots per tier in the aggregates: the most segments any tier has (at least 1)."""
    return max(len(tier.mixture) for tier in prepared.inputs.tiers)


def empty_aggregate(prepared: PreparedRun) -> BlockAggregate:
    """An aggregate with every sum at zero (the identity of :func:`merge`)."""
    tiers = len(prepared.inputs.tiers)
    months = prepared.inputs.horizon_months
    segments = segment_count(prepared)
    workloads = len(prepared.inputs.workloads)
    return BlockAggregate(
        users=np.zeros(tiers, dtype=np.int64),
        batch_users=np.zeros((tiers, 0), dtype=np.int64),
        moments=np.zeros((len(prepared.variants), MOMENTS, tiers, months, 0)),
        cogs_hist=np.zeros((tiers, stats.COGS_BINS), dtype=np.int64),
        cogs_hist_sum=np.zeros((tiers, stats.COGS_BINS)),
        margin_hist=np.zeros((tiers, stats.MARGIN_BINS), dtype=np.int64),
        cogs_max=np.zeros(tiers),
        cogs_by_workload=np.zeros((tiers, months, workloads)),
        segment_moments=np.zeros((tiers, segments, len(SEGMENT_FIGURES), 0)),
        segment_cogs_by_workload=np.zeros((tiers, segments, workloads)),
        underwater_cogs_by_workload=np.zeros((tiers, segments, workloads)),
    )


def simulate_block(prepared: PreparedRun, block: int) -> BlockAggregate:
    """Simulate block ``block`` of the run; depends only on the run's seed and inputs."""
    if not 0 <= block < prepared.blocks:
        raise ValueError(f"block {block} is outside 0..{prepared.blocks - 1}")
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(prepared.seed, spawn_key=(block,))))
    inputs = prepared.inputs
    n_block = block_size(prepared.users, block)
    counts = tier_user_counts(prepared.allocation, n_block)
    aggregate = empty_aggregate(prepared)
    aggregate.users = counts
    aggregate.batch_users = np.zeros((len(inputs.tiers), BATCHES_PER_BLOCK), dtype=np.int64)
    aggregate.moments = np.zeros(
        (len(prepared.variants), MOMENTS, len(inputs.tiers), inputs.horizon_months, BATCHES_PER_BLOCK)
    )
    aggregate.segment_moments = np.zeros(
        (len(inputs.tiers), segment_count(prepared), len(SEGMENT_FIGURES), BATCHES_PER_BLOCK)
    )
    aggregate.blocks = [block]
    for t, tier in enumerate(inputs.tiers):
        if counts[t] > 0:
            _simulate_tier(prepared, t, tier, int(counts[t]), rng, aggregate)
    return aggregate


def _segment_of_users(tier: Tier, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """Each user's segment index (one uniform per user); ``None`` for a single segment, which
    draws nothing (so a tier without segments consumes the stream as before segments)."""
    mixture = tier.mixture
    if len(mixture) == 1:
        return None
    bounds = np.cumsum([segment.share for segment in mixture])[:-1]
    return np.searchsorted(bounds, rng.random(n), side="right")


def _intensities(tier: Tier, z: FloatArray, segment: np.ndarray | None) -> list[FloatArray]:
    """Each workload's latent intensity per user, from the user's segment's distribution."""
    mixture = tier.mixture
    if segment is None:
        return [intensity_from_normal(dist, z[w]) for w, dist in enumerate(mixture[0].usage)]
    intensity = [np.zeros(z.shape[1]) for _ in range(z.shape[0])]
    for s, part in enumerate(mixture):
        members = segment == s
        for w, dist in enumerate(part.usage):
            intensity[w][members] = intensity_from_normal(dist, z[w][members])
    return intensity


@dataclass(frozen=True)
class _PlanOutcome:
    """One user-month under one tier plan: what is served and what the user pays."""

    served: list[np.ndarray]
    revenue: FloatArray
    overage: FloatArray
    fees: FloatArray
    capped: FloatArray


def _plan_outcome(plan: Tier, requested: list[np.ndarray], credits: FloatArray) -> _PlanOutcome:
    """Apply ``plan``'s cap to the requested counts and bill the user (see the module docstring)."""
    cap = plan.effective_cap
    if cap is None:
        served = requested
        billable = credits
        capped = np.zeros(credits.size)
    else:
        billable = np.minimum(credits, cap)
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(credits > cap, cap / np.where(credits > 0, credits, 1.0), 1.0)
        served = [np.floor(r * fraction).astype(np.int64) for r in requested]
        capped = (credits > cap).astype(np.float64)
    revenue = np.full(credits.size, plan.monthly_price)
    overage = np.zeros(credits.size)
    if plan.included_credits is not None and plan.overage_price is not None:
        overage = plan.overage_price * np.maximum(billable - plan.included_credits, 0.0)
        revenue = revenue + overage
    fees = revenue * plan.payment_fee_pct + np.where(revenue > 0, plan.payment_fee_fixed, 0.0)
    return _PlanOutcome(served, revenue, overage, fees, capped)


def _simulate_tier(
    prepared: PreparedRun, t: int, tier: Tier, n: int, rng: np.random.Generator, agg: BlockAggregate
) -> None:
    inputs = prepared.inputs
    workloads = inputs.workloads
    batch_starts = (np.arange(BATCHES_PER_BLOCK) * n) // BATCHES_PER_BLOCK
    nonempty = np.diff(np.append(batch_starts, n)) > 0
    agg.batch_users[t] = np.diff(np.append(batch_starts, n))
    starts = batch_starts[nonempty]

    def batch_sums(values: FloatArray) -> FloatArray:
        out = np.zeros(BATCHES_PER_BLOCK)
        out[nonempty] = np.add.reduceat(values, starts)
        return out

    z = correlated_normals(prepared.factor, n, rng)
    segment = _segment_of_users(tier, n, rng)
    intensity = _intensities(tier, z, segment)
    credits_per_request = np.asarray([w.credits_per_request for w in workloads])
    # Variants that leave this tier's plan alone share the baseline's outcome.
    plans: list[Tier] = []
    plan_of_variant = []
    for variant in prepared.variants:
        plan = variant.tiers[t]
        index = next((i for i, known in enumerate(plans) if known is plan), None)
        if index is None:
            plans.append(plan)
            index = len(plans) - 1
        plan_of_variant.append(index)
    for m in range(inputs.horizon_months):
        growth = prepared.growth_factors[m]
        requested = []
        uniforms = []
        for w in range(len(workloads)):
            rate = intensity[w] * growth
            shock = tier.mixture[0].usage[w].overdispersion if segment is None else None
            if segment is not None:
                rate = _segment_shocks(tier, w, segment, rate, rng)
            elif shock is not None:
                rate = rate * rng.gamma(shock, 1.0 / shock, n)
            requested.append(rng.poisson(np.minimum(rate, 1e9)))
            uniforms.append(rng.random(n))
        credits = np.zeros(n)
        for w in range(len(workloads)):
            credits += requested[w] * credits_per_request[w]
        outcomes = [_plan_outcome(plan, requested, credits) for plan in plans]
        sums = [
            (batch_sums(o.revenue), batch_sums(o.overage), batch_sums(o.fees), batch_sums(o.capped))
            for o in outcomes
        ]
        costs: dict[tuple[int, int], FloatArray] = {}
        moments = agg.moments
        base_under: np.ndarray = np.zeros(n, dtype=bool)
        base_capped: FloatArray = np.zeros(n)
        for v, variant in enumerate(prepared.variants):
            p = plan_of_variant[v]
            outcome = outcomes[p]
            workload_costs = []
            for w, table in enumerate(variant.tables):
                key = (p, id(table))
                if key not in costs:
                    costs[key] = (
                        table.monthly_cost(outcome.served[w], uniforms[w]) * prepared.price_factors[m]
                    )
                workload_costs.append(costs[key])
            cogs = np.zeros(n)
            for cost in workload_costs:
                cogs += cost
            margin = outcome.revenue - outcome.fees - cogs
            under = margin < 0
            loss = np.where(under, -margin, 0.0)
            revenue_sums, overage_sums, fee_sums, capped_sums = sums[p]
            moments[v, REVENUE, t, m] += revenue_sums
            moments[v, OVERAGE, t, m] += overage_sums
            moments[v, FEES, t, m] += fee_sums
            moments[v, COGS, t, m] += batch_sums(cogs)
            moments[v, MARGIN, t, m] += batch_sums(margin)
            moments[v, UNDERWATER, t, m] += batch_sums(under.astype(np.float64))
            moments[v, LOSS, t, m] += batch_sums(loss)
            moments[v, CAPPED, t, m] += capped_sums
            if v == 0:
                base_under, base_capped = under, outcome.capped
            else:
                moments[v, UNDERWATER_FLIPS, t, m] += batch_sums((under != base_under).astype(np.float64))
                moments[v, CAPPED_FLIPS, t, m] += batch_sums(
                    (outcome.capped != base_capped).astype(np.float64)
                )
            if v == 0:
                for w, cost in enumerate(workload_costs):
                    agg.cogs_by_workload[t, m, w] += cost.sum()
            if v == 0 and m == 0:
                cogs_index = stats.cogs_bin_index(cogs)
                agg.cogs_hist[t] += np.bincount(cogs_index, minlength=stats.COGS_BINS)
                agg.cogs_hist_sum[t] += np.bincount(cogs_index, weights=cogs, minlength=stats.COGS_BINS)
                agg.margin_hist[t] += np.bincount(stats.margin_bin_index(margin), minlength=stats.MARGIN_BINS)
                agg.cogs_max[t] = max(agg.cogs_max[t], float(cogs.max()))
                figures = (outcome.revenue, cogs, margin, under.astype(np.float64), loss, outcome.capped)
                _segment_sums(agg, t, segment, n, figures, workload_costs, under, batch_sums)


def _segment_shocks(
    tier: Tier, w: int, segment: np.ndarray, rate: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Multiply each user's rate by the monthly gamma shock of their segment's distribution
    (one draw per user when any segment has overdispersion for this workload)."""
    shapes = [part.usage[w].overdispersion for part in tier.mixture]
    if all(shape is None for shape in shapes):
        return rate
    shape = np.asarray([np.inf if k is None else k for k in shapes])[segment]
    finite = np.isfinite(shape)
    draws = rng.gamma(np.where(finite, shape, 1.0), 1.0 / np.where(finite, shape, 1.0))
    return rate * np.where(finite, draws, 1.0)


def _segment_sums(
    agg: BlockAggregate,
    t: int,
    segment: np.ndarray | None,
    n: int,
    figures: tuple[FloatArray, ...],
    workload_costs: list[FloatArray],
    under: np.ndarray,
    batch_sums: Callable[[FloatArray], FloatArray],
) -> None:
    """Month-1 baseline sums per segment: users and SEGMENT_FIGURES per batch, COGS per
    workload, and the underwater users' COGS per workload (what drives their cost)."""
    segments = 1 if segment is None else int(agg.segment_moments.shape[1])
    for s in range(segments):
        members = np.ones(n, dtype=bool) if segment is None else segment == s
        weight = members.astype(np.float64)
        agg.segment_moments[t, s, 0] += batch_sums(weight)
        for k, values in enumerate(figures, start=1):
            agg.segment_moments[t, s, k] += batch_sums(values * weight)
        for w, cost in enumerate(workload_costs):
            agg.segment_cogs_by_workload[t, s, w] += float(cost[members].sum())
            agg.underwater_cogs_by_workload[t, s, w] += float(cost[members & under].sum())


def merge(prepared: PreparedRun, aggregates: Sequence[BlockAggregate]) -> BlockAggregate:
    """Combine block aggregates in block order (deterministic float sums)."""
    ordered = sorted(aggregates, key=lambda a: a.blocks[0] if a.blocks else -1)
    seen: set[int] = set()
    for a in ordered:
        if seen.intersection(a.blocks):
            raise ValueError("a block was given twice to merge")
        seen.update(a.blocks)
    total = empty_aggregate(prepared)
    for a in ordered:
        total.users = total.users + a.users
        total.batch_users = np.concatenate((total.batch_users, a.batch_users), axis=1)
        total.moments = np.concatenate((total.moments, a.moments), axis=4)
        total.cogs_hist = total.cogs_hist + a.cogs_hist
        total.cogs_hist_sum = total.cogs_hist_sum + a.cogs_hist_sum
        total.margin_hist = total.margin_hist + a.margin_hist
        total.cogs_max = np.maximum(total.cogs_max, a.cogs_max)
        total.cogs_by_workload = total.cogs_by_workload + a.cogs_by_workload
        total.segment_moments = np.concatenate((total.segment_moments, a.segment_moments), axis=3)
        total.segment_cogs_by_workload = total.segment_cogs_by_workload + a.segment_cogs_by_workload
        total.underwater_cogs_by_workload = total.underwater_cogs_by_workload + a.underwater_cogs_by_workload
        total.blocks = total.blocks + a.blocks
    return total
