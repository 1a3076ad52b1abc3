"""A run stored before plan levers and segments (#13) re-runs from its snapshot and seed to the
same figures: every figure its stored results document holds is in the new document with the
same value (the new document only adds figures; ``engine_version`` marks the change).

The fixture was written by the engine of that time (snapshot schema 2, engine version 1) from
the demo Baseline: a free capped tier, an unlimited tier, an overage tier, three cost levers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from planner import engine
from planner.simulation.adapter import engine_input_from_snapshot

FIXTURE = Path(__file__).parent / "fixtures" / "run_before_13.json"


def _leaves(document: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of a JSON document by its path (``tiers/1/levers/0/cogs_per_user``)."""
    if isinstance(document, dict):
        return {k: v for key, item in document.items() for k, v in _leaves(item, f"{path}/{key}").items()}
    if isinstance(document, list):
        return {k: v for i, item in enumerate(document) for k, v in _leaves(item, f"{path}/{i}").items()}
    return {path: document}


def test_a_run_stored_before_13_reruns_to_identical_figures() -> None:
    stored = json.loads(FIXTURE.read_text())
    assert stored["snapshot"]["schema"] == 2
    assert stored["results"]["engine_version"] == "1"
    rerun = engine.simulate(
        engine_input_from_snapshot(stored["snapshot"]), users=stored["users"], seed=stored["seed"]
    )
    before, after = _leaves(stored["results"]), _leaves(rerun)
    assert rerun["engine_version"] == engine.ENGINE_VERSION != "1"
    del before["/engine_version"]
    missing = sorted(set(before) - set(after))
    assert missing == []
    changed = {path: (value, after[path]) for path, value in before.items() if after[path] != value}
    assert changed == {}
    assert len(before) > 1000  # the comparison covers the whole document, horizon months included
