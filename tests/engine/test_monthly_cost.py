"""The monthly-cost approximation against an exact per-request simulation.

For a bimodal per-request cost (70% of requests on a cheap model, 30% on one ~17x dearer, with
lognormal token counts), p50/p90/p99 of the cost of a month of N requests must be within 2%
of a slow exact reference that draws every request, for N in {1, 2, 5, 10, 32, 100, 1000}.
The 2% tolerance is fixed by the design (ARCHITECTURE.md); the reference uses enough months
that its own p99 noise is a fraction of it (about 0.3% at N=1, less for larger N).
"""

import numpy as np
import pytest

from planner.engine.costs import ATOMS, build_cost_table, draw_pool_randoms, price_pool
from planner.engine.reference import LinearPricer
from planner.engine.types import LogNormalSpec, ModelOption, Workload

CHEAP = LinearPricer(0.15, 0.6)
DEAR = LinearPricer(2.5, 10.0)
WORKLOAD = Workload(
    key="chat",
    credits_per_request=1,
    models=(ModelOption("cheap", 0.7, CHEAP), ModelOption("dear", 0.3, DEAR)),
    input_tokens=LogNormalSpec(800, 3000),
    output_tokens=LogNormalSpec(300, 1200),
)
REFERENCE_REQUESTS = 1 << 23


@pytest.fixture(scope="module")
def table():
    rng = np.random.Generator(np.random.SFC64(11))
    pool = price_pool(WORKLOAD, draw_pool_randoms(WORKLOAD, rng))
    return build_cost_table(pool, rng)


def exact_monthly_costs(n: int, months: int, rng: np.random.Generator) -> np.ndarray:
    """Draw every request of ``months`` months of ``n`` requests and sum per month."""
    sigma_in = np.log(3000 / 800) / 1.2815515655446004
    sigma_out = np.log(1200 / 300) / 1.2815515655446004
    totals = np.zeros(months)
    chunk = max(1, (1 << 21) // n)
    for start in range(0, months, chunk):
        m = min(chunk, months - start)
        size = (m, n)
        tokens_in = np.rint(800 * np.exp(sigma_in * rng.standard_normal(size)))
        tokens_out = np.rint(300 * np.exp(sigma_out * rng.standard_normal(size)))
        dear = rng.random(size) >= 0.7
        rate_in = np.where(dear, 2.5, 0.15)
        rate_out = np.where(dear, 10.0, 0.6)
        totals[start : start + m] = ((tokens_in * rate_in + tokens_out * rate_out) / 1e6).sum(axis=1)
    return totals


@pytest.mark.parametrize("n", [1, 2, 5, 10, 32, 100, 1000])
def test_monthly_cost_quantiles_match_exact_per_request_reference(table, n):
    months = max(REFERENCE_REQUESTS // n, 1 << 15)
    reference = exact_monthly_costs(n, months, np.random.Generator(np.random.SFC64(1000 + n)))
    atoms = table.monthly_cost(np.full(ATOMS, n), (np.arange(ATOMS) + 0.5) / ATOMS)
    for q in (0.5, 0.9, 0.99):
        engine_q = np.quantile(atoms, q)
        exact_q = np.quantile(reference, q)
        assert engine_q == pytest.approx(exact_q, rel=0.02), f"N={n} q={q}"


def test_monthly_cost_mean_is_exactly_n_times_pool_mean(table):
    for n in (1, 7, 33, 100, 5000):
        atoms = table.monthly_cost(np.full(ATOMS, n), (np.arange(ATOMS) + 0.5) / ATOMS)
        assert atoms.mean() == pytest.approx(n * table.mean, rel=1e-9)


def test_zero_requests_cost_nothing(table):
    assert np.all(table.monthly_cost(np.zeros(10, dtype=np.int64), np.linspace(0, 0.99, 10)) == 0)
