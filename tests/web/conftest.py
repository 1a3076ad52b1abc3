"""Fixtures for the web tests: a priced scenario (from tests/conftest.py), a finished run of it
computed in this process, and a signed-in client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create, run_execute


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def finished_run(scenario: Scenario) -> SimulationRun:  # noqa: F811
    """A succeeded run of ``scenario``, simulated in this process (no Celery)."""
    return run_execute(run=run_create(scenario=scenario))


@pytest.fixture
def other_client(db: Any) -> Client:
    """A signed-in member of another organisation."""
    from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

    stranger = UserFactory.create(username="mallory")
    MembershipFactory.create(
        user=stranger, organization=OrganizationFactory.create(name="Rival", slug="rival")
    )
    client = Client()
    client.force_login(stranger)
    return client
