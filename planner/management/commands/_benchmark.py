"""What the ``bench_*`` commands share (not a command itself: Django skips modules named ``_*``).

A benchmark is a ``planner.devtools`` function taking keyword arguments and returning a report
dict; its command declares options named like those arguments, and prints the report as
``key: value`` lines or, with ``--json``, one JSON object.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

Report = dict[str, Any]


def benchmark_run(benchmark: Callable[..., Report], options: dict[str, Any]) -> Report:
    """``benchmark`` called with the command's options of the same names as its keyword arguments.

    Its ``RuntimeError`` (say, "this measures PostgreSQL") is the command's error.
    """
    parameters = inspect.signature(benchmark).parameters
    try:
        return benchmark(**{name: options[name] for name in parameters if name in options})
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc


def report_write(stdout: OutputWrapper, report: Report, *, as_json: bool) -> None:
    if as_json:
        stdout.write(json.dumps(report))
        return
    for key, value in report.items():
        stdout.write(f"{key}: {value}")
