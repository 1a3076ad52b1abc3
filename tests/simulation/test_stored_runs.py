"""Runs stored before plan levers and segments (#13) and before lifetime figures (#18) re-run
from their snapshots and seeds.

Each fixture holds a run as the database stored it (``snapshot``, ``results`` written by the
engine of that time) and ``rerun``: the same snapshot and seed re-run by the current engine.

- The re-run holds every figure the stored document holds (a new engine only adds figures).
- The stored figures agree with the re-run within their Monte Carlo errors. Not to the digit:
  engine 4 made the copula factor the correlation's principal square root, so a seed draws the
  same users on every machine; before, the factor depended on the CPU's LAPACK kernel and so
  did the draw (docs/ENGINE.md, "Reproducibility across machines").
- The re-run equals ``rerun`` to 1e-9 (relative, or absolute for figures near 0). Machines still
  round differently in the last bits (numpy's vector ``exp``/``log`` against the C library's), so
  exact float equality holds on one machine, not across them; 1e-9 is far below any figure's
  display precision and far above those rounding differences (about 1e-14).

``run_before_13.json`` (snapshot schema 2, engine 1): the demo Baseline, a free capped tier, an
unlimited tier, an overage tier, three cost levers; its results were made at commit 9afe6a2.
``run_before_18.json`` (snapshot schema 3, engine 2, commit efecc3f): that Baseline with Pro
split into 85% "Chat" and 15% "Agentic" users and a plan lever. To regenerate ``rerun`` after a
deliberate change of figures (with a new ``ENGINE_VERSION``): for each fixture,
``fixture["rerun"] = engine.simulate(engine_input_from_snapshot(fixture["snapshot"]),
users=fixture["users"], seed=fixture["seed"])``, written back with ``json.dump(fixture, file,
indent=1)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner import engine
from planner.simulation.adapter import engine_input_from_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
#: Across machines figures differ by rounding only (about 1e-14 relative; an error that is 0 in
#: exact arithmetic may come out as 2e-11 on a machine without vector maths).
ACROSS_MACHINES = 1e-9


def _leaves(document: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of a JSON document by its path (``tiers/1/levers/0/cogs_per_user``)."""
    if isinstance(document, dict):
        return {k: v for key, item in document.items() for k, v in _leaves(item, f"{path}/{key}").items()}
    if isinstance(document, list):
        return {k: v for i, item in enumerate(document) for k, v in _leaves(item, f"{path}/{i}").items()}
    return {path: document}


def _figure_names(document: Any, path: str = "") -> set[str]:
    """The figures a document names: paths of its scalars, with the items of a list of numbers
    as one (a histogram's length depends on the draw; its bins are not figures of their own)."""
    if isinstance(document, dict):
        return {name for key, item in document.items() for name in _figure_names(item, f"{path}/{key}")}
    if isinstance(document, list):
        if all(not isinstance(item, dict | list) for item in document):
            return {f"{path}/[]"}
        return {name for i, item in enumerate(document) for name in _figure_names(item, f"{path}/{i}")}
    return {path}


def _estimates(document: Any, path: str = "") -> Iterator[tuple[str, float, float]]:
    """Every ``{"value", "mc_error"}`` figure of a document: (path, value, error)."""
    if isinstance(document, dict):
        if isinstance(document.get("value"), float | int) and isinstance(
            document.get("mc_error"), float | int
        ):
            yield path, float(document["value"]), float(document["mc_error"])
        for key, item in document.items():
            yield from _estimates(item, f"{path}/{key}")
    elif isinstance(document, list):
        for i, item in enumerate(document):
            yield from _estimates(item, f"{path}/{i}")


def _same_but_rounding(stored: Any, now: Any) -> bool:
    if isinstance(stored, float | int) and isinstance(now, float | int) and not isinstance(stored, bool):
        return math.isclose(stored, now, rel_tol=ACROSS_MACHINES, abs_tol=ACROSS_MACHINES)
    return bool(stored == now)


CASES = pytest.mark.parametrize(
    ("fixture", "schema", "version"), [("run_before_13.json", 2, "1"), ("run_before_18.json", 3, "2")]
)


@pytest.fixture(scope="module")
def reruns() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each fixture and its re-run by this engine (one simulation per fixture for the module)."""
    loaded = {}
    for name in ("run_before_13.json", "run_before_18.json"):
        stored = json.loads((FIXTURES / name).read_text())
        loaded[name] = (
            stored,
            engine.simulate(
                engine_input_from_snapshot(stored["snapshot"]), users=stored["users"], seed=stored["seed"]
            ),
        )
    return loaded


@CASES
def test_a_stored_run_reruns_with_every_figure_it_had(
    reruns: Any, fixture: str, schema: int, version: str
) -> None:
    stored, rerun = reruns[fixture]
    assert stored["snapshot"]["schema"] == schema
    assert stored["results"]["engine_version"] == version
    assert rerun["engine_version"] == engine.ENGINE_VERSION != version
    before = _figure_names(stored["results"])
    assert sorted(before - _figure_names(rerun)) == []
    assert len(before) > 500  # the comparison covers the whole document, horizon months included


@CASES
def test_a_stored_run_and_its_rerun_agree_within_their_errors(
    reruns: Any, fixture: str, schema: int, version: str
) -> None:
    """z = (stored - rerun) / sqrt(se_stored^2 + se_rerun^2) over every estimate: independent
    draws of the same run. Figures are correlated (a tier's months, its levers), so no SD is
    asserted; no |z| above 4 (a 1-in-15,000 event per independent figure)."""
    stored, rerun = reruns[fixture]
    now = {path: (value, error) for path, value, error in _estimates(rerun)}
    zs = []
    for path, value, error in _estimates(stored["results"]):
        rerun_value, rerun_error = now[path]
        if error == 0 and rerun_error == 0:
            assert _same_but_rounding(value, rerun_value), path  # exact figures (fees, prices)
            continue
        zs.append((value - rerun_value) / math.hypot(error, rerun_error))
    z = np.abs(np.asarray(zs))
    assert z.size > 100
    assert z.max() <= 4, z.max()


@CASES
def test_a_stored_run_reruns_to_its_recorded_figures_on_any_machine(
    reruns: Any, fixture: str, schema: int, version: str
) -> None:
    stored, rerun = reruns[fixture]
    recorded, after = _leaves(stored["rerun"]), _leaves(rerun)
    assert recorded.keys() == after.keys()
    changed = {
        path: (value, after[path])
        for path, value in recorded.items()
        if not _same_but_rounding(value, after[path])
    }
    assert changed == {}
