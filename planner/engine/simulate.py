"""The Monte Carlo engine: simulated user-months of revenue, COGS and margin per tier.

Contract
--------
- ``prepare(inputs, users=, seed=)`` validates the inputs and builds everything that does not
  depend on the users: the copula factor, per-request cost pools and monthly-cost tables for
  the baseline and every lever (common random numbers: levers reprice the same pool draws).
- Users are split into fixed blocks of ``BLOCK_SIZE``. ``simulate_block(prepared, b)`` uses
  only the child seed ``SeedSequence(seed, spawn_key=(b,))`` (= ``SeedSequence(seed).spawn(n)[b]``)
  and returns a :class:`BlockAggregate`. So results depend on the seed and the inputs only,
  never on how blocks are grouped into chunks or spread over workers.
- ``merge(prepared, aggregates)`` adds block aggregates in block order (deterministic float sums)
  and ``summarize`` turns them into the results document (plain JSON types, no NaN/inf).

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

Horizon: a closed cohort; month m's figures weigh the tier's subscribers by the survival
``(1 - churn) ** m`` (churn independent of usage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy_financial as npf

from planner.engine import stats
from planner.engine.breakeven import break_even, fee_for_target_margin
from planner.engine.costs import (
    MonthlyCostTable,
    RequestPool,
    build_cost_table,
    draw_pool_randoms,
    price_pool,
    workload_with_lever_changes,
)
from planner.engine.types import EngineInput, FloatArray, Lever, Tier, Workload
from planner.engine.usage import (
    copula_factor,
    correlated_normals,
    intensity_from_normal,
    mean_intensity,
    validate_usage,
)

ENGINE_VERSION = "1"
BLOCK_SIZE = 65_536
#: Fixed batches of users per tier within each block, for batch-means errors.
BATCHES_PER_BLOCK = 16
#: Spawn key of the setup stream (pools and tables); block indices never reach it.
SETUP_SPAWN_KEY = 1 << 32
#: Each tier gets at least this share of the simulated users divided by the number of tiers,
#: so small tiers are measured precisely; results are re-weighted by real subscribers.
MIN_TIER_ALLOCATION = 0.5

# Indices into BlockAggregate.moments' second axis.
REVENUE, OVERAGE, FEES, COGS, MARGIN, UNDERWATER, LOSS = range(7)
MOMENTS = 7


@dataclass(frozen=True)
class Variant:
    """The baseline (``lever is None``) or one lever, with a cost table per workload."""

    lever: Lever | None
    workloads: tuple[Workload, ...]
    pools: tuple[RequestPool, ...]
    tables: tuple[MonthlyCostTable, ...]


@dataclass(frozen=True)
class PreparedRun:
    """Everything shared by all blocks of a run (built once per process by :func:`prepare`)."""

    inputs: EngineInput
    users: int
    seed: int
    factor: FloatArray
    variants: tuple[Variant, ...]
    allocation: FloatArray
    price_factors: FloatArray
    growth_factors: FloatArray

    @property
    def blocks(self) -> int:
        return block_count(self.users)


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


def block_count(users: int) -> int:
    """Number of fixed blocks for ``users`` simulated users."""
    return (users + BLOCK_SIZE - 1) // BLOCK_SIZE


def block_size(users: int, block: int) -> int:
    """Users in block ``block`` (the last block may be partial)."""
    return min(BLOCK_SIZE, users - block * BLOCK_SIZE)


def validate_inputs(inputs: EngineInput) -> None:
    """Raise ``ValueError`` with a readable message when inputs cannot be simulated."""
    if not inputs.tiers:
        raise ValueError("a scenario needs at least one tier")
    if not inputs.workloads:
        raise ValueError("a scenario needs at least one workload")
    if not 1 <= inputs.horizon_months <= 600:
        raise ValueError("horizon_months must be between 1 and 600")
    numbers = [
        inputs.price_trend_yearly,
        inputs.usage_growth_monthly,
        inputs.discount_rate_yearly,
        inputs.target_margin,
    ]
    if not all(np.isfinite(numbers)):
        raise ValueError("trend, growth, discount rate and target margin must be finite")
    if (
        inputs.price_trend_yearly <= -1
        or inputs.usage_growth_monthly <= -1
        or inputs.discount_rate_yearly <= -1
    ):
        raise ValueError("price trend, usage growth and discount rate must be above -100%")
    for workload in inputs.workloads:
        _validate_workload(workload)
    for tier in inputs.tiers:
        _validate_tier(tier, len(inputs.workloads))
    copula_factor(np.asarray(inputs.correlation, dtype=np.float64))
    if len(inputs.correlation) != len(inputs.workloads):
        raise ValueError("the correlation matrix must have one row per workload")


def _validate_workload(w: Workload) -> None:
    where = f"workload {w.key!r}"
    if not w.models:
        raise ValueError(f"{where}: needs at least one model")
    shares = [m.share for m in w.models]
    if any(not np.isfinite(s) or s < 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"{where}: model shares must be >= 0 and sum to 1")
    for name in (
        "prompt_cache_share",
        "prompt_cache_write_share",
        "response_cache_hit_rate",
        "batch_share",
        "distillation",
    ):
        value = getattr(w, name)
        if not np.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}: {name} must be between 0 and 1")
    if w.prompt_cache_share + w.prompt_cache_write_share > 1.0 + 1e-9:
        raise ValueError(f"{where}: prompt cache read and write shares cannot exceed 1 together")
    if not np.isfinite(w.credits_per_request) or w.credits_per_request < 0:
        raise ValueError(f"{where}: credits_per_request must be >= 0")
    specs = [w.input_tokens, w.output_tokens, w.reasoning_tokens, w.calls_per_request]
    for spec in specs:
        if spec is None:
            continue
        if (
            not (np.isfinite(spec.median) and np.isfinite(spec.p90))
            or spec.median < 0
            or spec.p90 < spec.median
        ):
            raise ValueError(f"{where}: token and call distributions need 0 <= median <= p90")


def _validate_tier(tier: Tier, workloads: int) -> None:
    where = f"tier {tier.key!r}"
    numbers = [tier.monthly_price, tier.payment_fee_pct, tier.payment_fee_fixed, tier.churn_monthly]
    numbers += [x for x in (tier.included_credits, tier.overage_price, tier.hard_cap) if x is not None]
    if not all(np.isfinite(numbers)) or min(numbers) < 0:
        raise ValueError(f"{where}: prices, fees, credits and churn must be finite and >= 0")
    if tier.payment_fee_pct >= 1 or tier.churn_monthly > 1:
        raise ValueError(f"{where}: payment fee % must be below 100% and churn at most 100%")
    if tier.subscribers < 0:
        raise ValueError(f"{where}: subscribers must be >= 0")
    if len(tier.usage) != workloads:
        raise ValueError(f"{where}: needs one usage distribution per workload")
    for index, dist in enumerate(tier.usage):
        validate_usage(dist, f"{where}, usage {index + 1}")


def prepare(inputs: EngineInput, *, users: int, seed: int) -> PreparedRun:
    """Validate ``inputs`` and build the shared state of a run of ``users`` simulated users."""
    validate_inputs(inputs)
    if users < 1:
        raise ValueError("users must be at least 1")
    setup_rng = np.random.Generator(
        np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(SETUP_SPAWN_KEY,)))
    )
    draws = [draw_pool_randoms(w, setup_rng) for w in inputs.workloads]
    table_seeds = setup_rng.integers(0, 2**63, size=(1 + len(inputs.levers), len(inputs.workloads)))
    variants = []
    cache: dict[int, tuple[RequestPool, MonthlyCostTable]] = {}
    for v, lever in enumerate((None, *inputs.levers)):
        workloads = tuple(_apply_lever(w, lever) for w in inputs.workloads)
        pools, tables = [], []
        for index, workload in enumerate(workloads):
            if workload is inputs.workloads[index] and index in cache:
                pool, table = cache[index]  # the lever leaves this workload unchanged
            else:
                pool = price_pool(workload, draws[index])
                table_rng = np.random.Generator(np.random.SFC64(int(table_seeds[v, index])))
                table = build_cost_table(pool, table_rng)
                if workload is inputs.workloads[index]:
                    cache[index] = (pool, table)
            pools.append(pool)
            tables.append(table)
        variants.append(Variant(lever, workloads, tuple(pools), tuple(tables)))
    months = np.arange(inputs.horizon_months)
    return PreparedRun(
        inputs=inputs,
        users=users,
        seed=seed,
        factor=copula_factor(np.asarray(inputs.correlation, dtype=np.float64)),
        variants=tuple(variants),
        allocation=_tier_allocation(inputs.tiers),
        price_factors=np.power(1.0 + inputs.price_trend_yearly, months / 12.0, dtype=np.float64),
        growth_factors=np.power(1.0 + inputs.usage_growth_monthly, months, dtype=np.float64),
    )


def _apply_lever(workload: Workload, lever: Lever | None) -> Workload:
    if lever is None or (lever.workloads and workload.key not in lever.workloads):
        return workload
    return workload_with_lever_changes(
        workload,
        routing_model=lever.routing_model,
        routing_share=lever.routing_share,
        response_cache_hit_rate=lever.response_cache_hit_rate,
        prompt_cache_share=lever.prompt_cache_share,
        distillation=lever.distillation,
        batch_share=lever.batch_share,
    )


def _tier_allocation(tiers: Sequence[Tier]) -> FloatArray:
    """Share of simulated users per tier: subscriber shares with a floor for small tiers."""
    subscribers = np.asarray([t.subscribers for t in tiers], dtype=np.float64)
    total = subscribers.sum()
    shares = subscribers / total if total > 0 else np.full(len(tiers), 1.0 / len(tiers))
    floored = np.maximum(shares, MIN_TIER_ALLOCATION / len(tiers))
    return floored / floored.sum()


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


def simulate(inputs: EngineInput, *, users: int, seed: int) -> dict[str, Any]:
    """Run every block in one process and return the results document."""
    prepared = prepare(inputs, users=users, seed=seed)
    blocks = [simulate_block(prepared, b) for b in range(prepared.blocks)]
    return summarize(prepared, merge(prepared, blocks))


# --- Results -----------------------------------------------------------------------------------


def _value(mean: float, error: float) -> dict[str, float]:
    return {"value": _finite(mean), "mc_error": _finite(error)}


def _finite(x: float) -> float:
    """Results never contain NaN or infinities: an undefined figure is reported as 0."""
    return float(x) if np.isfinite(x) else 0.0


def _mean(agg: BlockAggregate, v: int, k: int, t: int, m: int) -> tuple[float, float]:
    return stats.ratio_mean_and_error(agg.moments[v, k, t, m], agg.batch_users[t].astype(np.float64))


def _difference(agg: BlockAggregate, v: int, k: int, t: int, m: int) -> tuple[float, float]:
    """Lever minus baseline per user, with the batch-means error of the paired difference."""
    diff = agg.moments[v, k, t, m] - agg.moments[0, k, t, m]
    return stats.ratio_mean_and_error(diff, agg.batch_users[t].astype(np.float64))


def summarize(prepared: PreparedRun, agg: BlockAggregate) -> dict[str, Any]:
    """Build the results document (JSON types only) from the merged aggregate."""
    inputs = prepared.inputs
    tiers = [_tier_result(prepared, agg, t, tier) for t, tier in enumerate(inputs.tiers)]
    return {
        "engine_version": ENGINE_VERSION,
        "users": prepared.users,
        "seed": prepared.seed,
        "blocks": prepared.blocks,
        "horizon_months": inputs.horizon_months,
        "error_note": (
            "mc_error figures are Monte Carlo simulation error (standard errors; intervals are 95%), "
            "not business uncertainty."
        ),
        "cogs_percentile_bin_error": stats.COGS_BIN_REL_WIDTH / 2,
        "tiers": tiers,
        "total": _total_result(prepared, agg, tiers),
    }


def _cost_per_credit(prepared: PreparedRun, tier: Tier, variant: int = 0) -> float:
    """Expected COGS per requested credit at the tier's expected workload mix (month-1 prices)."""
    v = prepared.variants[variant]
    means = np.asarray([mean_intensity(d) for d in tier.usage])
    credits = sum(means[w] * wl.credits_per_request for w, wl in enumerate(v.workloads))
    cost = sum(means[w] * v.pools[w].mean for w in range(len(v.workloads)))
    return float(cost / credits) if credits > 0 else 0.0


def _tier_result(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier) -> dict[str, Any]:
    inputs = prepared.inputs
    simulated = float(agg.users[t])
    revenue, revenue_se = _mean(agg, 0, REVENUE, t, 0)
    overage, _ = _mean(agg, 0, OVERAGE, t, 0)
    cogs, cogs_se = _mean(agg, 0, COGS, t, 0)
    margin, margin_se = _mean(agg, 0, MARGIN, t, 0)
    gm, gm_se = stats.ratio_mean_and_error(agg.moments[0, MARGIN, t, 0], agg.moments[0, REVENUE, t, 0])
    under = float(agg.moments[0, UNDERWATER, t, 0].sum())
    loss, loss_se = _mean(agg, 0, LOSS, t, 0)
    low, high = stats.wilson_interval(under, simulated)
    hist = agg.cogs_hist[t]
    percentiles = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        lo, hi = stats.cogs_quantile_interval(hist, q)
        percentiles[name] = {
            "value": _finite(stats.cogs_quantile(hist, q)),
            "interval": [_finite(lo), _finite(hi)],
        }
    workload_cogs = agg.cogs_by_workload[t, 0] / simulated if simulated else np.zeros(len(inputs.workloads))
    by_model: dict[str, float] = {}
    for w, pool in enumerate(prepared.variants[0].pools):
        for key, share in zip(pool.model_keys, pool.model_cost, strict=True):
            by_model[key] = by_model.get(key, 0.0) + float(workload_cogs[w] * share)
    cost_per_credit = _cost_per_credit(prepared, tier)
    result: dict[str, Any] = {
        "key": tier.key,
        "paying": tier.is_paying,
        "subscribers": tier.subscribers,
        "simulated_users": int(simulated),
        "revenue_per_user": _value(revenue, revenue_se),
        "cogs_per_user": {
            "mean": _value(cogs, cogs_se),
            **percentiles,
            "max": _finite(agg.cogs_max[t]),
        },
        "margin_per_user": _value(margin, margin_se),
        "gross_margin_pct": _value(gm * 100 if revenue > 0 else 0.0, gm_se * 100 if revenue > 0 else 0.0),
        "underwater": {
            "share": _finite(under / simulated) if simulated else 0.0,
            "interval": [low, high],
            "users": _finite(tier.subscribers * under / simulated) if simulated else 0.0,
            "monthly_loss": _value(loss * tier.subscribers, loss_se * tier.subscribers),
        },
        "top_1pct_cogs_share": stats.top_share(hist, agg.cogs_hist_sum[t], 0.01),
        "top_5pct_cogs_share": stats.top_share(hist, agg.cogs_hist_sum[t], 0.05),
        "cogs_by_workload": {wl.key: _finite(workload_cogs[w]) for w, wl in enumerate(inputs.workloads)},
        "cogs_by_model": {k: _finite(v) for k, v in by_model.items()},
        "cost_per_credit": cost_per_credit,
        "break_even": break_even(tier, cost_per_credit).as_dict(),
        "fee_for_target_margin": fee_for_target_margin(
            target=inputs.target_margin,
            fee_pct=tier.payment_fee_pct,
            fee_fixed=tier.payment_fee_fixed,
            mean_cogs=cogs,
            mean_overage=overage,
        )
        if tier.is_paying
        else None,
        "margin_histogram": _margin_histogram(agg.margin_hist[t]),
        "horizon": _horizon(prepared, agg, t, tier),
        "levers": [_lever_result(prepared, agg, t, tier, v) for v in range(1, len(prepared.variants))],
    }
    if not tier.is_paying:
        result["acquisition_cost_per_user"] = _value(cogs, cogs_se)
    return result


def _margin_histogram(counts: np.ndarray) -> dict[str, list[float]]:
    """The non-empty span of the margin histogram: bin edges and counts."""
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return {"edges": [], "counts": []}
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    edges = stats.margin_bin_edges()
    return {"edges": [float(e) for e in edges[lo : hi + 1]], "counts": [int(c) for c in counts[lo:hi]]}


def _survival(tier: Tier, months: int) -> FloatArray:
    return np.power(1.0 - tier.churn_monthly, np.arange(months), dtype=np.float64)


def _monthly_rate(prepared: PreparedRun) -> float:
    return float((1.0 + prepared.inputs.discount_rate_yearly) ** (1.0 / 12.0) - 1.0)


def _horizon(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier) -> dict[str, Any]:
    months = prepared.inputs.horizon_months
    subscribers = tier.subscribers * _survival(tier, months)
    rows: list[dict[str, Any]] = []
    margins = np.zeros(months)
    for m in range(months):
        revenue, _ = _mean(agg, 0, REVENUE, t, m)
        cogs, cogs_se = _mean(agg, 0, COGS, t, m)
        margin, margin_se = _mean(agg, 0, MARGIN, t, m)
        under = float(agg.moments[0, UNDERWATER, t, m].sum())
        margins[m] = margin * subscribers[m]
        rows.append(
            {
                "month": m + 1,
                "subscribers": _finite(subscribers[m]),
                "price_factor": _finite(prepared.price_factors[m]),
                "revenue": _finite(revenue * subscribers[m]),
                "cogs": _value(cogs * subscribers[m], cogs_se * subscribers[m]),
                "margin": _value(margin * subscribers[m], margin_se * subscribers[m]),
                "underwater_share": _finite(under / agg.users[t]) if agg.users[t] else 0.0,
            }
        )
    return {
        "months": rows,
        "total_revenue": _finite(sum(r["revenue"] for r in rows)),
        "total_cogs": _finite(sum(r["cogs"]["value"] for r in rows)),
        "total_margin": _finite(margins.sum()),
        "npv_margin": _finite(npf.npv(_monthly_rate(prepared), margins)),
    }


def _lever_result(prepared: PreparedRun, agg: BlockAggregate, t: int, tier: Tier, v: int) -> dict[str, Any]:
    lever = prepared.variants[v].lever
    assert lever is not None
    cogs, _ = _mean(agg, v, COGS, t, 0)
    d_cogs, d_cogs_se = _difference(agg, v, COGS, t, 0)
    d_margin, d_margin_se = _difference(agg, v, MARGIN, t, 0)
    revenue = float(agg.moments[v, REVENUE, t, 0].sum())
    margin = float(agg.moments[v, MARGIN, t, 0].sum())
    under = float(agg.moments[v, UNDERWATER, t, 0].sum())
    base_under = float(agg.moments[0, UNDERWATER, t, 0].sum())
    survival = tier.subscribers * _survival(tier, prepared.inputs.horizon_months)
    horizon_delta = 0.0
    for m in range(prepared.inputs.horizon_months):
        horizon_delta += _difference(agg, v, MARGIN, t, m)[0] * survival[m]
    simulated = float(agg.users[t])
    cost_per_credit = _cost_per_credit(prepared, tier, v)
    return {
        "key": lever.key,
        "label": lever.label,
        "cogs_per_user": _finite(cogs),
        "cogs_change_per_user": _value(d_cogs, d_cogs_se),
        "margin_change_per_user": _value(d_margin, d_margin_se),
        "gross_margin_pct": _finite(margin / revenue * 100) if revenue > 0 else 0.0,
        "underwater_share": _finite(under / simulated) if simulated else 0.0,
        "underwater_share_change": _finite((under - base_under) / simulated) if simulated else 0.0,
        "horizon_margin_change": _finite(horizon_delta),
        "break_even": break_even(tier, cost_per_credit).as_dict(),
    }


def _total_result(prepared: PreparedRun, agg: BlockAggregate, tiers: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals across tiers weighted by real subscribers (per month: by survivors)."""
    inputs = prepared.inputs
    subscribers = np.asarray([t.subscribers for t in inputs.tiers], dtype=np.float64)
    paying = np.asarray([t.is_paying for t in inputs.tiers])
    revenue = cogs = margin = 0.0
    cogs_var = 0.0
    for t in range(len(inputs.tiers)):
        r, _ = _mean(agg, 0, REVENUE, t, 0)
        c, c_se = _mean(agg, 0, COGS, t, 0)
        m, _ = _mean(agg, 0, MARGIN, t, 0)
        revenue += r * subscribers[t]
        cogs += c * subscribers[t]
        margin += m * subscribers[t]
        cogs_var += (c_se * subscribers[t]) ** 2
    # Underwater share among paying subscribers: a stratified estimate; its Wilson interval
    # uses the effective sample size p(1-p)/Var.
    paying_subscribers = float(subscribers[paying].sum())
    share = 0.0
    variance = 0.0
    for t in (int(i) for i in np.flatnonzero(paying)):
        n_t = float(agg.users[t])
        if n_t == 0 or paying_subscribers == 0:
            continue
        p_t = float(agg.moments[0, UNDERWATER, t, 0].sum()) / n_t
        weight = subscribers[t] / paying_subscribers
        share += weight * p_t
        variance += weight**2 * p_t * (1 - p_t) / n_t
    effective_n = share * (1 - share) / variance if variance > 0 else float(agg.users[paying].sum())
    low, high = stats.wilson_interval(share * effective_n, effective_n)
    free_cogs = sum(
        _mean(agg, 0, COGS, t, 0)[0] * subscribers[t] for t in range(len(inputs.tiers)) if not paying[t]
    )
    horizon_margin = np.zeros(inputs.horizon_months)
    for t, tier in enumerate(inputs.tiers):
        survivors = tier.subscribers * _survival(tier, inputs.horizon_months)
        for m in range(inputs.horizon_months):
            horizon_margin[m] += _mean(agg, 0, MARGIN, t, m)[0] * survivors[m]
    levers = []
    for v in range(1, len(prepared.variants)):
        lever = prepared.variants[v].lever
        assert lever is not None
        change = sum(_difference(agg, v, MARGIN, t, 0)[0] * subscribers[t] for t in range(len(inputs.tiers)))
        levers.append({"key": lever.key, "label": lever.label, "monthly_margin_change": _finite(change)})
    total_loss = sum(
        float(t["underwater"]["monthly_loss"]["value"]) for t, p in zip(tiers, paying, strict=True) if p
    )
    return {
        "subscribers": int(subscribers.sum()),
        "paying_subscribers": int(paying_subscribers),
        "revenue": _finite(revenue),
        "cogs": _value(cogs, np.sqrt(cogs_var)),
        "margin": _finite(margin),
        "gross_margin_pct": _finite(margin / revenue * 100) if revenue > 0 else 0.0,
        "underwater_paying": {
            "share": _finite(share),
            "interval": [low, high],
            "users": _finite(share * paying_subscribers),
            "monthly_loss": _finite(total_loss),
        },
        "free_cost_per_paying_user": _finite(free_cogs / paying_subscribers) if paying_subscribers else 0.0,
        "horizon": {
            "margin_by_month": [_finite(x) for x in horizon_margin],
            "total_margin": _finite(horizon_margin.sum()),
            "npv_margin": _finite(npf.npv(_monthly_rate(prepared), horizon_margin)),
            "discount_rate_yearly": inputs.discount_rate_yearly,
        },
        "levers": levers,
    }
