"""The cost of a user's month for one workload, with O(1) random draws per user-month.

A request's cost is a mixture (model mix, batch share, response-cache hits that cost nothing,
agentic loops of several calls, prompt-cache shares, context-length tiers priced per call), often
bimodal. The monthly cost of ``n`` served requests is the sum ``S_n`` of ``n`` independent
request costs. Drawing it request by request would make heavy users arbitrarily expensive to
simulate, so the engine precomputes, once per run and workload, the distribution of ``S_n``:

1. A *request pool*: ``POOL_SIZE`` requests drawn exactly from the per-request model (calls,
   tokens, model, batch, cache) and priced with the injected pricers (the one cost calculator).
2. A :class:`MonthlyCostTable`: for ``n = 1..DIRECT_ROWS`` the sums of ``n`` pool requests along
   ``PATHS`` independent paths; for larger ``n`` sums of independent copies of earlier rows
   (doubling, ``ROWS_PER_OCTAVE`` rows per doubling of ``n``) up to ``MAX_TABLE_N``.
   Each row is summarised by ``ATOMS`` equally likely *atoms*: the conditional mean of ``S_n``
   within each ``1/ATOMS`` probability slice. Atoms keep the mean exactly and keep the upper
   tail's contribution to it (the top atom is the mean of the top slice).
   Rows are stored standardised, ``z = (S_n - n mu) / (sqrt(n) sigma)``, and re-centred so
   that ``E[S_n] = n mu`` holds exactly for the pool mean ``mu``.
3. At simulation time one uniform draw per user-month and workload picks an atom; for an ``n``
   between two rows the standardised atoms are interpolated linearly in ``1/sqrt(n)`` (the
   leading Edgeworth term of a sum's skewness scales as ``1/sqrt(n)``).

``tests/engine/test_monthly_cost.py`` checks p50/p90/p99 of ``S_n`` against an exact
per-request simulation within 2% for n in {1, 2, 5, 10, 32, 100, 1000}.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from planner.engine.types import FloatArray, Lever, LogNormalSpec, ModelOption, TokenBatch, Workload

#: Requests drawn exactly per workload to form the empirical per-request distribution...
POOL_SIZE = 1 << 18
#: ...unless agentic loops make that more than this many model calls; the pool then shrinks
#: (to at least MIN_POOL_SIZE requests): a request of many calls varies less, relatively.
POOL_CALLS = 1 << 19
MIN_POOL_SIZE = 1 << 15
#: Independent paths summed to estimate the distribution of S_n.
PATHS = 1 << 18
#: Paths kept for the doubling rows (n > DIRECT_ROWS): their sums are concentrated (the
#: spread relative to the mean falls as 1/sqrt(n)), so fewer paths give the same precision.
DOUBLING_PATHS = 1 << 16
#: Rows for n = 1..DIRECT_ROWS are built by adding one pool request per step.
DIRECT_ROWS = 32
#: Rows per doubling of n beyond DIRECT_ROWS.
ROWS_PER_OCTAVE = 4
#: Largest n with its own row; larger counts reuse the last (nearly normal) row's shape.
MAX_TABLE_N = 1 << 17
#: Equally likely atoms per row.
ATOMS = 4096
#: Log-spaced bins used to summarise each row's path sums (0.05% wide).
_ROW_BINS_PER_DECADE = 4000


@dataclass(frozen=True)
class RequestPool:
    """Per-request costs of ``POOL_SIZE`` exactly simulated requests of one workload.

    ``model_cost`` holds each model's share of the pool's total cost (for COGS by model, which
    the engine allocates by these expected shares).
    """

    costs: FloatArray
    model_keys: tuple[str, ...]
    model_cost: FloatArray

    @property
    def mean(self) -> float:
        return float(self.costs.mean())

    @property
    def std(self) -> float:
        return float(self.costs.std())


@dataclass(frozen=True)
class PoolDraws:
    """The random numbers behind a request pool, shared by the baseline and every lever.

    Reusing them (common random numbers) makes a lever's effect on cost precise: only the
    changed parameter moves, not the sampling noise.
    """

    calls: np.ndarray  # int64 calls per request
    u_model: FloatArray
    u_batch: FloatArray
    u_hit: FloatArray
    z_input: FloatArray  # one normal per call
    z_output: FloatArray
    z_reasoning: FloatArray


def pool_size(workload: Workload) -> int:
    """Requests in the workload's pool (see POOL_SIZE and POOL_CALLS)."""
    spec = workload.calls_per_request
    if spec is None:
        return POOL_SIZE
    mean_calls = max(spec.median * float(np.exp(spec.sigma**2 / 2)), 1.0)
    return int(np.clip(POOL_CALLS / mean_calls, MIN_POOL_SIZE, POOL_SIZE))


def draw_pool_randoms(workload: Workload, rng: np.random.Generator, size: int | None = None) -> PoolDraws:
    """Draw the random numbers for ``size`` requests of ``workload`` (calls, tokens, choices).

    Every dimension is stratified (Latin hypercube: one draw in each of ``size`` equal
    probability strata, in random order). The pool then reproduces the per-request mean and
    quantiles far more precisely than plain sampling of the same size (the pool's mean error
    is shared by every simulated user, so it must be small).
    """
    size = pool_size(workload) if size is None else size
    calls = _draw_calls(workload.calls_per_request, rng, size)
    total_calls = int(calls.sum())
    return PoolDraws(
        calls=calls,
        u_model=_stratified_uniforms(rng, size),
        u_batch=_stratified_uniforms(rng, size),
        u_hit=_stratified_uniforms(rng, size),
        z_input=special.ndtri(_stratified_uniforms(rng, total_calls)),
        z_output=special.ndtri(_stratified_uniforms(rng, total_calls)),
        z_reasoning=special.ndtri(_stratified_uniforms(rng, total_calls)),
    )


def _stratified_uniforms(rng: np.random.Generator, size: int) -> FloatArray:
    """One uniform in each of ``size`` equal strata of [0, 1), randomly ordered."""
    return (rng.permutation(size) + rng.random(size)) / size


def _draw_calls(spec: LogNormalSpec | None, rng: np.random.Generator, size: int) -> np.ndarray:
    """Model calls per request: lognormal by median/p90, rounded, at least one."""
    if spec is None:
        return np.ones(size, dtype=np.int64)
    values = spec.median * np.exp(spec.sigma * special.ndtri(_stratified_uniforms(rng, size)))
    return np.maximum(np.rint(values), 1).astype(np.int64)


def _tokens(spec: LogNormalSpec, z: FloatArray) -> FloatArray:
    """Whole token counts from standard normals for a lognormal median/p90 spec."""
    if spec.median <= 0:
        return np.zeros_like(z)
    return np.rint(spec.median * np.exp(spec.sigma * z))


def _model_index(models: tuple[ModelOption, ...], u: FloatArray) -> np.ndarray:
    """Pick a model per request by inverse CDF of the mix shares (shares sum to 1)."""
    edges = np.cumsum([m.share for m in models])
    edges[-1] = np.inf  # rounding of the shares can never leave a request without a model
    return np.searchsorted(edges, u, side="right")


def price_pool(workload: Workload, draws: PoolDraws) -> RequestPool:
    """Price every request of the pool for ``workload`` using the pool's random numbers."""
    n_requests = draws.calls.size
    call_request = np.repeat(np.arange(n_requests), draws.calls)
    model_of_request = _model_index(workload.models, draws.u_model)
    batch_of_request = draws.u_batch < workload.batch_share
    hit_of_request = draws.u_hit < workload.response_cache_hit_rate

    input_total = _tokens(workload.input_tokens, draws.z_input) * (1.0 - workload.distillation)
    input_total = np.rint(input_total)
    cache_read = np.rint(input_total * workload.prompt_cache_share)
    cache_write = np.rint(input_total * workload.prompt_cache_write_share)
    uncached = np.maximum(input_total - cache_read - cache_write, 0.0)
    output = _tokens(workload.output_tokens, draws.z_output)
    reasoning_all = (
        _tokens(workload.reasoning_tokens, draws.z_reasoning)
        if workload.reasoning_tokens is not None
        else np.zeros_like(output)
    )

    call_model = model_of_request[call_request]
    call_batch = batch_of_request[call_request]
    call_cost = np.zeros(call_request.size)
    for index, option in enumerate(workload.models):
        reasoning = reasoning_all if option.uses_reasoning else np.zeros_like(reasoning_all)
        for batch in (False, True):
            pricer = option.batch_pricer if (batch and option.batch_pricer is not None) else option.pricer
            mask = (call_model == index) & (call_batch == batch)
            if not mask.any():
                continue
            tokens = TokenBatch(
                input_tokens=uncached[mask],
                cache_read_tokens=cache_read[mask],
                cache_write_tokens=cache_write[mask],
                output_tokens=output[mask],
                reasoning_tokens=reasoning[mask],
            )
            call_cost[mask] = np.asarray(pricer(tokens), dtype=np.float64)
    if not np.all(np.isfinite(call_cost)) or np.any(call_cost < 0):
        raise ValueError(f"workload {workload.key!r}: a pricer returned a negative or non-finite cost")
    request_cost = np.asarray(
        np.bincount(call_request, weights=call_cost, minlength=n_requests), dtype=np.float64
    )
    request_cost[hit_of_request] = 0.0
    model_cost = np.bincount(model_of_request, weights=request_cost, minlength=len(workload.models))
    total = model_cost.sum()
    shares = model_cost / total if total > 0 else np.full(len(workload.models), 1.0 / len(workload.models))
    return RequestPool(
        costs=request_cost,
        model_keys=tuple(m.key for m in workload.models),
        model_cost=shares,
    )


def table_row_sizes() -> np.ndarray:
    """The ``n`` of every table row: 0..DIRECT_ROWS, then ROWS_PER_OCTAVE per doubling."""
    sizes = list(range(DIRECT_ROWS + 1))
    base = DIRECT_ROWS
    while base < MAX_TABLE_N:
        for step in range(1, ROWS_PER_OCTAVE + 1):
            sizes.append(base + base * step // ROWS_PER_OCTAVE)
        base *= 2
    return np.asarray(sizes, dtype=np.int64)


@dataclass(frozen=True)
class MonthlyCostTable:
    """The distribution of the monthly cost ``S_n`` of ``n`` served requests, for every n.

    ``z_atoms[r]`` are the standardised atoms of row ``r`` (row sizes in ``row_sizes``);
    ``row_lo/row_hi/row_weight`` map any ``n <= MAX_TABLE_N`` to its bracketing rows and the
    interpolation weight (in ``1/sqrt(n)``).
    """

    mean: float
    std: float
    row_sizes: np.ndarray
    z_atoms: FloatArray
    row_lo: np.ndarray
    row_hi: np.ndarray
    row_weight: FloatArray

    def monthly_cost(self, n: np.ndarray, u: FloatArray) -> FloatArray:
        """Monthly cost for served-request counts ``n`` given uniforms ``u`` in [0, 1)."""
        if self.std == 0.0:
            return n * self.mean
        n_row = np.minimum(n, MAX_TABLE_N)
        atom = (u * ATOMS).astype(np.int64)
        lo = self.row_lo[n_row]
        hi = self.row_hi[n_row]
        w = self.row_weight[n_row]
        flat = self.z_atoms.ravel()
        z = flat[lo * ATOMS + atom]
        z += w * (flat[hi * ATOMS + atom] - z)
        cost = n * self.mean + np.sqrt(n) * self.std * z
        return np.maximum(cost, 0.0)


def build_cost_table(pool: RequestPool, rng: np.random.Generator) -> MonthlyCostTable:
    """Build the S_n table from a request pool (see the module docstring)."""
    sizes = table_row_sizes()
    mean, std = pool.mean, pool.std
    row_lo, row_hi, row_weight = _row_lookup(sizes)
    if std == 0.0:
        z = np.zeros((sizes.size, ATOMS))
        return MonthlyCostTable(mean, std, sizes, z, row_lo, row_hi, row_weight)

    z_atoms = np.zeros((sizes.size, ATOMS))
    row_of_size = {int(s): i for i, s in enumerate(sizes)}
    path_sums: dict[int, FloatArray] = {}
    running = np.zeros(PATHS)
    for n in range(1, DIRECT_ROWS + 1):
        running += pool.costs[rng.integers(0, pool.costs.size, PATHS)]
        if n in (DIRECT_ROWS // 4, DIRECT_ROWS // 2, DIRECT_ROWS):
            path_sums[n] = running[:DOUBLING_PATHS].copy()
        z_atoms[row_of_size[n]] = _standardised_atoms(running, n, mean, std)
    # Beyond DIRECT_ROWS: S_{b + b*k/4} = S_b + S_{b*k/4}, summing independently permuted paths.
    base = DIRECT_ROWS
    while base < MAX_TABLE_N:
        quarter = base // 4
        parts = {
            1: [quarter],
            2: [2 * quarter],
            3: [2 * quarter, quarter],
            4: [base],
        }
        for step in range(1, ROWS_PER_OCTAVE + 1):
            total = path_sums[base].copy()
            for part in parts[step]:
                # Rolling by a random offset pairs each path with another, independent one.
                total += np.roll(path_sums[part], int(rng.integers(1, DOUBLING_PATHS)))
            n = base + base * step // ROWS_PER_OCTAVE
            if step in (2, 4):
                path_sums[n] = total
            z_atoms[row_of_size[n]] = _standardised_atoms(total, n, mean, std)
        path_sums = {k: v for k, v in path_sums.items() if k >= base // 2}
        base *= 2
    return MonthlyCostTable(mean, std, sizes, z_atoms, row_lo, row_hi, row_weight)


def _standardised_atoms(sums: FloatArray, n: int, mean: float, std: float) -> FloatArray:
    """Conditional means of ``sums`` over ATOMS equal-probability slices, standardised.

    Computed from a fine log-spaced histogram (counts and sums per bin) instead of a sort:
    the cumulative sum as a function of the cumulative count is interpolated at the slice
    boundaries. Atoms are then shifted so their mean is exactly 0, i.e. E[S_n] = n * mean.
    """
    positive = sums > 0
    zero_count = sums.size - int(positive.sum())
    values = sums[positive]
    if values.size:
        logs = np.log10(values)
        lo = np.floor(logs.min() * _ROW_BINS_PER_DECADE) / _ROW_BINS_PER_DECADE
        index = ((logs - lo) * _ROW_BINS_PER_DECADE).astype(np.int64)
        counts: FloatArray = np.bincount(index).astype(np.float64)
        totals: FloatArray = np.bincount(index, weights=values).astype(np.float64)
    else:
        counts = np.zeros(0)
        totals = np.zeros(0)
    cum_count = np.concatenate(([0.0, float(zero_count)], zero_count + np.cumsum(counts)))
    cum_total = np.concatenate(([0.0, 0.0], np.cumsum(totals)))
    boundaries = np.linspace(0.0, float(sums.size), ATOMS + 1)
    cum_at = np.interp(boundaries, cum_count, cum_total)
    atoms = np.diff(cum_at) * (ATOMS / sums.size)
    z = (atoms - n * mean) / (np.sqrt(n) * std)
    return z - z.mean()


def _row_lookup(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, FloatArray]:
    """For every n in 0..MAX_TABLE_N: the rows below/above and the weight of the upper row."""
    n = np.arange(MAX_TABLE_N + 1)
    hi = np.searchsorted(sizes, n, side="left")
    hi = np.minimum(hi, sizes.size - 1)
    exact = sizes[hi] == n
    lo = np.where(exact, hi, hi - 1)
    n_lo = sizes[lo].astype(np.float64)
    n_hi = sizes[hi].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.sqrt(np.maximum(n, 1))
        inv_lo = 1.0 / np.sqrt(np.maximum(n_lo, 1))
        inv_hi = 1.0 / np.sqrt(np.maximum(n_hi, 1))
        weight = np.where(exact, 0.0, (inv_lo - inv) / (inv_lo - inv_hi))
    return lo.astype(np.int64), hi.astype(np.int64), weight


def workload_with_lever(workload: Workload, lever: Lever) -> Workload:
    """Return ``workload`` with ``lever``'s changes applied (a ``None`` field keeps the baseline).

    Routing moves ``routing_share`` of every other model's requests to ``routing_model``. The
    lever's ``workloads`` scope is the caller's to check.
    """
    routing_model, routing_share = lever.routing_model, lever.routing_share
    changed = workload
    if routing_model is not None and routing_share is not None and routing_share > 0:
        # Keep the original order of the mix so the shared uniforms pick the same models where
        # the lever changes nothing (common random numbers).
        models = [
            replace(m, share=m.share if m.key == routing_model.key else m.share * (1.0 - routing_share))
            for m in workload.models
        ]
        moved = sum(m.share for m in workload.models if m.key != routing_model.key) * routing_share
        if any(m.key == routing_model.key for m in workload.models):
            models = [replace(m, share=m.share + moved) if m.key == routing_model.key else m for m in models]
        else:
            models.append(replace(routing_model, share=moved))
        changed = replace(changed, models=tuple(models))
    return replace(
        changed,
        response_cache_hit_rate=_or(lever.response_cache_hit_rate, changed.response_cache_hit_rate),
        prompt_cache_share=_or(lever.prompt_cache_share, changed.prompt_cache_share),
        distillation=_or(lever.distillation, changed.distillation),
        batch_share=_or(lever.batch_share, changed.batch_share),
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
