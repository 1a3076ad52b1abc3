"""Test settings: base settings with fast password hashing and in-memory mail.

Celery worker processes started by the tests must share the test database: SQLite tests use a
file (not memory), and ``PLANNER_USE_TEST_DATABASE=1`` (set by the test fixture for the worker
it starts) points a process at the test database instead of the development one.

Under pytest-xdist (``make test`` runs ``-n``) each pytest worker ``gwN`` has its own test
database (pytest-django appends ``_gwN`` to the name; a Celery worker started by that pytest
worker inherits ``PYTEST_XDIST_WORKER`` and appends the same suffix) and its own Celery queue,
so a worker process of one never takes a chunk of a run that lives in the other's database.
"""

import os
from typing import Any

from planner.settings.base import *  # noqa: F403
from planner.settings.base import DATA_DIR, DATABASES

_default: dict[str, Any] = DATABASES["default"]
if str(_default["ENGINE"]).endswith("sqlite3"):
    _default["TEST"] = {"NAME": str(DATA_DIR / "test-margin-planner.sqlite3")}
    _test_name = _default["TEST"]["NAME"]
else:
    _test_name = f"test_{_default['NAME']}"
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER:
    # The suffix pytest-django gives each xdist worker's test databases.
    _test_name = f"{_test_name}_{XDIST_WORKER}"
    CELERY_TASK_DEFAULT_QUEUE = f"celery-{XDIST_WORKER}"
if os.environ.get("PLANNER_USE_TEST_DATABASE") == "1":
    _default["NAME"] = _test_name

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
#: The alert tests' Slack and webhook receivers listen on 127.0.0.1 over plain HTTP.
PLANNER_ALERT_ALLOW_PRIVATE_URLS = True
