"""Hostile inputs that used to answer 500 (issue 17): each answers a 4xx in the API's error shape,
naming the field (or the file's line) at fault, and writes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from planner.actuals.models import Customer, UsageRecord
from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from planner.prices.sheets import ENTRY_COLUMNS
from planner.products.models import Product, Tier, Workload
from planner.products.selectors import live_tiers
from pricing.models import AIModel
from tests.api.conftest import KeyClient

SELF_HOSTED = "/api/v1/self-hosted-deployments/"
USAGE = "/api/v1/usage-records/"
DEPLOYMENT = {
    "name": "Llama 70B on H100",
    "gpu_hourly_cost": "2.50",
    "gpus_per_replica": 2,
    "input_tokens_per_second": 5000.0,
    "output_tokens_per_second": 1000.0,
    "target_utilization": 0.6,
}


def errors(response: Any) -> set[tuple[Any, ...]]:
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


def fields(response: Any) -> set[Any]:
    return {e["field"] for e in response.json()["errors"]}


def post_json(client: Any, url: str, body: Any) -> Any:
    return client.generic("POST", url, json.dumps(body), content_type="application/json")


# --- Self-hosted deployments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"input_tokens_per_second": 1e-300}, "input_tokens_per_second", "Enter at least 0.01"),
        ({"output_tokens_per_second": 5e-324}, "output_tokens_per_second", "Enter at least 0.01"),
        ({"throughput_multiplier": 1e-300}, "throughput_multiplier", "Enter at least 0.01"),
        ({"target_utilization": 1e-300}, "target_utilization", "Enter at least 0.01"),
        (
            {"gpu_hourly_cost": "99999999", "input_tokens_per_second": 0.01},
            "input_tokens_per_second",
            "largest price the catalog holds",
        ),
    ],
)
def test_a_deployment_whose_price_is_out_of_range_is_a_400_and_not_saved(
    key_client: KeyClient, organization: Any, changes: dict[str, Any], field: str, reason: str
) -> None:
    client = key_client()
    response = post_json(client, SELF_HOSTED, {**DEPLOYMENT, **changes})
    assert response.status_code == 400, response.content
    assert errors(response) == {(field, "invalid")}
    assert reason in response.json()["errors"][0]["message"]
    assert not SelfHostedDeployment.objects.exists()
    assert client.get(SELF_HOSTED).status_code == 200


def test_a_deployment_update_to_an_out_of_range_price_is_a_400_and_changes_nothing(
    key_client: KeyClient, organization: Any
) -> None:
    client = key_client()
    created = post_json(client, SELF_HOSTED, DEPLOYMENT).json()
    response = client.patch(
        f"{SELF_HOSTED}{created['id']}/", {"input_tokens_per_second": 1e-300}, format="json"
    )
    assert response.status_code == 400 and "input_tokens_per_second" in fields(response)
    assert SelfHostedDeployment.objects.get().input_tokens_per_second == 5000.0


def test_a_stored_deployment_whose_price_cannot_be_computed_does_not_break_the_list(
    key_client: KeyClient, organization: Any
) -> None:
    """A row written before the bound (or by raw SQL) is listed with ``price: null``."""
    client = key_client()
    created = post_json(client, SELF_HOSTED, DEPLOYMENT).json()
    SelfHostedDeployment.objects.filter(pk=created["id"]).update(input_tokens_per_second=1e-300)
    listed = client.get(SELF_HOSTED)
    assert listed.status_code == 200, listed.content
    assert listed.json()["results"][0]["price"] is None
    detail = client.get(f"{SELF_HOSTED}{created['id']}/")
    assert detail.status_code == 200 and detail.json()["price"] is None


# --- Usage records -----------------------------------------------------------------------------


@pytest.fixture
def pro(product: Product, priced_models: dict[str, AIModel]) -> Tier:
    return live_tiers(product).get(name="Pro")


def usage_record(tier: Tier, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": "evt-1",
        "customer": "cus-1",
        "tier": tier.pk,
        "timestamp": "2025-06-12T10:00:00Z",
        "model": "openai/gpt-4o",
        "input_tokens": 1_000,
        "output_tokens": 100,
        **changes,
    }


@pytest.mark.parametrize("field", ["event_id", "customer", "model", "variant"])
@pytest.mark.parametrize("text", ["\ud800", "evt-\udfff", "openai/\ud83d"])
def test_a_lone_surrogate_in_a_usage_record_is_a_400(
    key_client: KeyClient, pro: Tier, field: str, text: str
) -> None:
    body = json.dumps(usage_record(pro, **{field: text}))  # ensure_ascii: "\ud800" on the wire
    assert "\\ud" in body
    response = key_client(scopes=["ingest"]).generic("POST", USAGE, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert fields(response) == {field}
    assert not UsageRecord.objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize(
    "timestamp",
    [
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00+23:59",
    ],
)
def test_a_timestamp_beyond_the_calendar_in_utc_is_a_400(
    key_client: KeyClient, pro: Tier, timestamp: str
) -> None:
    response = post_json(key_client(scopes=["ingest"]), USAGE, usage_record(pro, timestamp=timestamp))
    assert response.status_code == 400, response.content
    assert errors(response) == {("timestamp", "invalid")}
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    "cursor",
    [
        "forged",
        "cD0xMjM=",  # p=123
        "cD1hYmM=",  # p=abc
        "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",  # p=huge
        "cD0tMQ==",  # p=-1
        "bz05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",  # o=huge
        "cD0lMDA=",  # p=%00
        "cD0xJTAwMg==",  # p=1%002
        "cj0xJnA9MQ==",  # r=1&p=1
        "cD0xLjU=",  # p=1.5
    ],
)
def test_a_forged_cursor_on_usage_records_is_a_400(key_client: KeyClient, pro: Tier, cursor: str) -> None:
    client = key_client(scopes=["ingest", "read"])
    assert post_json(client, USAGE, usage_record(pro)).status_code == 201
    response = client.get(USAGE, {"cursor": cursor})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert errors(response) == {("cursor", "invalid")}


def test_a_forged_cursor_with_a_non_integer_position_is_a_400(key_client: KeyClient, pro: Tier) -> None:
    client = key_client(scopes=["ingest", "read"])
    assert post_json(client, USAGE, usage_record(pro)).status_code == 201
    response = client.get(USAGE, {"cursor": "cD1hYmM="})  # p=abc: the position must be an id
    assert response.status_code == 400, response.content
    assert errors(response) == {("cursor", "invalid")}


@pytest.mark.parametrize(
    ("position", "valid"),
    [
        ("abc", False),
        ("2025-06-12 10:00:00", False),  # naive: the order is by an aware date-time
        ("2025-06-12 10:00:00\x00", False),
        ("2025-06-12 10:00:00+00:00", True),
        ("9999-12-31 23:59:59-14:00", None),  # year 10000 in UTC: SQLite cannot compare it
    ],
)
def test_a_forged_cursor_on_runs_is_a_400(
    key_client: KeyClient, seeded: dict[str, Any], position: str, valid: bool | None
) -> None:
    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    response = key_client().get("/api/v1/runs/", {"cursor": cursor})
    assert response.status_code in ((200,) if valid else (400,) if valid is False else (200, 400))
    if response.status_code == 400:
        assert errors(response) == {("cursor", "invalid")}


# --- Price-sheet imports -----------------------------------------------------------------------

SHEETS = "/api/v1/price-sheets/"
HEADER = ",".join(ENTRY_COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("content", "line", "field"),
    [
        (HEADER + "private,,,,acme,Acme\x00Large,0.6,2.4,,,\n", 2, "name"),
        (HEADER + "private,,,,acme,Acme,0.6,2.4,,,\n" + "private,,,,ac\x00me,x,1,1,,,\n", 3, "slug"),
        (HEADER + "discount,open\x00ai,,0.2,,,,,,,\n", 2, "provider"),
        (HEADER + "private,,,,acme,Acme,0\x00.6,2.4,,,\n", 2, "input_mtok"),
        (HEADER + "pri\x00vate,,,,acme,Acme,0.6,2.4,,,\n", 2, "kind"),
        (HEADER + "private,,,,acme,Acme\ud800,0.6,2.4,,,\n", 0, "file"),  # not UTF-8
    ],
)
def test_a_nul_byte_in_a_price_sheet_csv_is_a_row_error(
    key_client: KeyClient, organization: Any, content: str, line: int, field: str
) -> None:
    client = key_client()
    sheet = post_json(client, SHEETS, {"name": "2026", "effective_from": "2026-01-01"}).json()
    raw = content.encode("utf-8", "surrogatepass")
    response = client.post(f"{SHEETS}{sheet['id']}/import/", data=raw, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert {(e["line"], e["field"], e["code"]) for e in response.json()["errors"]} == {
        (line, field, "invalid_row")
    }
    assert not PriceSheetEntry.objects.exists()


@pytest.mark.parametrize(
    "entry",
    [
        {"kind": "private", "slug": "acme", "name": "Acme\x00Large", "input_mtok": "1", "output_mtok": "2"},
        {"kind": "private", "slug": "acme", "name": "Acme\ud800", "input_mtok": "1", "output_mtok": "2"},
        {"kind": "private", "slug": "acme", "name": "x", "input_mtok": "1\x00", "output_mtok": "2"},
    ],
)
def test_a_nul_or_lone_surrogate_in_a_price_sheet_json_is_a_row_error(
    key_client: KeyClient, organization: Any, entry: dict[str, str]
) -> None:
    client = key_client()
    sheet = post_json(client, SHEETS, {"name": "2026", "effective_from": "2026-01-01"}).json()
    response = post_json(client, f"{SHEETS}{sheet['id']}/import/", {"entries": [entry]})
    assert response.status_code == 400, response.content
    assert [(e["line"], e["code"]) for e in response.json()["errors"]] == [(1, "invalid_row")]
    assert not PriceSheetEntry.objects.exists()


# --- Workloads ---------------------------------------------------------------------------------


def test_a_workload_without_credits_per_request_takes_the_default(
    key_client: KeyClient, product: Product, ai_models: dict[str, AIModel]
) -> None:
    response = post_json(
        key_client(),
        "/api/v1/workloads/",
        {
            "product": product.pk,
            "name": "Summaries",
            "input_tokens_median": 500.0,
            "input_tokens_p90": 2000.0,
            "output_tokens_median": 200.0,
            "output_tokens_p90": 800.0,
            "models": [{"model": ai_models["small"].pk, "share": 1.0}],
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["credits_per_request"] == 1.0
    assert Workload.objects.get(pk=response.json()["id"]).credits_per_request == 1.0


# --- Paths and pagination ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope%0Ax",
        "/api/v1/products/%0A",
        "/api/v1/%0A",
        "/api/v1/products/1%0A/",
        "/api/v1/a%0D%0Ab/",
    ],
)
def test_a_path_with_a_newline_is_the_json_404(key_client: KeyClient, organization: Any, path: str) -> None:
    response = key_client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert errors(response) == {(None, "not_found")}


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "٣", ""])
def test_a_page_that_is_not_a_page_number_is_a_400_naming_it(
    key_client: KeyClient, organization: Any, page: str
) -> None:
    response = key_client().get("/api/v1/products/", {"page": page})
    if page == "":
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.content
    assert errors(response) == {("page", "invalid")}


@pytest.mark.parametrize("page", ["99", "9" * 25, "9" * 5000])
def test_a_page_past_the_last_is_still_a_404(key_client: KeyClient, organization: Any, page: str) -> None:
    response = key_client().get("/api/v1/products/", {"page": page})
    assert response.status_code == 404 and errors(response) == {(None, "not_found")}


@pytest.mark.parametrize("size", ["abc", "0", "-1", "501", "1e3", "٣", "9" * 5000])
def test_a_bad_page_size_is_a_400_naming_it(key_client: KeyClient, organization: Any, size: str) -> None:
    for url in ("/api/v1/products/", "/api/v1/runs/"):
        response = key_client().get(url, {"page_size": size})
        assert response.status_code == 400, response.content
        assert errors(response) == {("page_size", "invalid")}


def test_the_schema_states_the_bounds_of_page_and_page_size(key_client: KeyClient, organization: Any) -> None:
    schema = key_client().get("/api/v1/schema/", {"format": "json"}).json()
    for path, operation in (("/api/v1/products/", "get"), ("/api/v1/runs/", "get")):
        parameters = {p["name"]: p for p in schema["paths"][path][operation]["parameters"]}
        assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
    products = {p["name"]: p for p in schema["paths"]["/api/v1/products/"]["get"]["parameters"]}
    assert products["page"]["schema"] == {"type": "integer", "minimum": 1}
