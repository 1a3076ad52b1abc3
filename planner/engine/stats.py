"""Mergeable statistics and their Monte Carlo errors.

Per-user figures are accumulated into fixed bins so that blocks merge by addition (in block
order, so float sums are deterministic) and memory stays flat in the number of users:

- COGS per user-month: a zero bin plus log-spaced bins from ``COGS_MIN`` to ``COGS_MAX`` with
  ``COGS_BINS_PER_DECADE`` bins per decade (each bin 1.16% wide; a percentile read from them
  carries at most half a bin, 0.58%, of binning error, stated in the results).
- Margin per user-month: signed log bins (a symmetric ``MARGIN_BINS_PER_DECADE`` per decade
  from ``MARGIN_MIN`` to ``MARGIN_MAX`` on each side, plus one bin for |margin| < MARGIN_MIN).

Errors are simulation noise, not business uncertainty: batch means across fixed user batches
for means, Wilson intervals for shares and binomial rank intervals for percentiles.
"""

from __future__ import annotations

import numpy as np

from planner.engine.types import FloatArray

COGS_MIN = 1e-6
COGS_MAX = 1e6
COGS_BINS_PER_DECADE = 200
COGS_LOG_BINS = int(round(np.log10(COGS_MAX / COGS_MIN))) * COGS_BINS_PER_DECADE
#: Bin 0 holds exact zeros; bins 1..COGS_LOG_BINS are log-spaced.
COGS_BINS = COGS_LOG_BINS + 1
COGS_BIN_REL_WIDTH = 10 ** (1 / COGS_BINS_PER_DECADE) - 1

MARGIN_MIN = 1e-3
MARGIN_MAX = 1e6
MARGIN_BINS_PER_DECADE = 50
_MARGIN_SIDE = int(round(np.log10(MARGIN_MAX / MARGIN_MIN))) * MARGIN_BINS_PER_DECADE
#: Negative side (most negative first), a middle bin, positive side.
MARGIN_BINS = 2 * _MARGIN_SIDE + 1

#: Two-sided 95% normal quantile for intervals.
Z95 = 1.959963984540054


def cogs_bin_index(cogs: FloatArray) -> np.ndarray:
    """Bin index of each COGS value (0 for zero cost)."""
    with np.errstate(divide="ignore"):
        logs = np.log10(np.maximum(cogs, COGS_MIN))
    index = ((logs - np.log10(COGS_MIN)) * COGS_BINS_PER_DECADE).astype(np.int64) + 1
    index = np.minimum(index, COGS_LOG_BINS)
    return np.where(cogs > 0, index, 0)


def cogs_bin_edges() -> FloatArray:
    """Edges of the log-spaced COGS bins 1..COGS_LOG_BINS (length COGS_LOG_BINS + 1)."""
    return COGS_MIN * 10 ** (np.arange(COGS_LOG_BINS + 1) / COGS_BINS_PER_DECADE)


def margin_bin_index(margin: FloatArray) -> np.ndarray:
    """Bin index of each margin value in the signed log bins."""
    magnitude = np.abs(margin)
    with np.errstate(divide="ignore"):
        logs = np.log10(np.maximum(magnitude, MARGIN_MIN))
    offset = np.minimum(
        ((logs - np.log10(MARGIN_MIN)) * MARGIN_BINS_PER_DECADE).astype(np.int64), _MARGIN_SIDE - 1
    )
    small = magnitude < MARGIN_MIN
    index = np.where(margin > 0, _MARGIN_SIDE + 1 + offset, _MARGIN_SIDE - 1 - offset)
    return np.where(small, _MARGIN_SIDE, index)


def margin_bin_edges() -> FloatArray:
    """Edges of all margin bins, ascending (length MARGIN_BINS + 1)."""
    positive = MARGIN_MIN * 10 ** (np.arange(_MARGIN_SIDE + 1) / MARGIN_BINS_PER_DECADE)
    return np.concatenate((-positive[::-1], positive))


def histogram_quantile(counts: np.ndarray, edges: FloatArray, q: float, *, geometric: bool) -> float:
    """The ``q`` quantile of values binned with ``counts`` over ``edges`` (len(counts)+1).

    Inside the bin the cumulative count is interpolated linearly, in log space for geometric
    bins. Returns 0.0 for an empty histogram.
    """
    total = counts.sum()
    if total <= 0:
        return 0.0
    target = q * total
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, target, side="left"))
    index = min(index, counts.size - 1)
    before = cumulative[index - 1] if index > 0 else 0.0
    fraction = (target - before) / counts[index] if counts[index] > 0 else 0.0
    lo, hi = edges[index], edges[index + 1]
    if geometric and lo > 0 and hi > 0:
        return float(lo * (hi / lo) ** fraction)
    return float(lo + (hi - lo) * fraction)


def cogs_quantile(counts: np.ndarray, q: float) -> float:
    """Quantile of COGS per user-month from the COGS histogram (bin 0 = exact zero)."""
    total = counts.sum()
    if total <= 0:
        return 0.0
    zeros = counts[0]
    if q * total <= zeros:
        return 0.0
    edges = cogs_bin_edges()
    q_positive = (q * total - zeros) / (total - zeros)
    return histogram_quantile(counts[1:], edges, q_positive, geometric=True)


def cogs_quantile_interval(counts: np.ndarray, q: float) -> tuple[float, float]:
    """95% Monte Carlo interval of a COGS quantile from the binomial spread of its rank."""
    total = float(counts.sum())
    if total <= 0:
        return 0.0, 0.0
    spread = Z95 * np.sqrt(q * (1 - q) / total)
    return cogs_quantile(counts, max(q - spread, 0.0)), cogs_quantile(counts, min(q + spread, 1.0))


def top_share(counts: np.ndarray, sums: FloatArray, fraction: float) -> float:
    """Share of total COGS carried by the top ``fraction`` of users, from binned counts/sums.

    The bin that straddles the cut contributes pro rata to its count.
    """
    total_sum = sums.sum()
    total = counts.sum()
    if total_sum <= 0 or total <= 0:
        return 0.0
    need = fraction * total
    taken = 0.0
    carried = 0.0
    for index in range(counts.size - 1, -1, -1):
        c = counts[index]
        if c <= 0:
            continue
        if taken + c >= need:
            carried += sums[index] * (need - taken) / c
            break
        taken += c
        carried += sums[index]
    return float(carried / total_sum)


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial share; (0, 0) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 0.0
    p = successes / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def ratio_mean_and_error(sums: FloatArray, counts: FloatArray) -> tuple[float, float]:
    """Mean ``sum(sums)/sum(counts)`` and its batch-means standard error.

    ``sums`` and ``counts`` hold one entry per batch of users. The error is the standard ratio
    estimator's, ``sqrt(B/(B-1) * sum((s_b - m c_b)^2)) / sum(c)``; 0 with fewer than 2 batches.
    """
    used = counts > 0
    sums, counts = sums[used], counts[used]
    total = counts.sum()
    if total <= 0:
        return 0.0, 0.0
    mean = float(sums.sum() / total)
    batches = sums.size
    if batches < 2:
        return mean, 0.0
    residual = sums - mean * counts
    error = np.sqrt(batches / (batches - 1) * np.sum(residual**2)) / total
    return mean, float(error)


def ratio_influence(sums: FloatArray, counts: FloatArray) -> FloatArray:
    """Per-batch influence of the ratio ``sum(sums)/sum(counts)``: ``(s_b - r c_b) / sum(c)``.

    The ratio estimator's error is ``sqrt(B/(B-1) * sum(influence**2))``
    (:func:`ratio_mean_and_error`); the error of a *difference* of ratios measured on the same
    batches is the same formula applied to the difference of their influences
    (:func:`paired_error`), which is how common random numbers show up as a small error.
    """
    total = float(counts.sum())
    if total <= 0:
        return np.zeros_like(sums)
    return (sums - (float(sums.sum()) / total) * counts) / total


def paired_error(influence: FloatArray) -> float:
    """Batch-means standard error from per-batch influences (0 with fewer than 2 batches)."""
    batches = influence.size
    if batches < 2:
        return 0.0
    return float(np.sqrt(batches / (batches - 1) * np.sum(influence**2)))


def share_change_error(change: float, flips: float, n: float) -> float:
    """Standard error of the change of a share measured on the same ``n`` users.

    Each user's change is -1, 0 or +1, so the change's variance per user is ``E[d^2] - E[d]^2``
    with ``E[d^2]`` the share of users whose status changed (``flips / n``). Users are
    independent, so this holds for rare changes where batch means (a handful of events spread
    over batches) are unreliable; the flip share gets the Agresti-Coull adjustment
    ``(flips + 2) / (n + 4)`` so that a change seen in no or few users still carries an error.
    """
    if n <= 1:
        return 0.0
    second_moment = (flips + 2.0) / (n + 4.0)
    return float(np.sqrt(max(second_moment - change**2, 0.0) / n))
