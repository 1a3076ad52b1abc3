"""``POST /scenarios/{id}/optimizations/``, ``GET /optimizations/{id}/``, the list and cancel:
the contract of issue #14 (202 with id, status and progress; the answer once succeeded; 400s
naming the field; another organisation's job is a 404)."""

from __future__ import annotations

from typing import Any

import pytest

from planner.simulation.models import SimulationRun
from tests.api.conftest import KeyClient
from tests.simulation.test_optimization_jobs import execute_like_workers

API = "/api/v1"
REQUEST = {
    "tier": "Pro",
    "vary": [{"setting": "cap", "min": 0, "max": 3000, "step": 1}],
    "constraints": [{"metric": "gross_margin", "min": 0.95}],
    "users": 6000,
}


def start(client: Any, scenario_id: int, body: dict[str, Any]) -> Any:
    return client.post(f"{API}/scenarios/{scenario_id}/optimizations/", body, format="json")


@pytest.mark.django_db
def test_start_read_list_and_the_answer(seeded: dict[str, Any], key_client: KeyClient) -> None:
    client = key_client()
    scenario = seeded["scenario"]
    response = start(client, scenario.pk, REQUEST)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and job["progress"]["fraction"] == 0.0 and job["result"] is None
    assert job["request"]["vary"][0]["setting"] == "cap" and job["request"]["month"] == 1

    finished, _ = execute_like_workers(SimulationRun.objects.get(pk=job["id"]))
    read = client.get(f"{API}/optimizations/{job['id']}/").json()
    assert read["status"] == "succeeded" and read["progress"]["fraction"] == 1.0
    result = read["result"]
    assert result["feasible"] and set(result["value"]) == {"hard_cap"}
    assert result["figures"]["bounds"]["gross_margin"] >= 95.0  # the bound, in percent like gross_margin_pct
    assert result["adjacent"]["value"] == result["value"]["hard_cap"] + 1
    assert result == finished.results

    listed = client.get(f"{API}/optimizations/", {"scenario": scenario.pk}).json()["results"]
    assert job["id"] in [item["id"] for item in listed]
    assert job["id"] not in [item["id"] for item in client.get(f"{API}/runs/").json()["results"]]
    assert client.get(f"{API}/runs/{job['id']}/").status_code == 404
    assert client.get(f"{API}/optimizations/{seeded['run'].pk}/").status_code == 404


@pytest.mark.django_db
def test_cancel(seeded: dict[str, Any], key_client: KeyClient) -> None:
    client = key_client()
    job = seeded["optimization"]
    response = client.post(f"{API}/optimizations/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"constraints": [{"metric": "underwater_share", "max": 1.5}]}, "constraints[0].max", "fraction"),
        ({"vary": [{"setting": "cap", "min": -5}]}, "vary[0].min", "at least 0"),
        ({"vary": [{"setting": "overage_price"}]}, "vary[0].setting", "no included credits"),
        ({"vary": [{"setting": "routing_share", "lever": "nope"}]}, "vary[0].lever", "no lever 'nope'"),
        ({"vary": [{"setting": "seats"}]}, "vary[0].setting", "valid choice"),
        ({"tier": "Max"}, "tier", "no tier named 'Max'"),
        ({"tier": None, "vary": [{"setting": "fee"}]}, "vary[0].setting", "a fee is a tier's"),
        ({"month": "horizon", "tier": None}, "month", "horizon totals are for one tier"),
        ({"vary": [{"setting": "fee", "max": 40}]}, "vary[0].max", "decimal string"),
        (
            {"constraints": [{"metric": "underwater_loss", "max": 500}]},
            "constraints[0].max",
            "decimal string",
        ),
        ({"constraints": [{"metric": "gross_margin", "min": 60}]}, "constraints[0].min", "fraction"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(
    seeded: dict[str, Any], key_client: KeyClient, change: dict[str, Any], field: str, words: str
) -> None:
    before = SimulationRun.objects.count()
    response = start(key_client(), seeded["scenario"].pk, REQUEST | change)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    assert SimulationRun.objects.count() == before


@pytest.mark.django_db
def test_money_is_sent_as_decimal_strings(seeded: dict[str, Any], key_client: KeyClient) -> None:
    body = REQUEST | {
        "vary": [{"setting": "fee", "min": "10.00", "max": "60.00", "step": "0.01"}],
        "constraints": [{"metric": "underwater_loss", "max": "250.00"}],
    }
    response = start(key_client(), seeded["scenario"].pk, body)
    assert response.status_code == 202, response.content
    job = SimulationRun.objects.get(pk=response.json()["id"])
    assert job.spec["state"]["vary"] == {
        "setting": "fee", "minimum": 10.0, "maximum": 60.0, "step": 0.01, "lever": None
    }  # fmt: skip
    assert job.spec["state"]["constraints"] == [
        {"metric": "underwater_loss", "minimum": None, "maximum": 250.0}
    ]


@pytest.mark.django_db
def test_a_sensitivity_analysis_is_started_and_read_like_an_optimization(
    seeded: dict[str, Any], key_client: KeyClient
) -> None:
    client = key_client()
    body = {
        "tier": "Pro",
        "ranges": {"model_price": None, "usage_spread": None, "model_mix": None},
        "users": 2000,
    }
    response = client.post(f"{API}/scenarios/{seeded['scenario'].pk}/sensitivities/", body, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "sensitivity" and job["status"] == "queued" and job["request"]["tier"] == "Pro"
    execute_like_workers(SimulationRun.objects.get(pk=job["id"]), max_rounds=10)
    read = client.get(f"{API}/optimizations/{job['id']}/").json()
    tornado = read["result"]
    assert read["status"] == "succeeded" and [t["key"] for t in tornado["tiers"]] == ["Pro"]
    bars = tornado["tiers"][0]["bars"]
    assert bars and [b["swing"] for b in bars] == sorted((b["swing"] for b in bars), reverse=True)
    assert {"model_price:openai/gpt-4o", "usage_spread"}.isdisjoint(b["input"] for b in bars)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ranges": {"usage_median": [0.5, -0.5]}}, "ranges.usage_median"),
        ({"ranges": {"weather": [0, 1]}}, "ranges"),
        ({"ranges": {"usage_median": [0.1]}}, "ranges.usage_median"),
        ({"tier": "Max"}, "tier"),
        ({"metric": "profit"}, "metric"),
    ],
)
def test_bad_sensitivity_requests_are_400s_naming_the_field(
    seeded: dict[str, Any], key_client: KeyClient, body: dict[str, Any], field: str
) -> None:
    response = key_client().post(
        f"{API}/scenarios/{seeded['scenario'].pk}/sensitivities/", body | {"users": 2000}, format="json"
    )
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field], response.json()


@pytest.mark.django_db
def test_a_sweep_is_a_sensitivity_with_one_input(seeded: dict[str, Any], key_client: KeyClient) -> None:
    client = key_client()
    url = f"{API}/scenarios/{seeded['scenario'].pk}/sensitivities/"
    body = {"tier": "Pro", "sweep": {"input": "churn", "points": 3}, "users": 2000}
    response = client.post(url, body, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["request"]["sweep"] == {"input": "churn", "points": 3}
    execute_like_workers(SimulationRun.objects.get(pk=response.json()["id"]), max_rounds=5)
    result = client.get(f"{API}/optimizations/{response.json()['id']}/").json()["result"]
    assert result["sweep"] and result["input"] == "churn" and len(result["tiers"][0]["points"]) == 3
    bad = client.post(url, body | {"sweep": {"input": "weather"}}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "sweep.input"
