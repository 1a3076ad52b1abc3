"""Test settings: base settings with fast password hashing and in-memory mail.

Celery worker processes started by the tests must share the test database: SQLite tests use a
file (not memory), and ``PLANNER_USE_TEST_DATABASE=1`` (set by the test fixture for the worker
it starts) points a process at the test database instead of the development one.
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
if os.environ.get("PLANNER_USE_TEST_DATABASE") == "1":
    _default["NAME"] = _test_name

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
