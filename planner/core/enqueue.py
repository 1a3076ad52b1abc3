"""Enqueueing Celery tasks by name, so that no service imports a task module.

Tasks import services (a task is a thin wrapper that calls one); services enqueue tasks. Going
through the task's registered *name* instead of its module keeps that one-way: services never
import ``planner.*.tasks`` (an import-linter contract). The names are the tasks' fixed ``name=``,
the same strings beat rows and queued messages hold.
"""

from __future__ import annotations

from kombu.exceptions import OperationalError

from planner.celery import app

#: What sending raises when the broker cannot take a message (down, refusing connections):
#: callers whose work the database can recover later catch these and leave it to recovery.
BROKER_ERRORS = (OperationalError, OSError)

RUN_CHUNK = "planner.run_chunk"
RUN_MERGE = "planner.run_merge"
ALERTS_DELIVER = "planner.alerts_deliver"
USAGE_REPRICE = "planner.usage_reprice"


def enqueue(name: str, *args: object) -> None:
    """Send task ``name`` with positional ``args`` to the broker (``Task.delay``).

    Looking the task up in the app's registry (which autodiscovers ``planner.tasks``) keeps every
    option of the task's definition and lets tests replace its ``delay``.
    """
    app.tasks[name].delay(*args)
