"""Count the requests a live server receives, to prove an SDK did not retry (the live server
runs in a thread of the test process, so Django's ``request_started`` signal reaches the test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.signals import request_started


@contextmanager
def requests_to(prefix: str) -> Iterator[list[str]]:
    """The paths under ``prefix`` requested while the block runs, in order."""
    seen: list[str] = []

    def handler(sender: Any, environ: dict[str, Any] | None = None, **kwargs: Any) -> None:
        path = (environ or {}).get("PATH_INFO", "")
        if path.startswith(prefix):
            seen.append(path)

    request_started.connect(handler, weak=False)
    try:
        yield seen
    finally:
        request_started.disconnect(handler)
