"""Fitting usage distributions to observed monthly request counts (pure numpy/scipy).

Observed counts include Poisson noise around each user's latent intensity, so a distribution of
intensities is fitted as a Poisson mixture: a gamma intensity with mean ``mean`` and shape
``shape`` makes the counts negative binomial, fitted here by maximum likelihood. That gamma is
what a ``UsageDistribution(kind="gamma")`` describes, so a fit seeds a scenario directly.

For this parametrisation the MLE of the mean is the sample mean and the Fisher information is
diagonal in (mean, shape), so each standard error comes from its own curvature:
``se(mean) = sqrt((mean + mean**2 / shape) / n)`` and ``se(shape) = 1 / sqrt(J)`` with ``J`` the
observed information of the profile log-likelihood in ``shape``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

#: Shapes above this are indistinguishable from a constant intensity (pure Poisson counts).
MAX_SHAPE = 1e6
MIN_SHAPE = 1e-4


@dataclass(frozen=True)
class GammaPoissonFit:
    """Maximum-likelihood gamma intensity behind negative-binomial counts.

    ``poisson_limit`` is true when the counts show no more spread than Poisson noise (sample
    variance at most the mean): the intensity is then fitted as (almost) constant and ``shape``
    is ``MAX_SHAPE``. ``shape_se`` is None in that case.
    """

    n: int
    mean: float
    shape: float
    mean_se: float
    shape_se: float | None
    log_likelihood: float
    zero_share: float
    poisson_limit: bool


def _log_likelihood(
    shape: float, mean: float, values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
) -> float:
    terms = (
        special.gammaln(values + shape)
        - special.gammaln(shape)
        - special.gammaln(values + 1)
        + shape * (math.log(shape) - math.log(shape + mean))
        + special.xlogy(values, mean)
        - values * math.log(shape + mean)
    )
    return float(np.dot(weights, terms))


def gamma_poisson_fit(counts: npt.ArrayLike) -> GammaPoissonFit:
    """Fit a gamma-Poisson (negative binomial) to non-negative integer ``counts`` (at least 2)."""
    observed = np.asarray(counts, dtype=np.float64)
    if observed.ndim != 1 or observed.size < 2:
        raise ValueError("Need at least 2 observed counts to fit a distribution.")
    if not np.all(np.isfinite(observed)) or np.any(observed < 0) or np.any(observed != np.round(observed)):
        raise ValueError("Counts must be finite non-negative integers.")
    values, multiplicity = np.unique(observed, return_counts=True)
    weights = multiplicity.astype(np.float64)
    n = int(observed.size)
    mean = float(observed.mean())
    zero_share = float(weights[0] / n) if values[0] == 0 else 0.0
    if mean == 0:
        return GammaPoissonFit(n, 0.0, MAX_SHAPE, 0.0, None, 0.0, 1.0, True)
    variance = float(observed.var(ddof=1))
    if variance <= mean:
        shape = MAX_SHAPE
        poisson = True
    else:
        # Moment estimate as a starting bracket, then the bounded profile-likelihood maximum.
        result = optimize.minimize_scalar(
            lambda log_shape: -_log_likelihood(math.exp(log_shape), mean, values, weights),
            bounds=(math.log(MIN_SHAPE), math.log(MAX_SHAPE)),
            method="bounded",
            options={"xatol": 1e-10},
        )
        shape = math.exp(float(result.x))
        poisson = shape >= MAX_SHAPE * 0.999
    mean_se = math.sqrt((mean + mean**2 / shape) / n)
    shape_se: float | None = None
    if not poisson:
        information = -(
            float(np.dot(weights, special.polygamma(1, values + shape) - special.polygamma(1, shape)))
            + n * (1 / shape - 1 / (shape + mean))
        )
        shape_se = 1 / math.sqrt(information) if information > 0 else None
    return GammaPoissonFit(
        n=n,
        mean=mean,
        shape=shape,
        mean_se=mean_se,
        shape_se=shape_se,
        log_likelihood=_log_likelihood(shape, mean, values, weights),
        zero_share=zero_share,
        poisson_limit=poisson,
    )
