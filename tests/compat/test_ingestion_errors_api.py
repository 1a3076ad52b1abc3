"""``GET /api/v1/ingestion-errors/``: the organisation's rejected vendor events, newest first,
filtered by vendor, cursor-paginated, read scope, tenant-scoped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from planner.accounts.api_keys import api_key_create
from planner.actuals.compat.ingest import VendorEvent, compat_ingest, record_ingestion_errors
from planner.actuals.compat.models import IngestionError
from planner.actuals.models import CustomerMonth, UsageRecord
from tests.compat.conftest import WHEN, CompatSetup
from tests.factories import OrganizationFactory

URL = "/api/v1/ingestion-errors/"


def reader(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def rejected(compat: CompatSetup, vendor: str, key: str, *, model: str = "acme/unheard-of") -> None:
    event = VendorEvent(
        key=key,
        source="",
        name="llm_usage",
        customer="cus_A",
        timestamp=WHEN,
        properties={"model": model, "input_tokens": "10", "tier": "Pro"},
    )
    outcomes = compat_ingest(organization=compat.organization, vendor=vendor, events=[event], partial=True)
    record_ingestion_errors(
        compat.organization, vendor, [event], outcomes, now=WHEN + timedelta(seconds=len(key))
    )


@pytest.mark.django_db
def test_the_list_shows_each_rejected_event_newest_first_and_filters_by_vendor(compat: CompatSetup) -> None:
    rejected(compat, "orb", "o-1")
    rejected(compat, "stripe", "s-22")
    body = reader(compat.read_key).get(URL).json()
    assert [row["event_key"] for row in body["results"]] == ["s-22", "o-1"]
    row = body["results"][1]
    assert (row["vendor"], row["customer"], row["field"]) == ("orb", "cus_A", "properties.model")
    assert "acme/unheard-of" in row["reason"] and row["payload"]["properties"]["model"] == "acme/unheard-of"
    only = reader(compat.read_key).get(URL, {"vendor": "orb"}).json()["results"]
    assert [row["event_key"] for row in only] == ["o-1"]


@pytest.mark.django_db
def test_the_list_is_cursor_paginated(compat: CompatSetup) -> None:
    for index in range(3):
        rejected(compat, "orb", "k" * (index + 1))
    first = reader(compat.read_key).get(URL, {"page_size": 2}).json()
    assert [row["event_key"] for row in first["results"]] == ["kkk", "kk"] and first["next"]
    second = reader(compat.read_key).get(first["next"]).json()
    assert [row["event_key"] for row in second["results"]] == ["k"] and second["next"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [({"vendor": "paypal"}, "vendor"), ({"vendor": ""}, "vendor"), ({"cursor": "%%%"}, "cursor")],
)
def test_bad_queries_are_400s_naming_the_parameter(
    compat: CompatSetup, query: dict[str, str], field: str
) -> None:
    response = reader(compat.read_key).get(URL, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.django_db
def test_other_organisations_and_keys_without_read_scope_see_nothing(compat: CompatSetup) -> None:
    rejected(compat, "orb", "o-1")
    other = OrganizationFactory.create(name="Other Co", slug="other-co")
    _, other_key = api_key_create(organization=other, name="other", scopes=["read"])
    assert reader(other_key).get(URL).json()["results"] == []
    assert reader(compat.key).get(URL).status_code == 403  # ingest scope only
    assert APIClient().get(URL).status_code in (401, 403)
    assert IngestionError.objects.count() == 1


@pytest.mark.django_db
def test_a_rejected_event_is_never_priced(compat: CompatSetup) -> None:
    rejected(compat, "orb", "o-1")
    assert not UsageRecord.objects.exists() and not CustomerMonth.objects.exists()
