"""Every Celery task of the planner, where Celery's autodiscovery looks for them.

The tasks live in their domain packages; their names (``planner.run_chunk``, ``planner.runs_reap``,
``planner.alerts_sweep``, ...) are fixed by the ``name=`` of each task, never by the module, because
beat rows and queued messages hold them.
"""

from planner.actuals.tasks import usage_reprice_task, usage_rollup_fold_task
from planner.alerts.tasks import alerts_deliver_task, alerts_sweep_task
from planner.simulation.tasks import run_chunk, run_merge_task, runs_reap_task

__all__ = [
    "alerts_deliver_task",
    "alerts_sweep_task",
    "run_chunk",
    "run_merge_task",
    "runs_reap_task",
    "usage_reprice_task",
    "usage_rollup_fold_task",
]
