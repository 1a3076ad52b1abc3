"""The usage API: ingestion status codes and error bodies, scopes, listing, customers, margins
and fitted distributions over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.models import Customer, UsageRecord
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from pricing.models import AIModel
from tests.api.conftest import KeyClient

URL = "/api/v1/usage-records/"


@pytest.fixture
def pro(product: Product, priced_models: dict[str, AIModel]) -> Tier:
    return live_tiers(product).get(name="Pro")


def record(tier: Tier, index: int = 1, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_id": f"evt-{index}",
        "customer": "cus-1",
        "tier": tier.pk,
        "timestamp": "2025-06-12T10:00:00Z",
        "model": "openai/gpt-4o",
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
    }
    values.update(fields)
    return values


def post(client: Any, body: Any) -> Any:
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def test_a_batch_answers_201_with_counts_and_conflicts(key_client: KeyClient, pro: Tier) -> None:
    client = key_client(scopes=["ingest"])
    assert post(client, [record(pro, 1), record(pro, 2)]).json() == {
        "created": 2,
        "duplicates": 0,
        "conflicts": [],
    }
    response = post(client, [record(pro, 1), record(pro, 2, output_tokens=5), record(pro, 3)])
    assert response.status_code == 201
    assert response.json() == {
        "created": 1,
        "duplicates": 1,
        "conflicts": [{"index": 1, "event_id": "evt-2"}],
    }


def test_a_single_record_answers_201_then_200_then_409(key_client: KeyClient, pro: Tier) -> None:
    client = key_client(scopes=["ingest"])
    assert post(client, record(pro)).status_code == 201
    again = post(client, record(pro))
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    conflict = post(client, record(pro, requests=3))
    assert conflict.status_code == 409
    assert conflict.json() == {
        "errors": [
            {
                "field": "event_id",
                "code": "conflict",
                "message": "This event id is already stored with a different payload.",
            }
        ]
    }
    assert UsageRecord.objects.count() == 1


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"input_tokens": 1e400}', "[1].input_tokens"),
        ('{"input_tokens": 123456789012345678901234567890}', "[1].input_tokens"),
        ('{"input_tokens": -5}', "[1].input_tokens"),
        ('{"event_id": "a\\u0000b"}', "[1].event_id"),
        ('{"timestamp": "2999-01-01T00:00:00Z"}', "[1].timestamp"),
        ('{"credits": "inf"}', "[1].credits"),
    ],
)
def test_bad_values_answer_400_naming_record_and_field_and_write_nothing(
    key_client: KeyClient, pro: Tier, raw: str, field: str
) -> None:
    good = json.dumps(record(pro, 1))
    bad = json.dumps(record(pro, 2))[:-1] + ", " + raw[1:]  # later keys win in JSON objects
    response = key_client(scopes=["ingest"]).post(
        URL, data=f"[{good}, {bad}]", content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not UsageRecord.objects.exists()


def test_not_json_objects_and_oversized_batches_are_400(key_client: KeyClient, pro: Tier) -> None:
    client = key_client(scopes=["ingest"])
    assert post(client, "hello").status_code == 400
    assert post(client, [1]).json()["errors"][0]["field"] == "[0]"
    assert client.post(URL, data="[NaN]", content_type="application/json").status_code == 400
    too_many = post(client, [record(pro, i) for i in range(10_001)])
    assert too_many.status_code == 400 and "10,000" in too_many.json()["errors"][0]["message"]


def test_a_single_invalid_record_names_the_field_without_an_index(key_client: KeyClient, pro: Tier) -> None:
    response = post(key_client(scopes=["ingest"]), record(pro, model="openai/nope"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "model"


def test_ingest_needs_the_ingest_scope_and_listing_the_read_scope(key_client: KeyClient, pro: Tier) -> None:
    assert post(key_client(scopes=["read", "write"]), record(pro)).status_code == 403
    ingest_only = key_client(scopes=["ingest"])
    assert post(ingest_only, record(pro)).status_code == 201
    assert ingest_only.get(URL).status_code == 403
    assert post(key_client(scopes=["read"]), record(pro, 2)).status_code == 403


def test_records_list_with_a_cursor_newest_first(key_client: KeyClient, pro: Tier) -> None:
    post(key_client(scopes=["ingest"]), [record(pro, i) for i in range(5)])
    client = key_client(scopes=["read"])
    first = client.get(URL, {"page_size": 3}).json()
    assert [r["event_id"] for r in first["results"]] == ["evt-4", "evt-3", "evt-2"]
    assert first["results"][0]["model"] == "openai/gpt-4o" and first["results"][0]["cost"] == "3.5000000000"
    second = client.get(first["next"]).json()
    assert [r["event_id"] for r in second["results"]] == ["evt-1", "evt-0"]


def test_another_organisation_sees_none_of_it(
    key_client: KeyClient, pro: Tier, other_organization: Organization
) -> None:
    post(key_client(scopes=["ingest"]), record(pro))
    rival = key_client(scopes=["read", "write"], organization=other_organization)
    assert rival.get(URL).json()["results"] == []
    customer = Customer.objects.get()
    assert rival.get(f"/api/v1/customers/{customer.pk}/").status_code == 404
    assert rival.get("/api/v1/margins/", {"period": "2025-06"}).json()["results"] == []


def test_customers_tier_changes_and_margins(key_client: KeyClient, pro: Tier, product: Product) -> None:
    post(key_client(scopes=["ingest"]), [record(pro, i, customer=f"cus-{i % 2}") for i in range(10)])
    client = key_client(scopes=["read", "write"])
    customers = client.get("/api/v1/customers/").json()["results"]
    assert [(c["external_id"], c["current_tier"]) for c in customers] == [
        ("cus-0", pro.pk),
        ("cus-1", pro.pk),
    ]
    free = live_tiers(product).get(name="Free")
    change = client.post(
        f"/api/v1/customers/{customers[0]['id']}/tier-changes/",
        data={"tier": free.pk, "effective_from": "2025-06-16"},
        format="json",
    )
    assert change.status_code == 201 and change.json() == {"tier": free.pk, "effective_from": "2025-06-16"}
    margins = client.get("/api/v1/margins/", {"period": "2025-06", "ordering": "-margin"}).json()
    assert [(m["external_id"], m["tier_name"], m["cogs"]) for m in margins["results"]] == [
        ("cus-1", "Pro", "17.500000"),
        ("cus-0", "Free", "17.500000"),
    ]
    assert margins["results"][0]["underwater"] is False and margins["results"][0]["revenue"] == "19.120000"
    underwater = client.get("/api/v1/margins/", {"period": "2025-06", "underwater": "true"}).json()
    assert underwater["count"] == 0
    tiers = client.get("/api/v1/margins/tiers/", {"period": "2025-06"}).json()
    assert [(t["tier_name"], t["customers"]) for t in tiers] == [("Free", 1), ("Pro", 1)]
    assert client.get("/api/v1/margins/", {"period": "June"}).json()["errors"][0]["field"] == "period"
    assert client.get("/api/v1/margins/").status_code == 400


def test_fitted_distributions_endpoint(key_client: KeyClient, pro: Tier) -> None:
    chat_free = [record(pro, i, customer=f"cus-{i}", requests=1 + i) for i in range(6)]
    post(key_client(scopes=["ingest"]), chat_free)
    client = key_client(scopes=["read"])
    response = client.get("/api/v1/usage-distributions/fitted/", {"from": "2025-06", "to": "2025-06"})
    assert response.status_code == 200
    # Records that name only a model count towards no workload: every Pro workload sees zeros.
    assert {(f["tier_name"], f["fit"]["n"], f["fit"]["mean"]) for f in response.json()} == {("Pro", 6, 0.0)}
    bad = client.get("/api/v1/usage-distributions/fitted/", {"from": "2025-07", "to": "2025-06"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "to"


def test_clock_skew_tolerance_is_one_day(key_client: KeyClient, pro: Tier) -> None:
    client = key_client(scopes=["ingest"])
    soon = (timezone.now() + timedelta(hours=23)).astimezone(UTC).isoformat()
    late = (datetime.now(UTC) + timedelta(days=1, minutes=5)).isoformat()
    assert post(client, record(pro, 1, timestamp=soon)).status_code == 201
    assert post(client, record(pro, 2, timestamp=late)).status_code == 400
