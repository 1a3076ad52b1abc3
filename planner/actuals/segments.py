"""User segments of a tier from a joint latent-class fit of its workloads (pure numpy/scipy).

An observation is one customer-month of a tier: a vector of request counts, one per workload of
the tier (0 when none). The model has K latent classes with shares ``pi_k``; within class ``k``
the workloads are independent gamma-Poisson (negative binomial) counts with mean ``mu_kw`` and
shape ``r_kw``, the parametrisation of ``planner.actuals.fitting``. It is fitted by maximum
likelihood with EM from several deterministic starts (the best after a short run continues; a
start in which a class falls below one observation's weight is dropped, and K - 1 classes are
fitted if all are). With K = 1 it is the per-workload ``gamma_poisson_fit`` (same likelihood).

``parameters = (K - 1) + 2 K W`` (a Poisson-limit shape still counts) and
``bic = -2 log-likelihood + parameters ln(n)``. ``segments_proposed`` proposes two segments when
the two-class fit lowers the BIC of the one-class fit by at least ``min_bic_gain`` (10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from planner.actuals.fitting import MAX_SHAPE, MIN_SHAPE

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

DEFAULT_STARTS = 4
DEFAULT_MAX_ITERATIONS = 500
#: EM stops when an iteration changes the log-likelihood by less than this per observation (0.01
#: in all for 2,000 observations: the BIC rule works in units of 10).
DEFAULT_TOLERANCE = 5e-6
#: All starts run this many EM iterations side by side; the best then runs to convergence.
SHORT_RUN = 10
_LOG_MIN, _LOG_MAX = math.log(MIN_SHAPE), math.log(MAX_SHAPE)


@dataclass(frozen=True)
class SegmentClass:
    """One latent class: its share of the observations and, per workload, the gamma intensity."""

    share: float
    means: tuple[float, ...]
    shapes: tuple[float, ...]


@dataclass(frozen=True)
class LatentClassFit:
    """A K-class fit; ``classes`` by share, largest first (one fewer than asked when a class
    collapsed in every start)."""

    classes: tuple[SegmentClass, ...]
    log_likelihood: float
    parameters: int
    n: int
    bic: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class SegmentProposal:
    """Two segments proposed for a tier: both fits and ``single.bic - mixture.bic``."""

    single: LatentClassFit
    mixture: LatentClassFit
    bic_gain: float


@dataclass(frozen=True)
class _Data:
    """Identical rows collapsed (``weights`` counts each). ``values`` holds the distinct counts of
    each workload in turn (``offsets``: where each workload starts, ``owner``: the workload of
    each value); ``flat[w, i]`` is where row ``i``'s count of workload ``w`` is in ``values``."""

    weights: Array
    values: Array
    offsets: npt.NDArray[np.intp]
    owner: npt.NDArray[np.intp]
    flat: npt.NDArray[np.intp]
    n: int
    constant: float  # sum of -ln(x!) over all observations and workloads


def _prepare(counts: npt.ArrayLike, classes: int) -> _Data:
    if isinstance(classes, bool) or not isinstance(classes, int | np.integer) or classes < 1:
        raise ValueError("classes must be an integer of at least 1.")
    try:
        observed = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError("counts must be numeric.") from error
    if observed.ndim != 2 or observed.shape[1] < 1:
        raise ValueError("counts must be 2-D: one row per customer-month, one column per workload.")
    if not np.all(np.isfinite(observed)) or np.any(observed < 0) or np.any(observed != np.round(observed)):
        raise ValueError("counts must be finite non-negative integers.")
    needed = max(2, 2 * classes)
    if observed.shape[0] < needed:
        raise ValueError(f"counts needs at least {needed} rows (customer-months) for {classes} class(es).")
    rows, multiplicity = np.unique(observed, axis=0, return_counts=True)
    columns = [np.unique(column, return_inverse=True) for column in rows.T]
    sizes = np.array([len(distinct) for distinct, _ in columns])
    offsets = np.cumsum(sizes) - sizes
    weights = multiplicity.astype(np.float64)
    return _Data(
        weights=weights,
        values=np.concatenate([distinct for distinct, _ in columns]),
        offsets=offsets,
        owner=np.repeat(np.arange(len(sizes)), sizes),
        flat=np.stack([start + inv.reshape(-1) for start, (_, inv) in zip(offsets, columns, strict=True)]),
        n=int(observed.shape[0]),
        constant=-float(np.dot(weights, special.gammaln(rows + 1).sum(axis=1))),
    )


def _shape_mle(data: _Data, totals: Array, counts: Array, means: Array, start: Array, active: Mask) -> Array:
    """(S, K, W) shapes maximising each weighted log-likelihood (``counts``: the weight of each
    distinct count) in log(shape) on [ln MIN_SHAPE, ln MAX_SHAPE]. The profile score changes
    sign once (+ to -) on over-dispersed data: secant steps on it, bisection when a step leaves
    the bracket, until log(shape) moves less than 1e-7 in every ``active`` (start, class,
    workload); to the upper bound if the score never turns negative."""

    def score(t: Array) -> Array:
        r = np.exp(t)
        terms = counts * special.digamma(data.values + r[..., data.owner])
        gain = np.add.reduceat(terms, data.offsets, axis=2)
        return gain - totals[..., None] * (special.digamma(r) + np.log1p(means / r))

    low, high = np.full(means.shape, _LOG_MIN), np.full(means.shape, _LOG_MAX)
    t = np.clip(np.log(start), _LOG_MIN + 1e-3, _LOG_MAX - 1e-3)
    previous_t, previous = t + 1e-4, score(t + 1e-4)
    for _ in range(200):
        current = score(t)
        rising = current > 0
        low, high = np.where(rising, t, low), np.where(rising, high, t)
        with np.errstate(divide="ignore", invalid="ignore"):
            secant = t - current * (t - previous_t) / (current - previous)
        step = np.where((secant > low) & (secant < high), secant, (low + high) / 2)
        previous_t, previous, t = t, current, step
        if np.all((np.abs(step - previous_t) < 1e-7) | ~active):
            break
    return np.exp(np.clip(t, _LOG_MIN, _LOG_MAX))


@dataclass
class _Batch:
    """EM state of S starts side by side: arrays (S, K, ...)."""

    responsibilities: Array  # (S, K, N)
    shapes: Array  # (S, K, W): last M-step's, warm start of the next
    means: Array
    log_shares: Array  # (S, K)
    log_likelihood: Array  # (S,)
    iterations: int = 0
    converged: bool = False

    def select(self, keep: Mask | list[int]) -> _Batch:
        arrays = (self.responsibilities, self.shapes, self.means, self.log_shares, self.log_likelihood)
        responsibilities, shapes, means, log_shares, log_likelihood = (array[keep] for array in arrays)
        return _Batch(responsibilities, shapes, means, log_shares, log_likelihood, self.iterations)


def _maximise(data: _Data, batch: _Batch) -> Mask:
    """M-step: shares, weighted means (the closed-form MLE) and shapes (Poisson limit when the
    weighted variance is at most the mean). Returns which starts kept every class at a weight of
    at least one observation."""
    weighted = batch.responsibilities * data.weights
    totals = weighted.sum(axis=2)
    (s, k), size = totals.shape, len(data.values)
    index = np.arange(s * k)[:, None, None] * size + data.flat
    spread = np.broadcast_to(weighted.reshape(s * k, 1, -1), index.shape)
    counts = np.bincount(index.ravel(), spread.ravel(), s * k * size).reshape(s, k, size).astype(np.float64)
    divisor = np.maximum(totals, 1e-300)[..., None]  # collapsed classes: no NaN, the start is dropped
    means = np.add.reduceat(counts * data.values, data.offsets, axis=2) / divisor
    deviations = counts * (data.values - means[..., data.owner]) ** 2
    variance = np.add.reduceat(deviations, data.offsets, axis=2) / np.maximum(divisor - 1, 1e-12)
    dispersed = (variance > means) & (means > 0)
    shapes = np.full_like(means, MAX_SHAPE)
    if np.any(dispersed):
        solved = _shape_mle(data, totals, counts, means, np.minimum(batch.shapes, MAX_SHAPE / 2), dispersed)
        shapes = np.where(dispersed, solved, MAX_SHAPE)
    batch.means, batch.shapes = means, shapes
    with np.errstate(divide="ignore"):
        batch.log_shares = np.log(totals / data.n)
    return totals.min(axis=1) >= 1.0


def _expect(data: _Data, batch: _Batch) -> Array:
    """E-step in log space (log-sum-exp over classes); returns each start's log-likelihood."""
    v, mu, r = data.values, batch.means[..., data.owner], batch.shapes[..., data.owner]
    with np.errstate(divide="ignore"):
        rate = np.log(r + mu)
        table = special.gammaln(v + r) - special.gammaln(r) + r * (np.log(r) - rate) + special.xlogy(v, mu)
    table -= v * rate
    joint = np.take(table, data.flat, axis=2).sum(axis=2) + batch.log_shares[..., None]
    top = joint.max(axis=1)
    total = top + np.log(np.exp(joint - top[:, None]).sum(axis=1))
    batch.responsibilities = np.exp(joint - total[:, None])
    return total @ data.weights + data.constant


def _run(data: _Data, batch: _Batch, iterations: int, tolerance: float) -> _Batch:
    """Up to ``iterations`` EM steps, until no start's log-likelihood changes by ``tolerance`` x n.
    Starts in which a class collapses are dropped; the batch may come back empty."""
    for _ in range(iterations):
        alive = _maximise(data, batch)
        if not np.all(alive):
            batch = batch.select(alive)
            if not len(batch.log_likelihood):
                return batch
        log_likelihood = _expect(data, batch)
        batch.converged = bool(np.all(np.abs(log_likelihood - batch.log_likelihood) < tolerance * data.n))
        batch.log_likelihood, batch.iterations = log_likelihood, batch.iterations + 1
        if batch.converged:
            break
    return batch


def _starts(data: _Data, classes: int, starts: int, seed: int) -> Array:
    """(S, K, N) initial responsibilities: hard splits by quantiles of the total log1p counts
    (equal groups; then the top 10% per upper class), then random ones."""
    if classes == 1:
        return np.ones((1, 1, len(data.weights)))
    rows = data.values[data.flat]
    order = np.argsort(np.log1p(rows).sum(axis=0), kind="stable")
    position = np.empty(len(order))
    position[order] = (np.cumsum(data.weights[order]) - data.weights[order] / 2) / data.n
    top = min(0.1, 1 / classes)
    splits = [np.arange(1, classes) / classes, 1 - top * np.arange(classes - 1, 0, -1)]
    initial = [np.searchsorted(cuts, position)[None] == np.arange(classes)[:, None] for cuts in splits]
    rng = np.random.default_rng(seed)
    while len(initial) < starts:
        initial.append(rng.dirichlet(np.ones(classes), size=len(data.weights)).T)
    return np.stack(initial[:starts]).astype(np.float64)


def _fit(
    data: _Data, classes: int, seed: int, starts: int, max_iterations: int, tolerance: float
) -> LatentClassFit:
    w = len(data.offsets)
    initial = _starts(data, classes, starts, seed)
    s = len(initial)
    zeros = np.zeros((s, classes, w))
    batch = _Batch(initial, zeros + 1, zeros, np.zeros((s, classes)), np.full(s, -np.inf))
    batch = _run(data, batch, min(SHORT_RUN, max_iterations), tolerance)
    if len(batch.log_likelihood):
        batch = batch.select([int(np.argmax(batch.log_likelihood))])
        if not batch.converged:
            batch = _run(data, batch, max_iterations - batch.iterations, tolerance)
    if not len(batch.log_likelihood):
        return _fit(data, classes - 1, seed, starts, max_iterations, tolerance)
    shares, means, shapes = np.exp(batch.log_shares[0]), batch.means[0], batch.shapes[0]
    found = tuple(
        SegmentClass(float(shares[c]), tuple(map(float, means[c])), tuple(map(float, shapes[c])))
        for c in np.argsort(-shares, kind="stable")
    )
    parameters = (classes - 1) + 2 * classes * w
    log_likelihood = float(batch.log_likelihood[0])
    bic = -2 * log_likelihood + parameters * math.log(data.n)
    return LatentClassFit(found, log_likelihood, parameters, data.n, bic, batch.iterations, batch.converged)


def latent_class_fit(
    counts: npt.ArrayLike,
    classes: int,
    *,
    seed: int = 0,
    starts: int = DEFAULT_STARTS,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    tolerance: float = DEFAULT_TOLERANCE,
) -> LatentClassFit:
    """Maximum-likelihood ``classes``-class fit of ``counts`` (rows: customer-months, columns:
    workloads; at least 2 rows per class).

    EM from ``starts`` starts (``_starts``; the random ones from ``default_rng(seed)``): all run
    ``SHORT_RUN`` iterations, the best continues until an iteration changes the log-likelihood
    by less than ``tolerance`` per observation (``converged``) or ``max_iterations`` are done.
    Raises ValueError naming ``counts``, ``classes``, ``starts`` or ``max_iterations`` when one
    is invalid.
    """
    data = _prepare(counts, classes)
    if starts < 1 or max_iterations < 1:
        raise ValueError("starts and max_iterations must be at least 1.")
    return _fit(data, classes, seed, starts, max_iterations, tolerance)


def segments_proposed(
    counts: npt.ArrayLike, *, min_bic_gain: float = 10.0, seed: int = 0
) -> SegmentProposal | None:
    """The one- and two-class fits of ``counts`` when the two-class fit lowers the BIC by at least
    ``min_bic_gain``; None otherwise (also when a class collapsed in every start)."""
    data = _prepare(counts, 2)
    single = _fit(data, 1, seed, 1, DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE)
    mixture = _fit(data, 2, seed, DEFAULT_STARTS, DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE)
    gain = single.bic - mixture.bic
    if len(mixture.classes) < 2 or gain < min_bic_gain:
        return None
    return SegmentProposal(single=single, mixture=mixture, bic_gain=gain)
