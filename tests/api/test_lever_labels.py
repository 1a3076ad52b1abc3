"""A scenario's lever labels are used once (issue 19): the API refuses a duplicate on
``levers[i].label`` with the usual error shape, on the scenario and in a document."""

from __future__ import annotations

from typing import Any

import pytest

from planner.simulation.models import Scenario
from tests.api.conftest import KeyClient

pytestmark = pytest.mark.django_db


def _errors(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) == {"errors"}
    return list(body["errors"])


def test_a_duplicate_lever_label_is_a_400_on_its_field(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    levers = [
        {"key": "cache", "label": "Response cache 30%", "response_cache_hit_rate": 0.3},
        {"key": "batch", "label": "Batch half", "batch_share": 0.5},
        {"key": "cache-2", "label": " response CACHE 30% ", "response_cache_hit_rate": 0.4},
    ]
    response = client.patch(f"/api/v1/scenarios/{scenario.pk}/", {"levers": levers}, format="json")
    assert response.status_code == 400, response.content
    (error,) = _errors(response)
    assert (error["field"], error["code"]) == ("levers[2].label", "unique")
    assert "Response cache 30%" in error["message"]
    scenario.refresh_from_db()
    assert [lever["key"] for lever in scenario.levers] == ["cache"]
    levers[2]["label"] = "Response cache 40%"
    ok = client.patch(f"/api/v1/scenarios/{scenario.pk}/", {"levers": levers}, format="json")
    assert ok.status_code == 200, ok.content


def test_a_document_with_a_duplicate_lever_label_is_refused(
    key_client: KeyClient, scenario: Scenario
) -> None:
    client = key_client()
    document = client.get(f"/api/v1/scenarios/{scenario.pk}/document/").json()
    document["product"]["name"] = "Twice"
    twin = dict(document["plan"]["levers"][0], key="again")
    document["plan"]["levers"].append(twin)
    response = client.post("/api/v1/scenarios/import/", document, format="json")
    assert response.status_code == 400
    assert {(e["field"], e["code"]) for e in _errors(response)} == {("plan.levers[1].label", "unique")}
