"""Schemathesis against the live schema, in-process through the WSGI app, with an API key of a
seeded organisation: every built-in check, bounded examples (the whole test stays under ~60 s).

``positive_data_acceptance`` also accepts 400: some rules span several fields (a p90 not below
its median, model shares summing to 1, a hard cap not below the quota) and cannot be written in
OpenAPI, so schema-valid data can still be refused, with a field error."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import Organization
from planner.simulation.models import Scenario, SimulationRun
from planner.wsgi import application
from tests.api.conftest import ALL_SCOPES

load_all_checks()
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2xx",
    "400",
    "401",
    "403",
    "404",
    "409",
    # Schemathesis may send one Idempotency-Key twice with different bodies: the documented
    # answer is 422 idempotency_key_reused.
    "422",
    "429",
]
ALL_CHECKS = CHECKS.get_all()


@pytest.fixture
def _keep_test_connection() -> Any:
    """Like Django's test client: the WSGI app must not close the test transaction's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_headers(
    _keep_test_connection: None, organization: Organization, scenario: Scenario
) -> dict[str, str]:
    SimulationRun.objects.create(scenario=scenario, seed=1, users=1_000, snapshot={}, blocks_total=1)
    _, key = api_key_create(organization=organization, name="schemathesis", scopes=ALL_SCOPES)
    return {"Authorization": f"Api-Key {key}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_its_schema(case: Any, api_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=api_headers, checks=ALL_CHECKS)
