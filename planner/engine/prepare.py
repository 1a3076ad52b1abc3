"""The shared state of a run, built once per process before any block is simulated.

Contract: ``prepare(inputs, users=, seed=)`` validates the inputs
(:func:`~planner.engine.validation.validate_inputs`) and returns a :class:`PreparedRun` with
everything that does not depend on the simulated users: the copula factor, each tier's share of
the simulated users, the monthly price and usage-growth factors, and one :class:`Variant` per
lever (the baseline first) with its tiers' plans and a request pool and a monthly-cost table
per workload.

Pools and tables draw only from the setup stream ``SeedSequence(seed, spawn_key=(2**32,))``,
which no block index reaches, so every process that prepares the same run builds the same state.
Levers reprice the same pool draws (common random numbers), and a workload a lever leaves
unchanged shares the baseline's pool and table (the same object: blocks reuse its costs). A
tier a lever leaves unchanged is the baseline's object too; a changed one is the baseline's with
the lever's :class:`~planner.engine.types.TierChange` applied (:func:`tier_with_change`).

Users are split into fixed blocks of ``BLOCK_SIZE`` (:func:`block_count`, :func:`block_size`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from planner.engine.costs import (
    MonthlyCostTable,
    RequestPool,
    build_cost_table,
    draw_pool_randoms,
    price_pool,
    workload_with_lever,
)
from planner.engine.types import EngineInput, FloatArray, Lever, Tier, TierChange, Workload
from planner.engine.usage import copula_factor
from planner.engine.validation import validate_inputs

BLOCK_SIZE = 65_536
#: Spawn key of the setup stream (pools and tables); block indices never reach it.
SETUP_SPAWN_KEY = 1 << 32
#: Each tier gets at least this share of the simulated users divided by the number of tiers,
#: so small tiers are measured precisely; results are re-weighted by real subscribers.
MIN_TIER_ALLOCATION = 0.5


@dataclass(frozen=True)
class Variant:
    """The baseline (``lever is None``) or one lever: its tiers' plans and a cost table per
    workload."""

    lever: Lever | None
    tiers: tuple[Tier, ...]
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


def block_count(users: int) -> int:
    """Number of fixed blocks for ``users`` simulated users."""
    return (users + BLOCK_SIZE - 1) // BLOCK_SIZE


def block_size(users: int, block: int) -> int:
    """Users in block ``block`` (the last block may be partial)."""
    return min(BLOCK_SIZE, users - block * BLOCK_SIZE)


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
        tiers = _apply_plan(inputs.tiers, lever)
        variants.append(Variant(lever, tiers, workloads, tuple(pools), tuple(tables)))
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
    if lever is None or not lever.changes_costs or (lever.workloads and workload.key not in lever.workloads):
        return workload
    return workload_with_lever(workload, lever)


def _apply_plan(tiers: tuple[Tier, ...], lever: Lever | None) -> tuple[Tier, ...]:
    if lever is None or not lever.plan:
        return tiers
    changes = {change.tier: change for change in lever.plan}
    return tuple(tier_with_change(tier, changes[tier.key]) if tier.key in changes else tier for tier in tiers)


def tier_with_change(tier: Tier, change: TierChange) -> Tier:
    """``tier`` with ``change`` applied: the fee scaled or set, quota, overage price, cap set."""
    price = tier.monthly_price
    if change.monthly_price is not None:
        price = change.monthly_price
    if change.fee_scale is not None:
        price = price * change.fee_scale
    return replace(
        tier,
        monthly_price=price,
        included_credits=tier.included_credits
        if change.included_credits is None
        else change.included_credits,
        overage_price=tier.overage_price if change.overage_price is None else change.overage_price,
        hard_cap=tier.hard_cap if change.hard_cap is None else change.hard_cap,
    )


def _tier_allocation(tiers: Sequence[Tier]) -> FloatArray:
    """Share of simulated users per tier: subscriber shares with a floor for small tiers."""
    subscribers = np.asarray([t.subscribers for t in tiers], dtype=np.float64)
    total = subscribers.sum()
    shares = subscribers / total if total > 0 else np.full(len(tiers), 1.0 / len(tiers))
    floored = np.maximum(shares, MIN_TIER_ALLOCATION / len(tiers))
    return floored / floored.sum()
