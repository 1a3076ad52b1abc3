"""Users' latent usage intensity: marginal distributions tied by a Gaussian copula.

A user's intensity for a workload is their *expected* requests per month. Intensities of one
user across workloads are dependent through a Gaussian copula with the scenario's correlation
matrix (heavy users tend to be heavy everywhere): draw correlated standard normals ``z``, map
each to a uniform ``Phi(z)`` and through the workload's inverse CDF. Lognormal marginals skip
the uniform step (``median * exp(sigma * z)`` is the same map, exactly).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from planner.engine.types import Z90, FloatArray, UsageDist

#: Intensities are capped here so Poisson draws stay defined; far above any real usage.
MAX_INTENSITY = 1e9


#: Decimals the copula factor is rounded to (see ``copula_factor``).
FACTOR_DECIMALS = 12


def copula_factor(correlation: np.ndarray) -> FloatArray:
    """The principal square root ``L`` of a PSD (possibly singular) correlation matrix:
    symmetric, ``L @ L == L @ L.T == correlation``.

    An eigen-decomposition is used instead of Cholesky so perfectly correlated workloads (a
    singular matrix) are allowed. The factor is ``V sqrt(D) V.T``, not ``V sqrt(D)``: eigenvectors
    are unique only up to sign, and up to any rotation within a repeated eigenvalue (every
    matrix with one correlation for all pairs has one), so LAPACK kernels of different CPUs
    return different ``V`` and ``V sqrt(D)`` turned the same seed into different users on
    different machines. The principal square root is unique, so it is the same everywhere up
    to rounding, which is then removed (docs/ENGINE.md, "Reproducibility across machines").
    """
    matrix = np.asarray(correlation, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError("correlation must be a square matrix")
    if not np.allclose(matrix, matrix.T, atol=1e-12):
        raise ValueError("correlation must be symmetric")
    if not np.allclose(np.diag(matrix), 1.0):
        raise ValueError("correlation must have a unit diagonal")
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    if eigenvalues.min() < -1e-9:
        raise ValueError("correlation matrix is not positive semi-definite")
    root = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T
    # Kernels differ in the last bits; 12 decimals keep the factor exact to 1e-12 and equal on
    # every machine unless an entry falls within a few ulps of a rounding boundary.
    return np.round((root + root.T) / 2.0, FACTOR_DECIMALS)


def correlated_normals(factor: FloatArray, n_users: int, rng: np.random.Generator) -> FloatArray:
    """Standard normals of shape (workloads, n_users) with the copula's correlation.

    ``factor @ independent`` summed term by term in a fixed order with elementwise products and
    sums (each exactly rounded), not by BLAS, whose kernels differ between CPUs in summation
    order and fused multiply-adds: the same draws give the same normals on every machine.
    """
    independent = rng.standard_normal((factor.shape[1], n_users))
    normals = factor[:, :1] * independent[:1]
    for column in range(1, factor.shape[1]):
        normals += factor[:, column : column + 1] * independent[column : column + 1]
    return normals


def intensity_from_normal(dist: UsageDist, z: FloatArray) -> FloatArray:
    """Map standard normals ``z`` to intensities with the marginal ``dist``."""
    if dist.kind == "lognormal":
        if dist.median <= 0:
            return np.zeros_like(z)
        sigma = np.log(dist.p90 / dist.median) / Z90
        values = dist.median * np.exp(sigma * z)
    else:
        u = special.ndtr(z)
        values = intensity_from_uniform(dist, u)
    return np.minimum(values, MAX_INTENSITY)


def intensity_from_uniform(dist: UsageDist, u: FloatArray) -> FloatArray:
    """Inverse CDF of the marginal at ``u`` (for the non-lognormal kinds)."""
    if dist.kind == "gamma":
        if dist.mean <= 0:
            return np.zeros_like(u)
        return special.gammaincinv(dist.shape, u) * (dist.mean / dist.shape)
    if dist.kind == "pareto":
        # Inverse CDF of a Pareto(scale, alpha), truncated at ``upper`` when given.
        tail = 1.0 if dist.upper is None else 1.0 - (dist.scale / dist.upper) ** dist.alpha
        return dist.scale * (1.0 - u * tail) ** (-1.0 / dist.alpha)
    if dist.kind == "empirical":
        ordered = np.sort(np.asarray(dist.values, dtype=np.float64))
        positions = (np.arange(ordered.size) + 0.5) / ordered.size
        return np.interp(u, positions, ordered)
    raise ValueError(f"unknown usage distribution kind {dist.kind!r}")


def mean_intensity(dist: UsageDist) -> float:
    """The exact mean of the marginal (used for break-even and the workload mix)."""
    if dist.kind == "lognormal":
        if dist.median <= 0:
            return 0.0
        sigma = np.log(dist.p90 / dist.median) / Z90
        return float(dist.median * np.exp(sigma**2 / 2))
    if dist.kind == "gamma":
        return float(dist.mean)
    if dist.kind == "pareto":
        a, xm = dist.alpha, dist.scale
        if dist.upper is None:
            return float(a * xm / (a - 1.0))
        h = dist.upper
        if np.isclose(a, 1.0):
            return float(xm * np.log(h / xm) / (1.0 - xm / h))
        return float(xm**a / (1.0 - (xm / h) ** a) * a / (a - 1.0) * (xm ** (1.0 - a) - h ** (1.0 - a)))
    if dist.kind == "empirical":
        return float(np.mean(dist.values))
    raise ValueError(f"unknown usage distribution kind {dist.kind!r}")


def validate_usage(dist: UsageDist, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` when ``dist`` cannot be simulated."""
    values = [dist.median, dist.p90, dist.mean, dist.shape, dist.scale, dist.alpha, *dist.values]
    if dist.upper is not None:
        values.append(dist.upper)
    if dist.overdispersion is not None:
        values.append(dist.overdispersion)
        if dist.overdispersion <= 0:
            raise ValueError(f"{where}: overdispersion must be > 0")
    if not all(np.isfinite(values)):
        raise ValueError(f"{where}: parameters must be finite numbers")
    if dist.kind == "lognormal":
        if dist.median < 0 or (dist.median > 0 and dist.p90 < dist.median):
            raise ValueError(f"{where}: lognormal needs 0 <= median <= p90")
    elif dist.kind == "gamma":
        if dist.mean < 0 or dist.shape <= 0:
            raise ValueError(f"{where}: gamma needs mean >= 0 and shape > 0")
    elif dist.kind == "pareto":
        if dist.scale <= 0:
            raise ValueError(f"{where}: pareto needs scale > 0")
        if dist.upper is None and dist.alpha <= 2:
            raise ValueError(f"{where}: an untruncated pareto needs alpha > 2 (finite variance)")
        if dist.upper is not None and (dist.upper <= dist.scale or dist.alpha <= 0):
            raise ValueError(f"{where}: a truncated pareto needs upper > scale and alpha > 0")
    elif dist.kind == "empirical":
        if len(dist.values) < 2 or min(dist.values) < 0:
            raise ValueError(f"{where}: empirical needs at least two non-negative values")
    else:
        raise ValueError(f"{where}: unknown usage distribution kind {dist.kind!r}")
