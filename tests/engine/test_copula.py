"""The copula factor (``planner.engine.usage.copula_factor``) and the correlated normals: the same
numbers on every machine for a seed (docs/ENGINE.md, "Reproducibility across machines").

An eigen-decomposition's vectors are unique only up to sign, and up to a rotation within a
repeated eigenvalue (one correlation for every pair gives one), so the factor ``V sqrt(D)`` the
engine used until version 4 depended on the CPU's LAPACK kernel. These tests pin the principal
square root, the one factor no kernel can choose differently, and run the draw under other
OpenBLAS kernels in fresh processes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from planner.engine.usage import FACTOR_DECIMALS, copula_factor, correlated_normals


def equicorrelation(n: int, rho: float) -> np.ndarray:
    return np.full((n, n), rho) + (1.0 - rho) * np.eye(n)


@pytest.mark.parametrize(("n", "rho"), [(2, 0.5), (3, 0.8), (4, 0.3), (3, 1.0), (3, 0.0)])
def test_the_factor_is_the_principal_square_root(n: int, rho: float) -> None:
    """For (1 - rho) I + rho J the principal root is a I + b J with a = sqrt(1 - rho) and
    a + n b = sqrt(1 + (n - 1) rho): a closed form with a repeated eigenvalue (1 - rho, n - 1
    times), and a singular matrix at rho = 1."""
    a = np.sqrt(1.0 - rho)
    b = (np.sqrt(1.0 + (n - 1) * rho) - a) / n
    expected = a * np.eye(n) + b * np.ones((n, n))
    factor = copula_factor(equicorrelation(n, rho))
    assert np.array_equal(factor, factor.T)
    np.testing.assert_allclose(factor, expected, rtol=0, atol=10.0**-FACTOR_DECIMALS)
    np.testing.assert_allclose(factor @ factor.T, equicorrelation(n, rho), rtol=0, atol=1e-11)


def test_correlated_normals_are_the_factor_times_independent_normals() -> None:
    factor = copula_factor(np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.4], [0.2, 0.4, 1.0]]))
    normals = correlated_normals(factor, 50_000, np.random.Generator(np.random.SFC64(3)))
    independent = np.random.Generator(np.random.SFC64(3)).standard_normal((3, 50_000))
    np.testing.assert_allclose(normals, factor @ independent, rtol=0, atol=1e-12)


_DRAW = (
    "import numpy as np, hashlib;"
    "from planner.engine.usage import copula_factor, correlated_normals;"
    "f = copula_factor(np.full((3, 3), 0.8) + 0.2 * np.eye(3));"
    "z = correlated_normals(f, 4096, np.random.Generator(np.random.SFC64(7)));"
    "print(hashlib.sha256(f.tobytes() + z.tobytes()).hexdigest())"
)


def test_other_blas_kernels_draw_the_same_normals() -> None:
    """OpenBLAS picks its kernel by CPU (``OPENBLAS_CORETYPE`` forces one): Haswell is what AVX2
    machines run, Prescott the oldest x86-64 one. Under the old factor the Haswell kernel drew
    other users than an AVX-512 machine's for this matrix."""
    digests = set()
    for coretype in (None, "Haswell", "Prescott"):
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        digests.add(
            subprocess.run(
                [sys.executable, "-c", _DRAW], env=env, check=True, capture_output=True, text=True
            ).stdout.strip()
        )
    assert len(digests) == 1, digests
