"""The cost calculator agrees with genai_prices.calc_price exactly, and the vectorised one with the scalar.

No database: the rows come from ``price_rows_from_genai`` (what the importer stores) and the row in
force from ``row_in_force`` (what ``model_price_at`` uses), so this pins the whole chain
genai-prices data -> stored rows -> row at an instant -> schedule -> cost.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from genai_prices import data as genai_data

from pricing.calculator import PriceSchedule, VectorPricer, request_cost
from pricing.catalog import price_rows_from_genai
from pricing.periods import row_in_force
from tests.pricing.support import batch_of, genai_total, instants_for, requests_for, sample_models


def test_scalar_cost_equals_genai_calc_price_and_vector_equals_scalar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = sample_models()
    tally: Counter[str] = Counter()
    mismatches: list[str] = []
    providers = set()
    for provider, model in sample:
        providers.add(provider.id)
        rng = random.Random(f"{provider.id}/{model.id}")
        rows = price_rows_from_genai(model)
        for variant, when in {row.variant: dict(row.when) for row in rows}.items():
            tally["model variants"] += 1
            variant_rows = [row for row in rows if row.variant == variant]
            for at in sorted(set(instants_for(variant_rows))):
                row = row_in_force(variant_rows, at)
                assert row is not None, (provider.id, model.id, variant, at)
                schedule = PriceSchedule.from_structure(row.structure)
                requests = requests_for(schedule, rng)
                scalar = []
                for request in requests:
                    ours = request_cost(schedule, **request.kwargs())
                    theirs, via = genai_total(provider, model, request, at, when or None)
                    tally[via] += 1
                    # Same value and same Decimal representation (digits and exponent).
                    if ours != theirs or ours.as_tuple() != theirs.as_tuple():
                        mismatches.append(
                            f"{provider.id}/{model.id} [{variant}] {at} {request}: {ours} != {theirs}"
                        )
                    engine_request = request.kwargs()
                    engine_request["cache_write_1h_tokens"] = 0
                    scalar.append(float(request_cost(schedule, **engine_request)))
                vector = VectorPricer(schedule)(batch_of(requests))
                np.testing.assert_allclose(vector, scalar, rtol=1e-12, atol=0)
                tally["vector checks"] += len(requests)

    checks = tally["calc_price"] + tally["ModelInfo.calc_price"]
    with capsys.disabled():
        print(
            f"\ncalculator agreement: {len(sample)} models from {len(providers)} providers, "
            f"{tally['model variants']} model variants, {checks} exact checks "
            f"({tally['ModelInfo.calc_price']} via ModelInfo.calc_price), {len(mismatches)} mismatches; "
            f"{tally['vector checks']} vectorised checks at rtol 1e-12"
        )
    assert len(sample) >= 500
    assert len(providers) == len(genai_data.providers)
    assert mismatches == []
