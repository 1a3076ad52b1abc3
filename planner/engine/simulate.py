"""The Monte Carlo engine in one process: simulated user-months of revenue, COGS and margin per tier.

Contract: ``simulate(inputs, users=, seed=)`` prepares the run, simulates every block, merges
them and returns the results document: the same document a run spread over workers returns for
the same inputs, users and seed (``planner.simulation.runs`` calls the same stages).

The stages, one module each:

- :mod:`planner.engine.validation`: which inputs can be simulated;
- :mod:`planner.engine.prepare`: the state shared by all blocks (cost pools and tables per lever);
- :mod:`planner.engine.blocks`: one block of simulated users (the model of a user-month) and
  merging block aggregates;
- :mod:`planner.engine.summary`: the results document.
"""

from __future__ import annotations

from typing import Any

from planner.engine.blocks import merge, simulate_block
from planner.engine.prepare import prepare
from planner.engine.summary import summarize
from planner.engine.types import EngineInput


def simulate(inputs: EngineInput, *, users: int, seed: int) -> dict[str, Any]:
    """Run every block in one process and return the results document."""
    prepared = prepare(inputs, users=users, seed=seed)
    blocks = [simulate_block(prepared, b) for b in range(prepared.blocks)]
    return summarize(prepared, merge(prepared, blocks))
