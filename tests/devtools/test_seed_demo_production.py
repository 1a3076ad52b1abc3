"""``manage.py seed_demo`` under production settings: refused without ``--force`` (the demo user is
a superuser with a published password); with ``--force``, or under any other settings, it seeds."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from planner.devtools.demo import DEMO_USERNAME
from pricing.models import AIModel

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_refuse_seed_demo_without_force(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "ALLOWED_HOSTS"}} | {
        "DJANGO_SETTINGS_MODULE": "planner.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "CommandError: Refusing to seed the demo under production settings" in result.stderr
    assert "superuser demo/demo-margin" in result.stderr and "--force" in result.stderr


@pytest.mark.django_db
@override_settings(SEED_DEMO_REQUIRES_FORCE=True)
def test_refusal_creates_nothing_and_force_seeds(priced_models: dict[str, AIModel]) -> None:
    with pytest.raises(CommandError, match="would create the superuser demo/demo-margin"):
        call_command("seed_demo", stdout=StringIO())
    assert not get_user_model().objects.filter(username=DEMO_USERNAME).exists()
    out = StringIO()
    call_command("seed_demo", "--force", "--no-runs", stdout=out)
    assert "Demo ready" in out.getvalue()
    assert get_user_model().objects.get(username=DEMO_USERNAME).is_superuser


@pytest.mark.django_db
def test_development_and_test_settings_seed_without_force(priced_models: dict[str, AIModel]) -> None:
    call_command("seed_demo", "--no-runs", stdout=StringIO())
    assert get_user_model().objects.filter(username=DEMO_USERNAME).exists()
