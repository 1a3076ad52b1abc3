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
Latent intensity per workload from the tier's usage distribution (Gaussian copula), grown by
``(1 + usage_growth) ** m``; requested count ``N ~ Poisson(intensity * shock)`` with an optional
mean-1 gamma shock (overdispersion). Credits ``C = sum N_w * credits_w``. The effective cap
(hard cap, or the quota when there is no overage price) scales every workload's served requests
by ``cap / C`` when exceeded. Revenue = fee + overage price * max(0, min(C, cap) - included).
Payment fees = pct * revenue + fixed (when revenue > 0). COGS = sum over workloads of the
monthly cost of the served requests (response-cache hits cost nothing) times the month's price
factor ``(1 + price_trend) ** (m / 12)``. Margin = revenue - payment fees - COGS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.engine import stats
from planner.engine.prepare import PreparedRun, block_size
from planner.engine.types import FloatArray, Tier
from planner.engine.usage import correlated_normals, intensity_from_normal

#: Fixed batches of users per tier within each block, for batch-means errors.
BATCHES_PER_BLOCK = 16

# Indices into BlockAggregate.moments' second axis.
REVENUE, OVERAGE, FEES, COGS, MARGIN, UNDERWATER, LOSS = range(7)
MOMENTS = 7


@dataclass
class BlockAggregate:
    """Mergeable sums of one block (or of several merged blocks).

    - ``users[t]``: simulated users of tier t; ``batch_users[t, b]`` per batch;
    - ``moments[v, k, t, m, b]``: per variant v (0 = baseline), quantity k (REVENUE..LOSS),
      tier, month and batch: sums over users;
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


def empty_aggregate(prepared: PreparedRun) -> BlockAggregate:
    """An aggregate with every sum at zero (the identity of :func:`merge`)."""
    tiers = len(prepared.inputs.tiers)
    months = prepared.inputs.horizon_months
    return BlockAggregate(
        users=np.zeros(tiers, dtype=np.int64),
        batch_users=np.zeros((tiers, 0), dtype=np.int64),
        moments=np.zeros((len(prepared.variants), MOMENTS, tiers, months, 0)),
        cogs_hist=np.zeros((tiers, stats.COGS_BINS), dtype=np.int64),
        cogs_hist_sum=np.zeros((tiers, stats.COGS_BINS)),
        margin_hist=np.zeros((tiers, stats.MARGIN_BINS), dtype=np.int64),
        cogs_max=np.zeros(tiers),
        cogs_by_workload=np.zeros((tiers, months, len(prepared.inputs.workloads))),
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
    aggregate.blocks = [block]
    for t, tier in enumerate(inputs.tiers):
        if counts[t] > 0:
            _simulate_tier(prepared, t, tier, int(counts[t]), rng, aggregate)
    return aggregate


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
    intensity = [intensity_from_normal(tier.usage[w], z[w]) for w in range(len(workloads))]
    credits_per_request = np.asarray([w.credits_per_request for w in workloads])
    cap = tier.effective_cap
    included = tier.included_credits
    overage_price = tier.overage_price
    for m in range(inputs.horizon_months):
        growth = prepared.growth_factors[m]
        requested = []
        uniforms = []
        for w in range(len(workloads)):
            rate = intensity[w] * growth
            shock = tier.usage[w].overdispersion
            if shock is not None:
                rate = rate * rng.gamma(shock, 1.0 / shock, n)
            requested.append(rng.poisson(np.minimum(rate, 1e9)))
            uniforms.append(rng.random(n))
        credits = np.zeros(n)
        for w in range(len(workloads)):
            credits += requested[w] * credits_per_request[w]
        if cap is None:
            served = requested
            billable = credits
        else:
            billable = np.minimum(credits, cap)
            with np.errstate(divide="ignore", invalid="ignore"):
                fraction = np.where(credits > cap, cap / np.where(credits > 0, credits, 1.0), 1.0)
            served = [np.floor(r * fraction).astype(np.int64) for r in requested]
        revenue = np.full(n, tier.monthly_price)
        overage = np.zeros(n)
        if included is not None and overage_price is not None:
            overage = overage_price * np.maximum(billable - included, 0.0)
            revenue = revenue + overage
        fees = revenue * tier.payment_fee_pct + np.where(revenue > 0, tier.payment_fee_fixed, 0.0)
        net = revenue - fees
        moments = agg.moments
        batch_revenue, batch_overage, batch_fees = batch_sums(revenue), batch_sums(overage), batch_sums(fees)
        baseline_cost: list[FloatArray] = []
        for v, variant in enumerate(prepared.variants):
            cogs = np.zeros(n)
            for w, table in enumerate(variant.tables):
                if v > 0 and table is prepared.variants[0].tables[w]:
                    cost = baseline_cost[w]
                else:
                    cost = table.monthly_cost(served[w], uniforms[w]) * prepared.price_factors[m]
                if v == 0:
                    baseline_cost.append(cost)
                    agg.cogs_by_workload[t, m, w] += cost.sum()
                cogs += cost
            margin = net - cogs
            under = margin < 0
            moments[v, REVENUE, t, m] += batch_revenue
            moments[v, OVERAGE, t, m] += batch_overage
            moments[v, FEES, t, m] += batch_fees
            moments[v, COGS, t, m] += batch_sums(cogs)
            moments[v, MARGIN, t, m] += batch_sums(margin)
            moments[v, UNDERWATER, t, m] += batch_sums(under.astype(np.float64))
            moments[v, LOSS, t, m] += batch_sums(np.where(under, -margin, 0.0))
            if v == 0 and m == 0:
                cogs_index = stats.cogs_bin_index(cogs)
                agg.cogs_hist[t] += np.bincount(cogs_index, minlength=stats.COGS_BINS)
                agg.cogs_hist_sum[t] += np.bincount(cogs_index, weights=cogs, minlength=stats.COGS_BINS)
                agg.margin_hist[t] += np.bincount(stats.margin_bin_index(margin), minlength=stats.MARGIN_BINS)
                agg.cogs_max[t] = max(agg.cogs_max[t], float(cogs.max()))


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
        total.blocks = total.blocks + a.blocks
    return total
