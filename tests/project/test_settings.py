"""Settings from the environment: production refuses to start without a secret, and
``check --deploy`` is clean with production settings; the embedded default is tuned SQLite."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from planner.settings.base import database_config

ROOT = Path(__file__).resolve().parents[2]


def run_python(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {
        key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=base | {"DATA_DIR": str(tmp_path)} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_require_secret_key(tmp_path: Path) -> None:
    result = run_python(
        ["-c", "import django; django.setup()"],
        {"DJANGO_SETTINGS_MODULE": "planner.settings.production"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_off_requires_secret_key_with_base_settings(tmp_path: Path) -> None:
    result = run_python(
        ["-c", "import django; django.setup()"],
        {"DJANGO_SETTINGS_MODULE": "planner.settings.base", "DEBUG": "false"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {
            "DJANGO_SETTINGS_MODULE": "planner.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "planner.example.com",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_hsts_lasts_a_year_with_preload_and_subdomains(tmp_path: Path) -> None:
    # A year is the minimum max-age the HSTS preload list accepts.
    result = run_python(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_PRELOAD, s.SECURE_HSTS_INCLUDE_SUBDOMAINS)",
        ],
        {"DJANGO_SETTINGS_MODULE": "planner.settings.production", "SECRET_KEY": secrets.token_urlsafe(64)},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["31536000", "True", "True"]


def test_embedded_default_is_sqlite_tuned_for_several_processes(tmp_path: Path) -> None:
    config = database_config(None)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    options = config["OPTIONS"]
    assert isinstance(options, dict)
    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
    assert options["timeout"] >= 5


@pytest.mark.parametrize("url", ["postgres://u:p@db.example.com:5433/planner"])
def test_database_url_selects_postgresql(url: str) -> None:
    config = database_config(url)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example.com", 5433, "planner")


def test_cache_url_selects_a_shared_cache_and_rejects_other_schemes(tmp_path: Path) -> None:
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CACHES['default']['BACKEND'])"
    )
    shared = run_python(["-c", show], {"CACHE_URL": "redis://127.0.0.1:6379/1"}, tmp_path)
    assert shared.stdout.strip() == "django.core.cache.backends.redis.RedisCache", shared.stderr
    default = run_python(["-c", show], {"CACHE_URL": ""}, tmp_path)
    assert default.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache", default.stderr
    wrong = run_python(["-c", show], {"CACHE_URL": "memcached://127.0.0.1:11211"}, tmp_path)
    assert wrong.returncode != 0 and "CACHE_URL must be a redis:// URL, got 'memcached'" in wrong.stderr
