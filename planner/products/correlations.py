"""The correlation between a product's workloads: "heavy users are heavy everywhere".

One ``WorkloadCorrelation`` row per pair (lower workload id first); missing pairs follow
``Product.default_correlation``. ``correlation_matrix`` builds the matrix in workload order and
refuses one that is not positive semi-definite, naming the pairs that weigh most in the offending
eigenvector; the services check before they commit, so a rejected change leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from django.core.exceptions import ValidationError
from django.db import transaction

from planner.core.services import model_update
from planner.products.models import Product, Workload, WorkloadCorrelation

FloatArray = npt.NDArray[np.float64]

#: Smallest eigenvalue accepted as "positive semi-definite": round-off in a valid matrix
#: (for example all pairs at 1.0) gives eigenvalues like -1e-16, never below -1e-9.
PSD_TOLERANCE = 1e-9


def correlation_set(
    *, product: Product, workload_a: Workload, workload_b: Workload, rho: float
) -> WorkloadCorrelation:
    """Set the usage correlation of two workloads of ``product``.

    The product's whole correlation matrix must stay positive semi-definite; otherwise nothing
    is saved and the error (under ``rho``) names the pairs in conflict.
    """
    with transaction.atomic():
        correlation = _correlation_store(product, workload_a, workload_b, rho)
        _correlation_matrix_check(product)
    assert correlation is not None
    return correlation


def correlations_set(
    *,
    product: Product,
    default_correlation: float,
    pairs: Mapping[tuple[Workload, Workload], float | None],
) -> None:
    """Set ``product``'s default correlation and some pair correlations in one go.

    A pair given ``None`` follows the default again (its stored value is removed). Only the
    final matrix must be positive semi-definite, so a change that needs both a new default and
    new pairs is accepted; otherwise nothing is saved and the error (under ``rho``) names the
    pairs in conflict.
    """
    try:
        with transaction.atomic():
            model_update(
                instance=product,
                fields=("default_correlation",),
                data={"default_correlation": default_correlation},
                refresh_on_error=False,  # below, once the transaction has rolled back
            )
            for (workload_a, workload_b), rho in pairs.items():
                _correlation_store(product, workload_a, workload_b, rho)
            _correlation_matrix_check(product)
    except ValidationError:
        product.refresh_from_db()  # the transaction rolled back: drop the unsaved default too
        raise


def _correlation_store(
    product: Product, workload_a: Workload, workload_b: Workload, rho: float | None
) -> WorkloadCorrelation | None:
    """Store one pair's correlation (None: remove it, so the pair follows the default)."""
    low, high = sorted((workload_a, workload_b), key=lambda w: w.pk)
    stored = WorkloadCorrelation.objects.filter(workload_a=low, workload_b=high)
    if rho is None:
        stored.delete()
        return None
    correlation = stored.first() or WorkloadCorrelation(product=product, workload_a=low, workload_b=high)
    correlation.rho = rho
    correlation.full_clean()
    correlation.save()
    return correlation


def _correlation_matrix_check(product: Product) -> None:
    """The matrix as stored now must be positive semi-definite (errors under ``rho``)."""
    try:
        correlation_matrix(product=product)
    except ValidationError as exc:
        raise ValidationError({"rho": exc.messages}) from exc


def correlation_matrix(*, product: Product) -> tuple[list[int], FloatArray]:
    """The Gaussian-copula correlation matrix of ``product``'s workloads.

    Returns ``(keys, matrix)``: ``keys`` are the Workload ids in the product's workload order
    (position, id) and ``matrix[i, j]`` the correlation of ``keys[i]`` and ``keys[j]``: the
    stored value for the pair, else ``product.default_correlation``; 1 on the diagonal.
    Raises ValidationError (under ``correlation``) when the matrix is not positive
    semi-definite, naming the pairs that conflict.
    """
    workloads = list(product.workloads.order_by("position", "id"))
    keys = [w.pk for w in workloads]
    index = {key: i for i, key in enumerate(keys)}
    size = len(keys)
    matrix = np.full((size, size), float(product.default_correlation))
    np.fill_diagonal(matrix, 1.0)
    for a_id, b_id, rho in WorkloadCorrelation.objects.filter(product=product).values_list(
        "workload_a_id", "workload_b_id", "rho"
    ):
        if a_id in index and b_id in index:
            matrix[index[a_id], index[b_id]] = matrix[index[b_id], index[a_id]] = rho
    if size:
        _psd_check(matrix, names=[w.name for w in workloads])
    return keys, matrix


def _psd_check(matrix: FloatArray, *, names: list[str]) -> None:
    """Raise when ``matrix`` has an eigenvalue below ``-PSD_TOLERANCE``.

    The pairs named are those that weigh most in the eigenvector of the most negative
    eigenvalue, i.e. the correlations whose combination is impossible.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    lowest = float(eigenvalues[0])
    if lowest >= -PSD_TOLERANCE:
        return
    vector = eigenvectors[:, 0]
    size = len(names)
    pairs = sorted(
        ((abs(vector[i] * vector[j] * matrix[i, j]), i, j) for i in range(size) for j in range(i + 1, size)),
        reverse=True,
    )
    described = ", ".join(f"{names[i]} ~ {names[j]} ({matrix[i, j]:g})" for _, i, j in pairs[:3])
    raise ValidationError(
        {
            "correlation": (
                "These workload correlations cannot hold together (the matrix is not positive "
                f"semi-definite; smallest eigenvalue {lowest:.3g}). Check the pairs: {described}."
            )
        }
    )
