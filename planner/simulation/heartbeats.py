"""The heartbeat of a running chunk: a thread that keeps its run and its running block fresh.

A chunk task runs :class:`ChunkHeartbeat` around its blocks. Every ``interval`` seconds (the
setting ``PLANNER_HEARTBEAT_SECONDS``) the thread sets ``heartbeat_at`` of the run, and of the
block the chunk is computing, however long that block takes; when the worker dies, the beats stop
and the reaper notices after ``PLANNER_RUN_STALE_SECONDS`` (docs/JOBS.md, "Crash recovery").

Contract:

- Each beat is two conditional single-row updates in autocommit: the run only while it is
  ``running``, the block only while it is ``running`` on this worker. A finished or cancelled
  run, or a block the reaper handed to another worker, is never kept alive by this thread.
- The thread stops when the ``with`` block ends however it ends (success, an error, Celery's
  soft time limit) and closes the database connection it opened (Django's connections are per
  thread, so it never touches the task's own connection).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from django.db import DatabaseError, connections
from django.utils import timezone

from planner.simulation.models import RunBlock, SimulationRun

logger = logging.getLogger(__name__)

#: How long leaving the ``with`` block waits for a beat in progress to end (a beat is two short
#: updates; only a database lock wait could make it longer, and the thread is a daemon anyway).
STOP_TIMEOUT_SECONDS = 10.0


def heartbeat_beat(*, run_id: int, block: int | None, worker: str) -> bool:
    """Refresh the heartbeat of a running run and of its ``block`` running on ``worker``.

    Returns False when the run is no longer running (finished, cancelled or failed): nothing was
    written then.
    """
    now = timezone.now()
    alive = SimulationRun.objects.filter(pk=run_id, status=SimulationRun.Status.RUNNING).update(
        heartbeat_at=now
    )
    if alive and block is not None:
        RunBlock.objects.filter(
            run_id=run_id, block=block, state=RunBlock.State.RUNNING, worker=worker
        ).update(heartbeat_at=now)
    return bool(alive)


class ChunkHeartbeat:
    """Beat for a chunk from a daemon thread while the ``with`` block runs.

    ``block`` is the block the chunk is computing (None between blocks); the chunk sets it.
    """

    def __init__(self, *, run_id: int, worker: str, interval: float) -> None:
        self.run_id = run_id
        self.worker = worker
        self.interval = interval
        self.block: int | None = None
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-run-{run_id}", daemon=True)

    def __enter__(self) -> ChunkHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT_SECONDS)

    @property
    def running(self) -> bool:
        """Whether the thread is still alive (False once the ``with`` block has ended)."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = heartbeat_beat(run_id=self.run_id, block=self.block, worker=self.worker)
                except DatabaseError as error:
                    # A missed beat is harmless (staleness needs two); the next one tries again.
                    logger.warning("heartbeat failed run_id=%s error=%s", self.run_id, error)
                    continue
                if not alive:
                    return
                self.beats += 1
        finally:
            connections.close_all()
