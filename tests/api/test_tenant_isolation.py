"""Every API route, found from the URL resolver, tried with every method by callers who must
not see organisation A's data: another organisation's key and member, A's revoked key, and no
credentials. A new endpoint is covered without editing this test; if organisation A has no
object for a new object route, the test fails and says which fixture to extend."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import Organization
from tests.api.conftest import ALL_SCOPES, client_for, user_client
from tests.api.routes import SHARED, api_routes, own_object_values, route_path


@pytest.fixture
def marker_free(seeded: dict[str, Any]) -> list[str]:
    """Strings that only organisation A's data contains."""
    return [
        seeded["product"].name,
        seeded["scenario"].name,
        seeded["product"].organization.slug,
        seeded["price_sheet"].name,
        seeded["self_hosted"].name,
        seeded["segment"].name,
        seeded["alert_channel"].name,
        seeded["billing_mapping"].customer_field,
        seeded["ingestion_error"].event_key,
    ]


def test_routes_are_found() -> None:
    names = {r.name for r in api_routes()}
    assert {
        "product-list",
        "product-detail",
        "scenario-runs",
        "run-cancel",
        "scenario-import-document",
        "catalog-model-detail",
        "price-sheet-entry",
        "price-sheet-import",
        "price-sheet-export",
        "self-hosted-deployment-detail",
        "segment-list",
        "segment-detail",
        "usage-distribution-segments-proposed",
        "alert-channel-list",
        "alert-channel-detail",
        "alert-channel-rotate-secret",
        "alert-channel-test",
        "alert-channel-deliveries",
        "billing-mapping-list",
        "billing-mapping-detail",
        "ingestion-error-list",
    } <= names


def test_other_organisations_never_see_or_touch_objects(
    seeded: dict[str, Any],
    organization: Organization,
    other_organization: Organization,
    other_user: Any,
    marker_free: list[str],
    revoked_key: str,
) -> None:
    _, own_key = api_key_create(organization=organization, name="own", scopes=ALL_SCOPES)
    _, foreign_key = api_key_create(organization=other_organization, name="foreign", scopes=ALL_SCOPES)
    callers: dict[str, APIClient] = {
        "foreign key": client_for(foreign_key),
        "foreign member": user_client(other_user),
        "revoked key": client_for(revoked_key),
        "no credentials": client_for(None),
    }
    missing: list[str] = []
    problems: list[str] = []
    for route in api_routes():
        values: dict[str, Any] = {}
        if route.kwargs:
            found = own_object_values(route, own_key)
            if found is None:
                missing.append(route.name)
                continue
            values = found
        path = route_path(route, values)
        for method in route.methods:
            for who, client in callers.items():
                response = getattr(client, method)(path, data={}, format="json")
                body = response.content.decode()
                leaked = [m for m in marker_free if m in body]
                if who in ("revoked key", "no credentials"):
                    ok = response.status_code == 401
                elif route.kwargs and route.name not in SHARED:
                    ok = response.status_code == 404
                else:
                    ok = response.status_code in (200, 201, 202, 400) and not leaked
                if not ok or leaked:
                    problems.append(f"{method.upper()} {path} as {who}: {response.status_code} {body[:120]}")
    assert not missing, f"Add an object of organisation A for these routes to the `seeded` fixture: {missing}"
    assert not problems, "\n".join(problems)


def test_foreign_ids_in_writes_do_not_exist(
    seeded: dict[str, Any], other_organization: Organization, key_client: Any
) -> None:
    client = key_client(organization=other_organization)
    tier = seeded["product"].all_tiers.first()
    workload = seeded["product"].workloads.first()
    response = client.post(
        "/api/v1/usage-distributions/",
        {"tier": tier.pk, "workload": workload.pk, "kind": "lognormal", "median": 1.0, "p90": 2.0},
        format="json",
    )
    assert response.status_code == 400
    fields = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert fields == {("tier", "does_not_exist"), ("workload", "does_not_exist")}
    response = client.post(
        "/api/v1/tiers/", {"product": seeded["product"].pk, "name": "Sneaky"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "product"
    assert "does not exist" in response.json()["errors"][0]["message"]
    # Filtering by another organisation's id gives nothing, like an id that does not exist.
    listed = client.get(f"/api/v1/tiers/?product={seeded['product'].pk}")
    assert listed.status_code == 200 and listed.json()["count"] == 0
