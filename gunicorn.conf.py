"""gunicorn settings, read automatically when gunicorn starts in the project folder (the
Dockerfile, docker-compose.yml and ``manage.py bench_api`` all do). Command-line options win.

After a worker has loaded the app, it imports the URLconf (every view and serializer) and
freezes the garbage collector's view of those long-lived objects (``gc.freeze``): a full
collection then no longer walks the whole of Django, which otherwise pauses a request for
hundreds of milliseconds now and then (measured: p99 of the scenario list 312-406 ms without,
64-74 ms with; docs/BENCHMARKS.md).
"""

from __future__ import annotations

import gc
from typing import Any

wsgi_app = "planner.wsgi:application"


def post_worker_init(worker: Any) -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (import every view and serializer now)
    gc.collect()
    gc.freeze()
