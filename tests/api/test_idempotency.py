"""``Idempotency-Key`` on starting a run: a retried request starts nothing new and gets the first
response again; a reused key with another body is a 422; keys are per organisation and last 24 h."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from api.views import simulation as simulation_views
from planner.accounts.models import IdempotencyKey, Organization
from planner.simulation import runs
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.scenarios import scenario_create
from tests.api.conftest import KeyClient
from tests.conftest import ProductFactory

KEY = "3f1c9a52-7a0e-4d4e-9a53-2b1f0c6d8e11"


def runs_url(scenario: Scenario) -> str:
    return f"/api/v1/scenarios/{scenario.pk}/runs/"


def start(client: APIClient, scenario: Scenario, body: dict[str, Any], key: str | None = KEY) -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(runs_url(scenario), body, format="json", headers=headers)


def error_codes(response: Any) -> list[tuple[str | None, str]]:
    return [(error["field"], error["code"]) for error in response.json()["errors"]]


def test_the_same_key_and_body_answer_the_first_response_and_start_one_run(
    key_client: KeyClient, scenario: Scenario
) -> None:
    client = key_client()
    first = start(client, scenario, {"users": 1000, "seed": 7})
    again = start(client, scenario, {"seed": 7, "users": 1000})  # same data, other key order

    assert first.status_code == again.status_code == 202, first.content
    assert again.json() == first.json()
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert SimulationRun.objects.filter(scenario=scenario).count() == 1
    assert SimulationRun.objects.get().pk == first.json()["id"]


def test_the_same_key_with_another_body_is_a_422_and_starts_nothing(
    key_client: KeyClient, scenario: Scenario
) -> None:
    client = key_client()
    assert start(client, scenario, {"users": 1000}).status_code == 202

    reused = start(client, scenario, {"users": 2000})

    assert reused.status_code == 422
    assert error_codes(reused) == [("Idempotency-Key", "idempotency_key_reused")]
    assert SimulationRun.objects.filter(scenario=scenario).count() == 1


def test_the_same_key_on_another_scenario_is_a_422(
    key_client: KeyClient, scenario: Scenario, product_factory: ProductFactory
) -> None:
    client = key_client()
    other = scenario_create(product=product_factory(name="Other"), name="Other", seed=1)
    assert start(client, scenario, {"users": 1000}).status_code == 202

    assert error_codes(start(client, other, {"users": 1000})) == [
        ("Idempotency-Key", "idempotency_key_reused")
    ]


def test_without_the_header_every_post_starts_a_new_run(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    responses = [start(client, scenario, {"users": 1000}, key=None) for _ in range(2)]

    assert [r.status_code for r in responses] == [202, 202]
    assert len({r.json()["id"] for r in responses}) == 2
    assert IdempotencyKey.objects.count() == 0


def test_another_organisations_same_key_is_independent(
    key_client: KeyClient,
    scenario: Scenario,
    other_organization: Organization,
    product_factory: ProductFactory,
) -> None:
    theirs = scenario_create(
        product=product_factory(name="Rival", organization=other_organization), name="Rival", seed=1
    )
    ours = start(key_client(), scenario, {"users": 1000})
    rival = start(key_client(organization=other_organization), theirs, {"users": 1000})

    assert (ours.status_code, rival.status_code) == (202, 202)
    assert ours.json()["id"] != rival.json()["id"]
    assert not rival.has_header("Idempotent-Replayed")
    assert IdempotencyKey.objects.filter(key=KEY).count() == 2


def test_an_expired_key_starts_a_new_run_and_is_replaced(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    first = start(client, scenario, {"users": 1000})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    later = start(client, scenario, {"users": 2000})  # even another body: the old use is forgotten

    assert later.status_code == 202 and later.json()["id"] != first.json()["id"]
    assert not later.has_header("Idempotent-Replayed")
    assert SimulationRun.objects.filter(scenario=scenario).count() == 2
    row = IdempotencyKey.objects.get()
    assert row.created_at > timezone.now() - timedelta(minutes=1)


def test_a_key_just_inside_24_hours_still_replays(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    first = start(client, scenario, {"users": 1000})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))

    assert start(client, scenario, {"users": 1000}).json() == first.json()
    assert SimulationRun.objects.filter(scenario=scenario).count() == 1


@pytest.mark.parametrize(
    ("key", "code"),
    [("", "blank"), ("k" * 256, "max_length"), ("a\x00b", "invalid")],
    ids=["empty", "256 characters", "NUL"],
)
def test_an_empty_too_long_or_control_character_key_is_a_400_naming_the_header(
    key_client: KeyClient, scenario: Scenario, key: str, code: str
) -> None:
    response = start(key_client(), scenario, {"users": 1000}, key=key)

    assert response.status_code == 400
    assert error_codes(response) == [("Idempotency-Key", code)]
    assert SimulationRun.objects.count() == IdempotencyKey.objects.count() == 0


def test_a_key_of_255_characters_is_accepted(key_client: KeyClient, scenario: Scenario) -> None:
    assert start(key_client(), scenario, {"users": 1000}, key="k" * 255).status_code == 202


def test_a_refused_request_keeps_no_key_so_the_retry_can_succeed(
    key_client: KeyClient, scenario: Scenario
) -> None:
    client = key_client()
    refused = start(client, scenario, {"users": 1})
    assert refused.status_code == 400 and IdempotencyKey.objects.count() == 0

    assert start(client, scenario, {"users": 1000}).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_key_start_one_run(
    key_client: KeyClient, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests pass the barrier together; the first to insert the key holds its run's
    transaction open for a while, so the other one's insert really waits on it."""
    monkeypatch.setattr(runs, "enqueue", lambda *args: None)
    run_start = simulation_views.run_start

    def slow_run_start(**kwargs: Any) -> SimulationRun:
        time.sleep(0.5)
        return run_start(**kwargs)

    monkeypatch.setattr(simulation_views, "run_start", slow_run_start)
    workers = 3
    clients = [key_client() for _ in range(workers)]
    barrier, responses, failures = threading.Barrier(workers), [], []

    def post(client: APIClient) -> None:
        try:
            barrier.wait()
            responses.append(start(client, scenario, {"users": 1000}))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert [r.status_code for r in responses] == [202] * workers
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.has_header("Idempotent-Replayed") for r in responses) == workers - 1
    assert SimulationRun.objects.filter(scenario=scenario).count() == 1
