"""docker-compose.yml runs the project's real entry points, configures the app only through
variables the settings read, and gives every service a health check."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.core.management import get_commands
from kombu.utils.imports import symbol_by_name

from planner.settings.base import ENV_VARS

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service)


def commands(command: list[str] | str) -> list[list[str]]:
    """Split a compose command into the argv of each program it runs (``sh -c "a && exec b"``)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    programs = []
    for part in argv[2].split("&&"):
        words = shlex.split(part)
        programs.append(words[1:] if words[0] == "exec" else words)
    return programs


def option(argv: list[str], *names: str) -> str:
    for i, word in enumerate(argv):
        for name in names:
            if word == name:
                return argv[i + 1]
            if word.startswith(f"{name}="):
                return word.split("=", 1)[1]
    raise AssertionError(f"{names} not in {argv}")


def check_entry_point(argv: list[str]) -> str:
    """Assert that ``argv`` runs a real entry point of the project; return the program name."""
    program = argv[0]
    if program == "gunicorn":
        target = next(word for word in argv[1:] if ":" in word and not word.startswith("-"))
        module, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    elif program == "celery":
        assert isinstance(find_app(option(argv, "-A", "--app")), Celery)
        subcommand = next(word for word in argv[3:] if not word.startswith("-"))
        assert subcommand in {"worker", "beat", "inspect"}
        if subcommand == "beat":
            assert isinstance(symbol_by_name(option(argv, "--scheduler", "-S")), type)
    elif program == "python" and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"manage.py {argv[2]} does not exist"
    else:
        raise AssertionError(f"unexpected program {program!r} in {argv}")
    return program


def test_app_services_exist() -> None:
    assert APP_SERVICES == ["beat", "web", "worker"]
    assert {"postgres", "redis", "mailpit"} <= set(SERVICES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_commands_run_real_entry_points(name: str) -> None:
    programs = [check_entry_point(argv) for argv in commands(SERVICES[name]["command"])]
    assert programs
    assert programs[-1] == {"web": "gunicorn", "worker": "celery", "beat": "celery"}[name]


def test_web_migrates_before_serving_and_beat_uses_the_database_scheduler() -> None:
    web = commands(SERVICES["web"]["command"])
    assert web[0][:3] == ["python", "manage.py", "migrate"]
    beat = commands(SERVICES["beat"]["command"])[0]
    assert option(beat, "--scheduler", "-S") == "django_celery_beat.schedulers:DatabaseScheduler"
    worker = commands(SERVICES["worker"]["command"])[0]
    assert "worker" in worker


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_env_vars_are_read_by_settings(name: str) -> None:
    environment = SERVICES[name]["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - ENV_VARS
    assert not unknown, f"{name} sets variables the settings never read: {sorted(unknown)}"
    assert environment["DJANGO_SETTINGS_MODULE"] == "planner.settings.production"
    assert importlib.util.find_spec(environment["DJANGO_SETTINGS_MODULE"]) is not None
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS", "EMAIL_HOST"} <= set(
        environment
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(name: str) -> None:
    healthcheck = SERVICES[name].get("healthcheck")
    assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"
    assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_wait_until_healthy(name: str) -> None:
    depends_on = SERVICES[name].get("depends_on", {})
    assert isinstance(depends_on, dict)
    for dependency, spec in depends_on.items():
        assert dependency in SERVICES
        assert spec == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_workers_start_after_web_has_migrated(name: str) -> None:
    assert "web" in SERVICES[name]["depends_on"]


def test_app_healthchecks_use_real_entry_points() -> None:
    worker = SERVICES["worker"]["healthcheck"]["test"]
    check_entry_point(shlex.split(worker[1].replace("$$", "$")))
