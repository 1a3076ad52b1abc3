"""The Monte Carlo engine (pure numpy/scipy; never imports Django, Celery or the ORM).

Public API: :func:`prepare`, :func:`simulate_block`, :func:`merge`, :func:`summarize`,
:func:`simulate` and the input dataclasses in :mod:`planner.engine.types`. The stages live in
``validation``, ``prepare``, ``blocks`` and ``summary``; ``simulate`` runs them in one process.
"""

from planner.engine.blocks import BlockAggregate, merge, simulate_block
from planner.engine.prepare import BLOCK_SIZE, PreparedRun, block_count, block_size, prepare
from planner.engine.simulate import simulate
from planner.engine.summary import ENGINE_VERSION, summarize
from planner.engine.validation import validate_inputs

__all__ = [
    "BLOCK_SIZE",
    "ENGINE_VERSION",
    "BlockAggregate",
    "PreparedRun",
    "block_count",
    "block_size",
    "merge",
    "prepare",
    "simulate",
    "simulate_block",
    "summarize",
    "validate_inputs",
]
