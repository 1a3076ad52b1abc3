"""``/api/v1/prices/`` (the shared catalog, read-only), ``/api/v1/price-sheets/`` (CRUD, entries,
CSV/JSON import with row errors, export round trips) and ``/api/v1/self-hosted-deployments/``
(the derived $/Mtok with its arithmetic), all scoped to the caller's organisation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from planner.accounts.models import Membership, Organization
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from planner.prices.sheets import ENTRY_COLUMNS
from tests.api.conftest import KeyClient, client_for, user_client
from tests.factories import MembershipFactory, UserFactory

PRICES = "/api/v1/prices/"
SHEETS = "/api/v1/price-sheets/"
SELF_HOSTED = "/api/v1/self-hosted-deployments/"
HEADER = ",".join(ENTRY_COLUMNS) + "\n"
GOOD_CSV = (
    HEADER
    + "discount,openai,,0.2,,,,,,,\n"
    + "discount,openai,gpt-4o,0.25,,,,,,,\n"
    + "private,,,,acme-large,Acme Large,0.6,2.4,0.15,,3\n"
)
DEPLOYMENT = {
    "name": "Llama 70B on H100",
    "base_model": "Llama 3.1 70B Instruct",
    "gpu_type": "H100 80GB",
    "gpu_hourly_cost": "2.50",
    "gpus_per_replica": 2,
    "input_tokens_per_second": 5000.0,
    "output_tokens_per_second": 1000.0,
    "target_utilization": 0.6,
    "quantization": "fp8",
}


def errors(response: Any) -> set[tuple[Any, ...]]:
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


def _sheet(client: APIClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "2026 contract", "effective_from": "2026-01-01", **fields}
    response = client.post(SHEETS, body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _import(client: APIClient, sheet_id: int, content: str, content_type: str = "text/csv") -> Any:
    return client.generic("POST", f"{SHEETS}{sheet_id}/import/", content, content_type=content_type)


# --- Catalog ---------------------------------------------------------------------------------


def test_catalog_lists_searches_orders_and_pages(key_client: KeyClient, priced_models: Any) -> None:
    client = key_client(scopes=["read"])
    listed = client.get(PRICES)
    assert listed.status_code == 200, listed.content
    assert listed.json()["count"] == 3
    first = listed.json()["results"][0]
    assert set(first) >= {"id", "provider", "slug", "current_input_mtok", "current_output_mtok"}

    found = client.get(PRICES, {"q": "openai mini"}).json()
    assert [m["slug"] for m in found["results"]] == ["gpt-4o-mini"]
    assert found["results"][0]["current_input_mtok"] == "0.15"  # a plain decimal string

    cheapest = [m["slug"] for m in client.get(PRICES, {"ordering": "input"}).json()["results"]]
    dearest = [m["slug"] for m in client.get(PRICES, {"ordering": "-input"}).json()["results"]]
    assert cheapest[0] == "gpt-4o-mini" and dearest == cheapest[::-1]

    page = client.get(PRICES, {"ordering": "output", "page_size": "2"}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    second = client.get(page["next"]).json()
    assert [m["slug"] for m in page["results"] + second["results"]] == cheapest

    bad = client.get(PRICES, {"ordering": "name"})
    assert bad.status_code == 400 and errors(bad) == {("ordering", "invalid_choice")}
    assert client.get(PRICES, {"ordering": ""}).status_code == 400
    assert client_for(None).get(PRICES).status_code == 401


def test_catalog_model_has_its_history_by_variant(key_client: KeyClient, priced_models: Any) -> None:
    client = key_client(scopes=["read"])
    model = priced_models["frontier"]
    response = client.get(f"{PRICES}{model.pk}/")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["provider"], data["slug"]) == ("openai", "gpt-4o")
    variants = [v["variant"] for v in data["variants"]]
    assert variants == sorted(variants) and "" in variants and len(variants) > 1  # batch, priority...
    standard = next(v for v in data["variants"] if v["variant"] == "")
    assert standard["prices"] and all("structure" in row for row in standard["prices"])
    assert standard["prices"][-1]["input_mtok"] == "2.5"
    assert client.get(f"{PRICES}999999/").status_code == 404
    # The catalog is read-only.
    assert key_client().post(PRICES, {}, format="json").status_code == 405


# --- Price sheets ----------------------------------------------------------------------------


def test_sheet_crud_with_entries(key_client: KeyClient, priced_models: Any) -> None:
    client = key_client()
    sheet = _sheet(client)
    assert sheet["entries"] == [] and sheet["effective_to"] is None
    url = f"{SHEETS}{sheet['id']}/"

    added = client.post(
        f"{url}entries/", {"kind": "discount", "provider": "openai", "discount": "0.2"}, format="json"
    )
    assert added.status_code == 201, added.content
    private = {
        "kind": "private",
        "slug": "acme-large",
        "name": "Acme Large",
        "input_mtok": "0.6",
        "output_mtok": "2.4",
    }
    added = client.post(f"{url}entries/", private, format="json")
    assert added.status_code == 201, added.content
    entries = added.json()["entries"]
    assert [(e["kind"], e["target"]) for e in entries] == [
        ("discount", "openai (all models)"),
        ("private", "private/acme-large"),
    ]
    assert entries[0]["discount"] == "0.2" and entries[0]["model"] is None
    assert entries[1]["input_mtok"] == "0.6" and entries[1]["cache_read_mtok"] is None

    # Field errors from the service, and money as numbers refused.
    again = client.post(f"{url}entries/", private, format="json")
    assert again.status_code == 400 and errors(again) == {("slug", "invalid")}
    number = client.post(f"{url}entries/", {**private, "slug": "x", "input_mtok": 0.6}, format="json")
    assert number.status_code == 400 and errors(number) == {("input_mtok", "invalid")}
    unknown = client.post(
        f"{url}entries/", {"kind": "discount", "provider": "nope", "discount": "0.1"}, format="json"
    )
    assert unknown.status_code == 400 and {f for f, _ in errors(unknown)} == {"provider"}

    updated = client.patch(url, {"name": "Renegotiated", "effective_to": "2026-12-31"}, format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["name"] == "Renegotiated" and len(updated.json()["entries"]) == 2
    backwards = client.patch(url, {"effective_to": "2025-01-01"}, format="json")
    assert backwards.status_code == 400 and {f for f, _ in errors(backwards)} == {"effective_to"}

    # Another sheet over overlapping dates may not price the same provider.
    other = _sheet(client, name="Q3 promo", effective_from="2026-07-01")
    clash = client.post(
        f"{SHEETS}{other['id']}/entries/",
        {"kind": "discount", "provider": "openai", "discount": "0.1"},
        format="json",
    )
    assert clash.status_code == 400 and {f for f, _ in errors(clash)} == {"provider"}
    assert "already prices" in clash.json()["errors"][0]["message"]

    assert client.get(SHEETS).json()["count"] == 2
    assert client.get(SHEETS, {"ordering": "name"}).json()["results"][0]["name"] == "Q3 promo"
    entry_id = entries[1]["id"]
    assert client.delete(f"{url}entries/{entry_id}/").status_code == 204
    assert client.delete(f"{url}entries/{entry_id}/").status_code == 404
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert PriceSheet.objects.count() == 1


def test_sheet_writes_need_the_write_scope_and_role(
    key_client: KeyClient, organization: Organization, seeded: dict[str, Any]
) -> None:
    url = f"{SHEETS}{seeded['price_sheet'].pk}/"
    reader = key_client(scopes=["read"])
    assert reader.get(url).status_code == 200
    refused = reader.patch(url, {"name": "x"}, format="json")
    assert refused.status_code == 403 and errors(refused) == {(None, "missing_scope")}
    viewer = UserFactory.create(username="victor")
    MembershipFactory.create(user=viewer, organization=organization, role=Membership.Role.VIEWER)
    as_viewer = user_client(viewer)
    assert as_viewer.get(url).status_code == 200
    refused = as_viewer.post(f"{url}import/", GOOD_CSV, content_type="text/csv")
    assert refused.status_code == 403 and errors(refused) == {(None, "role_cannot_write")}
    refused = as_viewer.post(SELF_HOSTED, DEPLOYMENT, format="json")
    assert refused.status_code == 403 and errors(refused) == {(None, "role_cannot_write")}


def test_import_reports_every_bad_row_and_writes_nothing(key_client: KeyClient, priced_models: Any) -> None:
    client = key_client()
    sheet = _sheet(client)
    assert _import(client, sheet["id"], GOOD_CSV).status_code == 200
    before = list(PriceSheetEntry.objects.order_by("id").values())

    bad = HEADER + "discount,openai,,1.5,,,,,,,\ndiscount,nope,,0.1,,,,,,,\nprivate,,,,acme-large,,0.6,,,,\n"
    response = _import(client, sheet["id"], bad)
    assert response.status_code == 400
    rows = {(e["line"], e["field"], e["code"]) for e in response.json()["errors"]}
    assert rows == {
        (2, "discount", "invalid_row"),
        (3, "provider", "invalid_row"),
        (4, "output_mtok", "invalid_row"),
    }
    assert all(e["message"] for e in response.json()["errors"])
    assert list(PriceSheetEntry.objects.order_by("id").values()) == before

    as_json = json.dumps({"entries": [{"kind": "discount", "provider": "openai", "discount": "2"}, "x"]})
    response = _import(client, sheet["id"], as_json, "application/json")
    assert response.status_code == 400
    assert {(e["line"], e["field"]) for e in response.json()["errors"]} == {(1, "discount"), (2, "entry")}
    response = _import(client, sheet["id"], "{not json", "application/json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "file"
    response = _import(client, sheet["id"], "", "text/csv")
    assert response.status_code == 400 and response.json()["errors"][0]["line"] == 0
    assert list(PriceSheetEntry.objects.order_by("id").values()) == before

    unsupported = client.generic("POST", f"{SHEETS}{sheet['id']}/import/", "x", content_type="text/plain")
    assert unsupported.status_code == 415


def test_import_then_export_round_trips(key_client: KeyClient, priced_models: Any) -> None:
    client = key_client()
    sheet = _sheet(client)
    imported = _import(client, sheet["id"], GOOD_CSV)
    assert imported.status_code == 200, imported.content
    result = imported.json()
    assert (result["created"], result["updated"], result["deleted"]) == (3, 0, 0)
    assert len(result["sheet"]["entries"]) == 3

    exported = client.get(f"{SHEETS}{sheet['id']}/export/", {"format": "csv"})
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    assert 'filename="2026-contract.csv"' in exported["Content-Disposition"]
    assert exported.content.decode() == GOOD_CSV  # already in the stable order
    again = _import(client, sheet["id"], exported.content.decode())
    assert (again.json()["created"], again.json()["updated"], again.json()["deleted"]) == (0, 3, 0)
    assert client.get(f"{SHEETS}{sheet['id']}/export/").content.decode() == GOOD_CSV  # csv by default

    as_json = client.get(f"{SHEETS}{sheet['id']}/export/", {"format": "json"})
    assert as_json["Content-Type"].startswith("application/json")
    document = as_json.json()
    assert document["sheet"]["name"] == "2026 contract" and len(document["entries"]) == 3
    # JSON numbers are read as exact decimals.
    document["entries"][0]["discount"] = 0.1
    reimported = _import(client, sheet["id"], json.dumps(document), "application/json")
    assert reimported.status_code == 200, reimported.content
    assert reimported.json()["sheet"]["entries"][0]["discount"] == "0.1"
    text = client.get(f"{SHEETS}{sheet['id']}/export/?format=json").content
    assert _import(client, sheet["id"], text.decode(), "application/json").status_code == 200
    assert client.get(f"{SHEETS}{sheet['id']}/export/?format=json").content == text

    bad = client.get(f"{SHEETS}{sheet['id']}/export/", {"format": "xml"})
    assert bad.status_code == 400 and errors(bad) == {("format", "invalid_choice")}
    assert bad["Content-Type"].startswith("application/json")


# --- Self-hosted deployments -----------------------------------------------------------------


def test_self_hosted_crud_and_arithmetic(key_client: KeyClient, organization: Organization) -> None:
    client = key_client()
    created = client.post(SELF_HOSTED, DEPLOYMENT, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["gpu_hourly_cost"] == "2.5000"
    price = data["price"]
    # docs/PRICING.md: $5 per hour / (5,000 x 0.6 x 3600 = 10.8 M input tokens per hour).
    assert price["replica_hourly_cost"] == "5"
    assert price["input_tokens_per_hour"] == "10800000"
    assert price["input_mtok"] == "0.462962963"
    assert price["output_mtok"] == "2.3148148148"
    assert price["monthly_fixed_cost"] == "3650"
    assert len(price["steps"]) == 6 and "0.462963 per million input tokens" in price["steps"][2]

    url = f"{SELF_HOSTED}{data['id']}/"
    updated = client.patch(url, {"target_utilization": 1.0, "throughput_multiplier": 2.0}, format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["price"]["input_mtok"] == "0.1388888889"  # 5 / (5,000 x 2 x 3600) x 1e6

    refused = client.post(SELF_HOSTED, {**DEPLOYMENT, "name": "x", "gpu_hourly_cost": 2.5}, format="json")
    assert refused.status_code == 400 and errors(refused) == {("gpu_hourly_cost", "invalid")}
    refused = client.post(SELF_HOSTED, {**DEPLOYMENT, "name": "y", "target_utilization": 1.5}, format="json")
    assert refused.status_code == 400 and {f for f, _ in errors(refused)} == {"target_utilization"}
    duplicate = client.post(SELF_HOSTED, DEPLOYMENT, format="json")
    assert duplicate.status_code == 400

    assert client.get(SELF_HOSTED).json()["count"] == 1
    assert client.delete(url).status_code == 204
    assert not SelfHostedDeployment.objects.exists()


# --- Tenancy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "entries/"),
        ("post", "import/"),
        ("get", "export/?format=json"),
    ],
)
def test_another_organisations_sheet_is_a_404(
    key_client: KeyClient, seeded: dict[str, Any], other_organization: Organization, method: str, suffix: str
) -> None:
    client = key_client(organization=other_organization)
    url = f"{SHEETS}{seeded['price_sheet'].pk}/{suffix}"
    response = getattr(client, method)(url, {"name": "x"}, format="json")
    assert response.status_code == 404 and errors(response) == {(None, "not_found")}
    assert PriceSheet.objects.get(pk=seeded["price_sheet"].pk).name == "Seeded sheet"


def test_another_organisations_deployment_is_a_404(
    key_client: KeyClient, seeded: dict[str, Any], other_organization: Organization
) -> None:
    client = key_client(organization=other_organization)
    url = f"{SELF_HOSTED}{seeded['self_hosted'].pk}/"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"name": "x"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get(SELF_HOSTED).json()["count"] == 0
    assert client.get(SHEETS).json()["count"] == 0
    # The catalog is shared: every organisation reads the same models.
    assert client.get(PRICES).json()["count"] == key_client().get(PRICES).json()["count"] > 0
