"""The Monte Carlo engine (pure numpy/scipy; never imports Django, Celery or the ORM).

Public API: :func:`prepare`, :func:`simulate_block`, :func:`merge`, :func:`summarize`,
:func:`simulate` and the input dataclasses in :mod:`planner.engine.types`.
"""

from planner.engine.simulate import (
    BLOCK_SIZE,
    ENGINE_VERSION,
    BlockAggregate,
    PreparedRun,
    block_count,
    block_size,
    merge,
    prepare,
    simulate,
    simulate_block,
    summarize,
    validate_inputs,
)

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
