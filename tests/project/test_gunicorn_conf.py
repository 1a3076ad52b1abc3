"""gunicorn.conf.py is what gunicorn loads: it names the app, and a worker freezes the objects
it loaded once the URLconf is imported."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.wsgi import application

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_gunicorn_conf_names_the_app_and_freezes_after_worker_init() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(CONF.read_text(), str(CONF), "exec"), namespace)  # as gunicorn reads its config
    module, attribute = namespace["wsgi_app"].split(":")
    assert getattr(importlib.import_module(module), attribute) is application
    post_worker_init: Callable[[Any], None] = namespace["post_worker_init"]
    try:
        post_worker_init(None)
        assert gc.get_freeze_count() > 10_000  # Django, the apps and every view were loaded
    finally:
        gc.unfreeze()
