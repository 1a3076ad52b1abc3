"""Job kinds the run machinery computes without the engine (docs/JOBS.md, "Other job kinds").

A simulation run and a decision job simulate blocks of users. Other domains reuse the same
machinery (fan-out over fixed blocks, idempotent block storage, done counter, one merge, reaper,
cancel) for work that is not a simulation: a replay of actual usage
(``planner.actuals.replay_jobs``) computes blocks of customers. Such a domain sits above this
one, so it registers how to compute and merge its blocks here (at import, from
``PlannerConfig.ready``) rather than this package importing it.

Contract of a :class:`BlockJob`:

- ``compute_block(run_id, block)`` computes one block and returns ``(payload, units)``: bytes
  stored on the block (``RunBlock.aggregate``) and the units of work it covered
  (``RunBlock.users``: customers for a replay). It must be idempotent: a block may be computed
  again after a crash (anything it writes elsewhere is an upsert). It raises ``ValueError`` with
  a readable message when the job cannot be computed; the run then fails with
  ``failure + ": " + message``.
- ``merge(run, payloads)`` receives every block's payload in block order and returns the run's
  ``results``; it runs once per run (the last block's chunk wins the merge) but must tolerate a
  repeat (a redelivered merge task).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from planner.simulation.models import SimulationRun


@dataclass(frozen=True)
class BlockJob:
    """How the machinery computes and merges the blocks of one job kind (module docstring)."""

    compute_block: Callable[[int, int], tuple[bytes, int]]
    merge: Callable[[SimulationRun, Sequence[bytes]], dict[str, Any]]
    failure: str


_JOBS: dict[str, BlockJob] = {}


def register_block_job(kind: str, job: BlockJob) -> None:
    """Register ``job`` for runs of ``kind`` (one of ``SimulationRun.Kind``, not a simulation)."""
    if kind in (SimulationRun.Kind.RUN, SimulationRun.Kind.OPTIMIZATION, SimulationRun.Kind.SENSITIVITY):
        raise ValueError(f"{kind!r} jobs are simulations: the engine computes their blocks.")
    _JOBS[kind] = job


def block_job(kind: str) -> BlockJob | None:
    """The registered job of ``kind``; None for simulations and decision jobs."""
    return _JOBS.get(kind)
