"""The API's body limit is its own (``API_MAX_BODY_BYTES``, 16 MiB), on every API route: the
largest documented ingestion batch is accepted, larger bodies get a JSON 413 in the error shape,
and the web's forms keep Django's smaller ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings

from api.exceptions import RequestTooLarge
from api.parsers import BoundedJSONParser
from planner.accounts.models import Organization
from planner.actuals.models import UsageRecord
from planner.actuals.parse import MAX_BATCH, MAX_TEXT, MAX_VARIANT
from planner.products.models import Tier
from tests.api.conftest import KeyClient
from tests.api.routes import api_routes, route_path
from tests.api.test_usage_api import URL, pro, record  # noqa: F401  (``pro`` is a fixture)

MIB = 1024 * 1024
TOO_LARGE = {
    "errors": [
        {
            "field": None,
            "code": "request_too_large",
            "message": "The request body is larger than 16,777,216 bytes.",
        }
    ]
}


def test_the_limits_are_the_documented_ones() -> None:
    assert settings.API_MAX_BODY_BYTES == 16 * MIB
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2.5 * MIB  # Django's default, for the web


def test_a_batch_of_the_largest_records_fits_the_limit() -> None:
    """10,000 records with every field at its longest (ASCII), as ``json.dumps`` writes them."""
    longest = {
        "event_id": "e" * MAX_TEXT,
        "customer": "c" * MAX_TEXT,
        "tier": 2**63 - 1,
        "timestamp": "2025-06-12T10:00:00.000000+14:00",
        "model": "p" * MAX_TEXT + "/" + "m" * MAX_TEXT,
        "variant": "v" * MAX_VARIANT,
        "workload": 2**63 - 1,
        **dict.fromkeys(
            ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"),
            10**10,
        ),
        "requests": 10**9,
        "credits": "999999999999.999999",
    }
    assert len(json.dumps([longest] * MAX_BATCH).encode()) <= settings.API_MAX_BODY_BYTES


def test_a_10000_record_batch_of_3_4_mb_is_ingested(key_client: KeyClient, pro: Tier) -> None:  # noqa: F811
    records = [
        record(
            pro,
            index,
            event_id=f"evt-2025-06-12-{index:06d}-a5f0c2",
            customer=f"cus-{index % 250:04d}",
            timestamp="2025-06-12T10:00:00.000000+00:00",
            cached_tokens=250_000,
            cache_write_tokens=50_000,
            reasoning_tokens=10_000,
            requests=3,
            credits="3.000000",
            variant="",
        )
        for index in range(MAX_BATCH)
    ]
    body = json.dumps(records)
    assert 3.3e6 < len(body) < 3.5e6 and len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = key_client(scopes=["ingest"]).post(URL, data=body, content_type="application/json")
    assert response.status_code == 201, response.content[:500]
    assert response.json() == {"created": MAX_BATCH, "duplicates": 0, "conflicts": []}
    assert UsageRecord.objects.count() == MAX_BATCH


def test_a_20_mb_body_is_a_json_413_in_the_error_shape(key_client: KeyClient) -> None:
    body = json.dumps([{"event_id": "x" * 1000}] * 20_000)
    assert len(body) > 20_000_000
    response = key_client(scopes=["ingest"]).post(URL, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == TOO_LARGE


def test_every_api_route_refuses_an_oversized_body_with_a_json_413(key_client: KeyClient) -> None:
    """Whether or not the view reads its body, and whatever the content type (the route's ids
    need not exist: the limit applies before any view)."""
    client = key_client()
    body = b"[" + b"0," * (8 * MIB + 1) + b"0]"
    checked = 0
    for route in api_routes():
        path = route_path(route, dict.fromkeys(route.kwargs, 1))
        for method in ("post", "put", "patch"):
            if method not in route.methods:
                continue
            for content_type in ("application/json", "text/csv"):
                response = getattr(client, method)(path, data=body, content_type=content_type)
                assert (response.status_code, response.json()) == (413, TOO_LARGE), (method, path)
                checked += 1
    assert checked >= 20


@override_settings(API_MAX_BODY_BYTES=100)
def test_the_parser_reads_at_most_one_byte_past_the_limit() -> None:
    """The backstop for a body whose length was not declared (or was declared wrong)."""
    stream = io.BytesIO(b"[" + b"1," * 1000 + b"1]")
    with pytest.raises(RequestTooLarge, match="larger than 100 bytes"):
        BoundedJSONParser().parse(stream)
    assert stream.tell() == 101
    assert BoundedJSONParser().parse(io.BytesIO(b"[" + b"1," * 48 + b"1]")) == [1] * 49


@override_settings(API_MAX_BODY_BYTES=100)
def test_a_body_at_the_limit_is_parsed(key_client: KeyClient) -> None:
    body = json.dumps({"name": "n" * (100 - len('{"name": ""}'))})
    assert len(body) == 100
    assert (
        key_client().post("/api/v1/products/", data=body, content_type="application/json").status_code == 201
    )
    over = key_client().post("/api/v1/products/", data=body + " ", content_type="application/json")
    assert over.status_code == 413 and over.json()["errors"][0]["code"] == "request_too_large"


def test_a_web_form_over_djangos_limit_keeps_djangos_400(
    client: Client, user: User, organization: Organization
) -> None:
    client.force_login(user)
    body = "name=" + "x" * (3 * MIB)
    response = client.post(
        "/scenarios/products/new/", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")
