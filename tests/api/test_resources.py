"""CRUD happy paths, the error shape, scopes and roles, bad input, runs and the document."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from planner.accounts.models import Membership, Organization
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create, run_execute
from tests.api.conftest import KeyClient, user_client
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def errors(response: Any) -> set[tuple[str | None, str]]:
    body = response.json()
    assert set(body) == {"errors"}
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"} and error["message"]
    return {(e["field"], e["code"]) for e in body["errors"]}


def test_product_tier_workload_usage_crud(key_client: KeyClient, ai_models: dict[str, Any]) -> None:
    client = key_client()
    product = client.post("/api/v1/products/", {"name": "Writer"}, format="json")
    assert product.status_code == 201, product.content
    pid = product.json()["id"]
    tier = client.post(
        "/api/v1/tiers/",
        {
            "product": pid,
            "name": "Pro",
            "monthly_fee": "20.00",
            "payment_fee_pct": "0.029",
            "subscribers": 10,
        },
        format="json",
    )
    assert tier.status_code == 201, tier.content
    assert tier.json()["monthly_fee"] == "20.0000"
    assert tier.json()["monthly_revenue_per_subscriber"] == "20.000000"
    workload = client.post(
        "/api/v1/workloads/",
        {
            "product": pid,
            "name": "Chat",
            "credits_per_request": 1.0,
            "input_tokens_median": 500.0,
            "input_tokens_p90": 2000.0,
            "output_tokens_median": 200.0,
            "output_tokens_p90": 800.0,
            "models": [
                {"model": ai_models["small"].pk, "share": 0.6},
                {"model": ai_models["frontier"].pk, "share": 0.4},
            ],
        },
        format="json",
    )
    assert workload.status_code == 201, workload.content
    wid = workload.json()["id"]
    assert [m["model_key"] for m in workload.json()["models"]] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    changed = client.patch(
        f"/api/v1/workloads/{wid}/",
        {"models": [{"model": ai_models["small"].pk, "share": 1.0}]},
        format="json",
    )
    assert changed.status_code == 200 and len(changed.json()["models"]) == 1
    usage = client.post(
        "/api/v1/usage-distributions/",
        {"tier": tier.json()["id"], "workload": wid, "kind": "lognormal", "median": 10.0, "p90": 50.0},
        format="json",
    )
    assert usage.status_code == 201, usage.content
    patched = client.patch(f"/api/v1/usage-distributions/{usage.json()['id']}/", {"p90": 80.0}, format="json")
    assert patched.status_code == 200 and patched.json()["median"] == 10.0 and patched.json()["p90"] == 80.0
    listed = client.get(f"/api/v1/tiers/?product={pid}&ordering=-name")
    assert listed.status_code == 200 and listed.json()["count"] == 1
    assert client.delete(f"/api/v1/tiers/{tier.json()['id']}/").status_code == 204
    assert client.delete(f"/api/v1/products/{pid}/").status_code == 204
    assert client.get(f"/api/v1/workloads/{wid}/").status_code == 404


def test_scenario_nested_read_document_round_trip(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    detail = client.get(f"/api/v1/scenarios/{scenario.pk}/")
    assert detail.status_code == 200
    inputs = detail.json()["inputs"]
    assert [t["name"] for t in inputs["tiers"]] == ["Free", "Pro"]
    assert {t["id"] for t in inputs["tiers"]} == set(scenario.tiers.values_list("id", flat=True))
    assert len(inputs["usage_distributions"]) == 4 and len(inputs["workloads"]) == 2
    document = client.get(f"/api/v1/scenarios/{scenario.pk}/document/").json()
    assert document["version"] == 2
    assert document["product"]["workloads"][0]["models"][0]["model"].startswith("openai/")
    assert [(t["name"], t["live_tier"]) for t in document["plan"]["tiers"]] == [
        ("Free", "Free"),
        ("Pro", "Pro"),
    ]
    document["product"]["name"] = "Copilot copy"
    imported = client.post("/api/v1/scenarios/import/", document, format="json")
    assert imported.status_code == 201, imported.content
    copy = imported.json()
    assert copy["product"] != scenario.product_id and copy["seed"] == scenario.seed
    assert copy["levers"] == [dict(detail.json()["levers"][0])]
    again = client.get(f"/api/v1/scenarios/{copy['id']}/document/").json()
    document["product"]["name"] = again["product"]["name"]
    assert again == document
    live = client.get(f"/api/v1/tiers/?product={copy['product']}").json()["results"]
    assert [t["name"] for t in live] == ["Free", "Pro"] and all(t["scenario"] is None for t in live)
    duplicate = client.post("/api/v1/scenarios/import/", document, format="json")
    assert duplicate.status_code == 400 and errors(duplicate) == {("product", "unique_together")}


def test_version_1_documents_are_still_imported(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    v2 = client.get(f"/api/v1/scenarios/{scenario.pk}/document/").json()
    product, plan = v2["product"], v2["plan"]
    v1 = {
        "format": v2["format"],
        "version": 1,
        "product": {name: product[name] for name in ("name", "description", "default_correlation")},
        "tiers": [{k: v for k, v in tier.items() if k != "live_tier"} for tier in plan["tiers"]],
        "workloads": product["workloads"],
        "usage_distributions": plan["usage_distributions"],
        "correlations": product["correlations"],
        "scenario": {**plan["settings"], "levers": plan["levers"]},
    }
    v1["product"]["name"] = "From version 1"
    imported = client.post("/api/v1/scenarios/import/", v1, format="json")
    assert imported.status_code == 201, imported.content
    again = client.get(f"/api/v1/scenarios/{imported.json()['id']}/document/").json()
    assert again["plan"] == plan and again["product"]["workloads"] == product["workloads"]


def test_import_errors_name_the_document_path(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    document = client.get(f"/api/v1/scenarios/{scenario.pk}/document/").json()
    document["product"]["name"] = "Broken"
    document["plan"]["tiers"][1]["monthly_fee"] = "-1"
    document["product"]["workloads"][0]["models"][0]["model"] = "nobody/nothing"
    response = client.post("/api/v1/scenarios/import/", document, format="json")
    assert response.status_code == 400
    assert ("plan.tiers[1].monthly_fee", "min_value") in errors(response)
    document["plan"]["tiers"][1]["monthly_fee"] = "20"
    response = client.post("/api/v1/scenarios/import/", document, format="json")
    assert errors(response) == {("product.workloads[0].models[0].model", "invalid")}
    assert not Scenario.objects.filter(product__name="Broken").exists()


def test_validation_errors_have_one_shape(key_client: KeyClient, product: Any) -> None:
    client = key_client()
    response = client.post(
        "/api/v1/tiers/",
        {"product": product.pk, "name": "X", "monthly_fee": 20, "churn_monthly": 2.9, "subscribers": "10"},
        format="json",
    )
    assert response.status_code == 400
    assert errors(response) == {
        ("monthly_fee", "invalid"),
        ("churn_monthly", "max_value"),
        ("subscribers", "invalid"),
    }
    # Rules checked by the services (not expressible per field) are reported on their field too.
    response = client.post(
        "/api/v1/tiers/",
        {"product": product.pk, "name": "Y", "included_credits": 100.0, "hard_cap_credits": 50.0},
        format="json",
    )
    assert errors(response) == {("hard_cap_credits", "invalid")}
    shares = client.post(
        "/api/v1/workloads/",
        {
            "product": product.pk,
            "name": "Z",
            "credits_per_request": 1.0,
            "input_tokens_median": 1.0,
            "input_tokens_p90": 2.0,
            "output_tokens_median": 1.0,
            "output_tokens_p90": 2.0,
            "models": [{"model": product.workloads.first().model_mix.first().model_id, "share": 0.5}],
        },
        format="json",
    )
    assert shares.status_code == 400 and {f for f, _ in errors(shares)} == {"models"}
    nested = client.post(
        "/api/v1/scenarios/",
        {"product": product.pk, "name": "S", "levers": [{"key": "k", "label": "l", "batch_share": "x"}]},
        format="json",
    )
    assert errors(nested) == {("levers[0].batch_share", "invalid")}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"name": "a", "default_correlation": NaN}', "application/json"),
        ('{"name": "a", "default_correlation": Infinity}', "application/json"),
        ('{"name": "a", "default_correlation": 1e400}', "application/json"),
        ('{"name": "a", "default_correlation": "inf"}', "application/json"),
        ('{"name": "a\\u0000b"}', "application/json"),
        ('{"name": ["a"]}', "application/json"),
        ('{"name": 123}', "application/json"),
        ("[1, 2", "application/json"),
        ('{"name": "a"}', "text/plain"),
        (b'{"name": "\xff"}', "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
    ],
)
def test_bad_input_is_a_clear_4xx(key_client: KeyClient, body: str | bytes, content_type: str) -> None:
    response = key_client().post("/api/v1/products/", body, content_type=content_type)
    assert 400 <= response.status_code < 500
    errors(response)


def test_huge_numbers_and_ids_are_4xx(key_client: KeyClient, product: Any) -> None:
    client = key_client()
    response = client.post(
        "/api/v1/tiers/", {"product": 10**30, "name": "x", "subscribers": 10**30}, format="json"
    )
    assert errors(response) == {("product", "does_not_exist"), ("subscribers", "max_value")}
    assert client.get(f"/api/v1/tiers/{10**30}/").status_code == 404
    assert errors(client.get(f"/api/v1/tiers/?product={10**30}")) == {("product", "max_value")}
    assert client.get("/api/v1/tiers/?page=99").status_code == 404


@override_settings(API_MAX_BODY_BYTES=1000)
def test_oversized_body_is_413(key_client: KeyClient) -> None:
    response = key_client().post("/api/v1/products/", {"name": "x" * 2000}, format="json")
    assert response.status_code == 413 and errors(response) == {(None, "request_too_large")}


def test_unknown_path_is_a_json_404(key_client: KeyClient) -> None:
    response = key_client().get("/api/v1/nothing-here/")
    assert response.status_code == 404 and errors(response) == {(None, "not_found")}


@pytest.mark.parametrize(
    ("scopes", "method", "path", "expected"),
    [
        (["read"], "get", "/api/v1/products/", 200),
        (["read"], "post", "/api/v1/products/", 403),
        (["write"], "get", "/api/v1/products/", 403),
        (["write"], "post", "/api/v1/products/", 201),
        (["ingest"], "get", "/api/v1/products/", 403),
    ],
)
def test_scopes(key_client: KeyClient, scopes: list[str], method: str, path: str, expected: int) -> None:
    response = getattr(key_client(scopes=scopes), method)(path, {"name": "P"}, format="json")
    assert response.status_code == expected
    if expected == 403:
        assert errors(response) == {(None, "missing_scope")}


def test_scope_required_helper_requires_its_scope_for_every_method() -> None:
    from api.permissions import scope_required

    permission = scope_required("ingest")()
    assert permission.scope == "ingest"
    with pytest.raises(ValueError, match="Unknown scope"):
        scope_required("admin")


def test_roles_viewer_reads_but_cannot_write(organization: Organization, product: Any) -> None:
    viewer = UserFactory.create(username="victor")
    MembershipFactory.create(user=viewer, organization=organization, role=Membership.Role.VIEWER)
    client = user_client(viewer)
    assert client.get("/api/v1/products/").json()["count"] == 1
    response = client.post("/api/v1/products/", {"name": "New"}, format="json")
    assert response.status_code == 403 and errors(response) == {(None, "role_cannot_write")}
    editor = UserFactory.create(username="edith")
    MembershipFactory.create(user=editor, organization=organization, role=Membership.Role.EDITOR)
    assert user_client(editor).post("/api/v1/products/", {"name": "New"}, format="json").status_code == 201


def test_session_organisation_header(
    user: User, organization: Organization, other_organization: Organization
) -> None:
    MembershipFactory.create(user=user, organization=other_organization)
    client = user_client(user, organization_slug="rival-labs")
    assert client.post("/api/v1/products/", {"name": "In rival"}, format="json").status_code == 201
    assert other_organization.products.filter(name="In rival").exists()
    unknown = user_client(user, organization_slug="nobody")
    assert unknown.get("/api/v1/products/").status_code == 404
    lonely = UserFactory.create(username="lonely")
    assert user_client(lonely).get("/api/v1/products/").status_code == 403


def test_session_writes_need_csrf(user: User, organization: Organization) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/products/", {"name": "P"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["errors"][0]["message"]


def test_throttled_per_key(key_client: KeyClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.throttling import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    client, other = key_client(), key_client()
    assert [client.get("/api/v1/products/").status_code for _ in range(3)] == [200, 200, 429]
    assert other.get("/api/v1/products/").status_code == 200


def test_run_start_progress_cancel(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    started = client.post(f"/api/v1/scenarios/{scenario.pk}/runs/", {"users": 1000, "seed": 7}, format="json")
    assert started.status_code == 202, started.content
    run = started.json()
    assert run["status"] == "queued" and run["results"] is None and run["seed"] == 7
    assert run["progress"] == {
        "blocks_done": 0,
        "blocks_total": 1,
        "fraction": 0.0,
        "users_simulated": 0,
        "elapsed_seconds": 0.0,
        "eta_seconds": None,
    }
    listed = client.get(f"/api/v1/runs/?scenario={scenario.pk}")
    assert [r["id"] for r in listed.json()["results"]] == [run["id"]]
    cancelled = client.post(f"/api/v1/runs/{run['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    bad = client.post(f"/api/v1/scenarios/{scenario.pk}/runs/", {"users": 10}, format="json")
    assert errors(bad) == {("users", "min_value")}


def test_finished_run_results_are_typed(key_client: KeyClient, scenario: Scenario) -> None:
    run = run_execute(run=run_create(scenario=scenario, users=1_000, seed=3))
    assert run.status == SimulationRun.Status.SUCCEEDED
    body = key_client().get(f"/api/v1/runs/{run.pk}/").json()
    results = body["results"]
    tier = results["tiers"][1]
    assert isinstance(tier["cogs_per_user"]["mean"]["value"], str)
    assert isinstance(results["total"]["revenue"], str) and isinstance(
        tier["gross_margin_pct"]["value"], float
    )
    assert "acquisition_cost_per_user" in results["tiers"][0] and "acquisition_cost_per_user" not in tier
    assert body["progress"]["fraction"] == 1.0 and body["progress"]["users_simulated"] == 1_000
