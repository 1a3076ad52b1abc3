"""The read path's shortcuts give exactly what the plain DRF path gives.

Shared serializers (``api.representation``), the stored document of a finished run, the
first page without a count, the filter backend that skips an unused filterset, the cached
API key and the fixed-window throttle: each is checked against the behaviour it replaces.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from api import representation
from api.serializers.runs import RunSerializer
from api.views.base import OrganizationViewSetMixin
from planner.accounts.api_keys import api_key_create, api_key_revoke
from planner.accounts.models import ApiKey, Organization
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create, run_execute
from planner.simulation.scenarios import scenario_duplicate
from tests.api.conftest import ALL_SCOPES, KeyClient, client_for
from tests.api.routes import api_routes, own_object_values, route_path

pytestmark = pytest.mark.django_db


def fresh_serializers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``api.representation`` build a new serializer for every object, as DRF does, and
    forget every stored representation."""
    monkeypatch.setattr(representation, "_prototype", lambda serializer_class: serializer_class(context={}))
    caches["local"].clear()


def test_shared_serializers_give_the_same_json_on_every_read_route(
    seeded: dict[str, Any], organization: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = api_key_create(organization=organization, name="reads", scopes=ALL_SCOPES)
    client = client_for(key)
    routes = [
        route
        for route in api_routes()
        if issubclass(route.view.cls, OrganizationViewSetMixin)
        and ({"list", "retrieve"} & set((route.view.actions or {}).values()))
    ]
    paths = []
    for route in routes:
        values = own_object_values(route, key) if route.kwargs else {}
        assert values is not None, f"no object of organisation A for {route.name}"
        paths.append(route_path(route, values))
    assert {"/api/v1/scenarios/", "/api/v1/products/", "/api/v1/tiers/"} <= set(paths)
    shared = {path: client.get(path) for path in paths}
    fresh_serializers(monkeypatch)
    for path, response in shared.items():
        assert response.status_code == 200, (path, response.content)
        fresh = client.get(path)
        assert fresh.status_code == 200 and fresh.json() == response.json(), path


def test_lists_reuse_representations_by_version(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    first = client.get("/api/v1/scenarios/").json()
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/api/v1/scenarios/").json()
    assert again == first
    [query] = queries  # only ids and versions: every representation came from the cache
    assert '"planner_scenario"."levers"' not in query["sql"] and '"updated_at"' in query["sql"]
    renamed = client.patch(f"/api/v1/scenarios/{scenario.pk}/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200
    listed = client.get("/api/v1/scenarios/").json()["results"]
    assert [s["name"] for s in listed] == ["Renamed"]
    assert listed[0]["updated_at"] == renamed.json()["updated_at"] != first["results"][0]["updated_at"]


def test_represent_versions_shows_objects_as_they_are_now(scenario: Scenario) -> None:
    from api.serializers.resources import ScenarioSerializer

    queryset = Scenario.objects.all()
    stale = scenario.updated_at
    scenario.name = "Changed since"
    scenario.save()
    gone = scenario_duplicate(scenario=scenario)
    gone_pk = gone.pk
    gone.delete()
    versions = [(scenario.pk, stale), (gone_pk, stale)]
    [shown] = representation.represent_versions(ScenarioSerializer, queryset, versions)
    assert shown["name"] == "Changed since"  # read after the version list: shown as it is now
    # Stored under the version it was read with (an empty queryset proves a cache hit)...
    cached_only = Scenario.objects.none()
    now = [(scenario.pk, scenario.updated_at)]
    assert list(representation.represent_versions(ScenarioSerializer, cached_only, now)) == [shown]
    # ...and never under the stale one.
    stale_only = [(scenario.pk, stale)]
    assert list(representation.represent_versions(ScenarioSerializer, cached_only, stale_only)) == []


def test_a_succeeded_run_is_served_from_its_stored_document(
    key_client: KeyClient, scenario: Scenario
) -> None:
    run = run_execute(run=run_create(scenario=scenario, users=1_000, seed=3))
    client = key_client()
    first = client.get(f"/api/v1/runs/{run.pk}/")
    assert first.status_code == 200 and first["Content-Type"] == "application/json"
    # The stored document is the serializer's output, rendered as the API renders it.
    expected = RunSerializer(SimulationRun.objects.get(pk=run.pk)).data
    assert first.json() == json.loads(json.dumps(expected))
    with CaptureQueriesContext(connection) as queries:
        second = client.get(f"/api/v1/runs/{run.pk}/")
    assert second.content == first.content and second["ETag"] == first["ETag"]
    assert len(queries) == 1, [q["sql"] for q in queries]  # the run, tenant-scoped; no results column
    assert '"results"' not in queries[0]["sql"]
    not_modified = client.get(f"/api/v1/runs/{run.pk}/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == first["ETag"]
    stale = client.get(f"/api/v1/runs/{run.pk}/", HTTP_IF_NONE_MATCH='"something-else"')
    assert stale.status_code == 200 and stale.content == first.content


def test_an_unfinished_run_is_rendered_afresh(key_client: KeyClient, scenario: Scenario) -> None:
    run = run_create(scenario=scenario, users=1_000, seed=3)
    client = key_client()
    queued = client.get(f"/api/v1/runs/{run.pk}/")
    assert queued.json()["status"] == "queued" and "ETag" not in queued
    run_execute(run=run)
    done = client.get(f"/api/v1/runs/{run.pk}/").json()
    assert done["status"] == "succeeded" and done["results"]["users"] == 1_000


def test_finished_run_document_refuses_unfinished_runs(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="has not succeeded"):
        representation.finished_run_document(run_create(scenario=scenario, users=1_000, seed=3))


def test_serializer_fingerprint_follows_the_output_structure() -> None:
    class Inner(serializers.Serializer[Any]):
        value = serializers.FloatField()

    class Before(serializers.Serializer[Any]):
        name = serializers.CharField()
        items = Inner(many=True)

    class Renamed(serializers.Serializer[Any]):
        title = serializers.CharField()
        items = Inner(many=True)

    class Retyped(serializers.Serializer[Any]):
        name = serializers.CharField()
        items = serializers.ListField(child=serializers.IntegerField())

    fingerprints = {representation.serializer_fingerprint(cls()) for cls in (Before, Renamed, Retyped)}
    assert len(fingerprints) == 3
    assert representation.serializer_fingerprint(Before()) == representation.serializer_fingerprint(Before())


def test_short_first_page_is_one_query_and_counts_exactly(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    client.get("/api/v1/scenarios/")  # authenticate once: the key is then remembered
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/api/v1/scenarios/").json()
    assert body["count"] == 1 and [s["id"] for s in body["results"]] == [scenario.pk]
    assert len(queries) == 1 and "COUNT(" not in queries[0]["sql"].upper()
    for _ in range(2):
        scenario_duplicate(scenario=scenario)
    with CaptureQueriesContext(connection) as queries:
        full = client.get("/api/v1/scenarios/?page_size=2").json()
    assert full["count"] == 3 and len(full["results"]) == 2 and full["next"] is not None
    assert any("COUNT(" in q["sql"].upper() for q in queries)  # a full first page counts
    second = client.get("/api/v1/scenarios/?page_size=2&page=2").json()
    assert second["count"] == 3 and len(second["results"]) == 1 and second["next"] is None
    assert client.get("/api/v1/scenarios/?page=3").status_code == 404


def test_empty_list_counts_zero(key_client: KeyClient) -> None:
    body = key_client().get("/api/v1/scenarios/").json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


def test_filters_still_apply_and_validate_when_named(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    product = scenario.product.pk
    assert client.get(f"/api/v1/scenarios/?product={product}").json()["count"] == 1
    assert client.get(f"/api/v1/scenarios/?product={product + 1000}").json()["count"] == 0
    assert client.get("/api/v1/scenarios/?product=abc").status_code == 400
    assert client.get("/api/v1/scenarios/?unrelated=1").json()["count"] == 1


def test_a_verified_key_is_remembered_and_revocation_is_immediate(organization: Organization) -> None:
    api_key, plain = api_key_create(organization=organization, name="remembered", scopes=["read"])
    client = client_for(plain)
    assert client.get("/api/v1/products/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/products/").status_code == 200
    assert not [q for q in queries if "planner_apikey" in q["sql"]]
    api_key_revoke(api_key=ApiKey.objects.get(pk=api_key.pk))
    assert client.get("/api/v1/products/").status_code == 401


def test_throttle_counts_in_fixed_windows(key_client: KeyClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.throttling import ApiKeyRateThrottle

    clock = {"now": 1_000_040.0}  # 20 s into a minute window (1,000,020 = 16,667 min)
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: clock["now"])
    client = key_client()
    assert [client.get("/api/v1/products/").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/products/")
    assert refused.status_code == 429 and refused["Retry-After"] == "40"
    clock["now"] += 40  # the next window
    assert client.get("/api/v1/products/").status_code == 200
