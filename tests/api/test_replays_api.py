"""Replays over REST (issue #15, item 6): start from a scenario or a product's live plan (202),
read the totals, page the customer-months with a cursor, cancel, export CSV and JSON; 400s
name the field; another organisation's replay is a 404."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.http import StreamingHttpResponse
from django.test import override_settings
from rest_framework.test import APIClient

from planner.accounts.models import Organization
from planner.actuals.replay import replay_period
from planner.devtools.demo import DEMO_PRODUCT_NAME, demo_seed
from planner.prices.sheets import price_sheet_create
from planner.products.models import Product
from planner.simulation import runs
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create
from tests.api.conftest import KeyClient

pytestmark = pytest.mark.django_db

API = "/api/v1"
NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)
BODY = {"from": "2026-10", "to": "2026-11", "bootstrap": 200}


@pytest.fixture
def demo(priced_models: dict[str, Any]) -> tuple[Organization, Product, Scenario]:
    organization = demo_seed(now=NOW)
    product = Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)
    scenario = scenario_create(product=product, name="Capped Pro", seed=1)
    pro = scenario_tiers(scenario).get(name="Pro")
    scenario.levers = [{"key": "l1", "label": "Cap Pro", "tiers": [pro.pk], "hard_cap": 300.0}]
    scenario.save()
    return organization, product, scenario


@pytest.fixture
def client(demo: tuple[Organization, Product, Scenario], key_client: KeyClient) -> APIClient:
    return key_client(organization=demo[0])


def _body(response: Any) -> bytes:
    """A streamed response's body."""
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(cast(Iterator[bytes], response.streaming_content))


def _finish(job_id: int) -> None:
    job = SimulationRun.objects.get(pk=job_id)
    runs.chunk_execute(run_id=job_id, blocks=list(range(job.blocks_total)), worker="test:1")
    runs.run_merge(run_id=job_id)


@override_settings(PLANNER_REPLAY_BLOCK_CUSTOMERS=9)
def test_start_read_page_and_export_a_scenario_replay(
    demo: tuple[Organization, Product, Scenario], client: APIClient
) -> None:
    organization, product, scenario = demo
    started = client.post(f"{API}/scenarios/{scenario.pk}/replays/", BODY, format="json")
    assert started.status_code == 202, started.content
    job = started.json()
    assert job["kind"] == "replay" and job["status"] == "queued" and job["result"] is None
    assert job["scenario"] == scenario.pk and job["product"] == product.pk and job["customers"] > 9
    assert job["request"]["from"] == "2026-10" and job["request"]["bootstrap"] == 200
    early = client.get(f"{API}/replays/{job['id']}/export/csv/")
    assert early.status_code == 400 and "queued" in early.json()["errors"][0]["message"]
    _finish(job["id"])
    read = client.get(f"{API}/replays/{job['id']}/").json()
    assert read["status"] == "succeeded" and read["progress"]["fraction"] == 1.0
    expected = replay_period(
        organization=organization,
        scenario=scenario,
        period_from=dt.date(2026, 10, 1),
        period_to=dt.date(2026, 11, 1),
        bootstrap=200,
    )
    assert read["result"]["total"] == json.loads(json.dumps(expected.total.to_json()))
    assert read["result"]["flipped_customers"] == expected.flipped_customers > 0
    # Every customer-month once, in (customer, month) order, through the cursor.
    seen: list[tuple[int, str]] = []
    url: str | None = f"{API}/replays/{job['id']}/rows/?page_size=25"
    while url:
        page = client.get(url).json()
        seen += [(row["customer_id"], row["period"]) for row in page["results"]]
        url = page["next"]
    want = sorted((row.customer_id, f"{row.period:%Y-%m}") for row in expected.customer_months)
    assert seen == want
    for flip in ("became_underwater", "stopped_underwater"):
        rows = client.get(f"{API}/replays/{job['id']}/rows/?flip={flip}").json()["results"]
        assert all(row["flip"] == flip for row in rows)
        assert len(rows) == sum(row.flip == flip for row in expected.customer_months)
    flipped = client.get(f"{API}/replays/{job['id']}/rows/?flip=any").json()["results"]
    assert len(flipped) == sum(bool(row.flip) for row in expected.customer_months) > 0
    stopped = next(row for row in flipped if row["flip"] == "stopped_underwater")
    assert stopped["actual"]["underwater"] and not stopped["replayed"]["underwater"] and stopped["cut"]
    assert client.get(f"{API}/replays/{job['id']}/rows/?flip=sideways").status_code == 400
    exported = client.get(f"{API}/replays/{job['id']}/export/csv/")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(_body(exported).decode())))
    assert len(table) == len(expected.customer_months)
    assert {"actual_cogs_usd", "replayed_margin_usd", "flip"} <= set(table[0])
    as_json = json.loads(_body(client.get(f"{API}/replays/{job['id']}/export/json/")))
    assert as_json["replay"]["id"] == job["id"] and len(as_json["customer_months"]) == len(table)
    listed = client.get(f"{API}/replays/?scenario={scenario.pk}").json()["results"]
    assert [row["id"] for row in listed] == [job["id"]]


def test_a_live_plan_replay_and_cancel(
    demo: tuple[Organization, Product, Scenario], client: APIClient
) -> None:
    _, product, _ = demo
    started = client.post(f"{API}/products/{product.pk}/replays/", BODY, format="json")
    assert started.status_code == 202, started.content
    job = started.json()
    assert job["scenario"] is None and job["product"] == product.pk
    cancelled = client.post(f"{API}/replays/{job['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2026-11", "to": "2026-10"}, "to"),
        ({"from": "2026-1", "to": "2026-10"}, "from"),
        ({"from": "2026-10"}, "to"),
        ({**BODY, "price_date": "2026-11-01", "price_sheet": "SHEET"}, "price_sheet"),
        ({**BODY, "price_date": "1999-12-31"}, "price_date"),
        ({**BODY, "bootstrap": 10_001}, "bootstrap"),
        ({**BODY, "price_sheet": 10**6}, "price_sheet"),
    ],
)
def test_bad_requests_name_the_field(
    demo: tuple[Organization, Product, Scenario], client: APIClient, body: dict[str, Any], field: str
) -> None:
    organization, _, scenario = demo
    sheet = price_sheet_create(organization=organization, name="Sheet", effective_from=dt.date(2026, 1, 1))
    body = {k: sheet.pk if v == "SHEET" else v for k, v in body.items()}
    response = client.post(f"{API}/scenarios/{scenario.pk}/replays/", body, format="json")
    assert response.status_code == 400, response.content
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert not SimulationRun.objects.replays().exists()


def test_nothing_to_replay_is_a_400(demo: tuple[Organization, Product, Scenario], client: APIClient) -> None:
    _, product, _ = demo
    response = client.post(
        f"{API}/products/{product.pk}/replays/", {"from": "2020-01", "to": "2020-02"}, format="json"
    )
    assert response.status_code == 400
    assert "nothing to replay" in response.json()["errors"][0]["message"]


def test_another_organisations_replay_is_a_404(
    demo: tuple[Organization, Product, Scenario],
    client: APIClient,
    key_client: KeyClient,
    other_organization: Organization,
) -> None:
    _, _, scenario = demo
    job = client.post(f"{API}/scenarios/{scenario.pk}/replays/", BODY, format="json").json()
    rival = key_client(organization=other_organization)
    for path in ("", "rows/", "export/csv/", "export/json/"):
        assert rival.get(f"{API}/replays/{job['id']}/{path}").status_code == 404
    assert rival.post(f"{API}/replays/{job['id']}/cancel/").status_code == 404
    assert rival.post(f"{API}/scenarios/{scenario.pk}/replays/", BODY, format="json").status_code == 404
    assert rival.get(f"{API}/replays/").json()["results"] == []
