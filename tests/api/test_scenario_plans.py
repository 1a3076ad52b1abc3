"""Scenarios are independent plans: duplicate, edit one plan without touching another (API,
document PUT, services), the live plan for real customers only, and the document's errors."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from planner.alerts.models import AlertRule
from planner.alerts.rules import alert_rule_create
from planner.products.models import Product, Tier, UsageDistribution
from planner.products.selectors import live_tiers
from planner.products.services import tier_create, tier_update
from planner.simulation.document import scenario_document_export
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create
from tests.api.conftest import KeyClient

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def errors(response: Any) -> set[tuple[str | None, str]]:
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


def plan_of(scenario: Scenario) -> dict[str, Any]:
    return scenario_document_export(scenario=scenario)["plan"]


def test_a_new_scenario_copies_the_live_plan_and_its_tiers_stand_for_the_live_ones(
    product: Product, scenario: Scenario
) -> None:
    live = {t.name: t for t in live_tiers(product)}
    plan = {t.name: t for t in scenario.tiers.all()}
    assert {name: t.live_tier_id for name, t in plan.items()} == {name: t.pk for name, t in live.items()}
    assert set(plan.values()).isdisjoint(live.values())
    assert plan["Pro"].monthly_fee == live["Pro"].monthly_fee == Decimal("20")
    usage = UsageDistribution.objects.filter(tier__scenario=scenario)
    assert usage.count() == 4 and {(u.tier.live_tier_id, u.workload_id) for u in usage} == {
        (u.tier_id, u.workload_id) for u in UsageDistribution.objects.filter(tier__in=live.values())
    }


def test_duplicate_answers_201_and_editing_the_copy_leaves_the_original_and_the_live_plan(
    key_client: KeyClient, product: Product, scenario: Scenario
) -> None:
    client = key_client()
    before, live_before = plan_of(scenario), [(t.pk, t.monthly_fee) for t in live_tiers(product)]
    response = client.post(
        f"/api/v1/scenarios/{scenario.pk}/duplicate/", {"name": "Pro at $29"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Pro at $29" and body["id"] != scenario.pk and body["seed"] == scenario.seed
    assert body["levers"] == client.get(f"/api/v1/scenarios/{scenario.pk}/").json()["levers"]
    pro = client.get("/api/v1/tiers/", {"scenario": body["id"]}).json()["results"][1]
    assert (pro["name"], pro["scenario"], pro["live_tier"]) == ("Pro", body["id"], live_tiers(product)[1].pk)
    patched = client.patch(
        f"/api/v1/tiers/{pro['id']}/", {"monthly_fee": "29.00", "hard_cap_credits": 500.0}, format="json"
    )
    assert patched.status_code == 200, patched.content
    usage = client.get("/api/v1/usage-distributions/", {"scenario": body["id"], "tier": pro["id"]}).json()
    chat = usage["results"][0]
    assert (
        client.patch(
            f"/api/v1/usage-distributions/{chat['id']}/", {"median": 99.0, "p90": 400.0}, format="json"
        ).status_code
        == 200
    )
    assert plan_of(scenario) == before
    assert [(t.pk, t.monthly_fee) for t in live_tiers(product)] == live_before
    # Without ?scenario= the lists show the live plan, as before plans existed.
    listed = client.get("/api/v1/tiers/", {"product": product.pk}).json()["results"]
    assert [t["id"] for t in listed] == [t.pk for t in live_tiers(product)]
    assert len(client.get("/api/v1/usage-distributions/", {"product": product.pk}).json()["results"]) == 4
    # Default names are numbered; a taken name is a 400 on the name.
    assert client.post(f"/api/v1/scenarios/{scenario.pk}/duplicate/").json()["name"] == "Baseline (copy)"
    assert (
        client.post(f"/api/v1/scenarios/{scenario.pk}/duplicate/", {}, format="json").json()["name"]
        == "Baseline (copy 2)"
    )
    taken = client.post(f"/api/v1/scenarios/{scenario.pk}/duplicate/", {"name": "Pro at $29"}, format="json")
    assert taken.status_code == 400 and {field for field, _ in errors(taken)} == {"name"}


def test_duplicate_is_idempotent_with_a_key(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    url = f"/api/v1/scenarios/{scenario.pk}/duplicate/"
    first = client.post(url, {"name": "Variant"}, format="json", HTTP_IDEMPOTENCY_KEY="dup-1")
    again = client.post(url, {"name": "Variant"}, format="json", HTTP_IDEMPOTENCY_KEY="dup-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Scenario.objects.filter(name="Variant").count() == 1


def test_editing_through_services_and_the_admin_model_touches_one_plan(
    product: Product, scenario: Scenario
) -> None:
    other = scenario_create(product=product, name="Other", plan_from=scenario)
    tier_update(tier=scenario.tiers.get(name="Pro"), data={"monthly_fee": Decimal("35")})
    assert other.tiers.get(name="Pro").monthly_fee == Decimal("20")
    assert live_tiers(product).get(name="Pro").monthly_fee == Decimal("20")
    tier_update(tier=live_tiers(product).get(name="Pro"), data={"monthly_fee": Decimal("25")})
    assert scenario.tiers.get(name="Pro").monthly_fee == Decimal("35") and other.tiers.get(
        name="Pro"
    ).monthly_fee == Decimal("20")


def test_document_put_replaces_the_plan_in_place(
    key_client: KeyClient, product: Product, scenario: Scenario
) -> None:
    client = key_client()
    url = f"/api/v1/scenarios/{scenario.pk}/document/"
    document = client.get(url).json()
    ids = dict(scenario.tiers.values_list("name", "id"))
    plan = document["plan"]
    plan["tiers"][1].update(monthly_fee="29.00", hard_cap_credits=500.0, included_credits=400.0)
    plan["tiers"].append({**plan["tiers"][1], "name": "Pro capped", "live_tier": None, "position": 2})
    plan["usage_distributions"] += [
        {**u, "tier": "Pro capped"} for u in plan["usage_distributions"] if u["tier"] == "Pro"
    ]
    plan["settings"]["horizon_months"] = 6
    response = client.put(url, document, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == client.get(url).json()
    tiers = {t.name: t for t in scenario.tiers.all()}
    assert {name: tiers[name].pk for name in ids} == ids  # updated in place
    assert tiers["Pro"].monthly_fee == Decimal("29") and tiers["Pro"].hard_cap_credits == 500.0
    assert tiers["Pro capped"].live_tier is None and tiers["Pro capped"].usage.count() == 2
    scenario.refresh_from_db()
    assert scenario.horizon_months == 6
    assert live_tiers(product).get(name="Pro").monthly_fee == Decimal("20")
    # Dropping a tier removes it and its usage.
    plan["tiers"] = [t for t in plan["tiers"] if t["name"] != "Pro capped"]
    plan["usage_distributions"] = [u for u in plan["usage_distributions"] if u["tier"] != "Pro capped"]
    assert client.put(url, document, format="json").status_code == 200
    assert sorted(scenario.tiers.values_list("name", flat=True)) == ["Free", "Pro"]
    assert UsageDistribution.objects.filter(tier__scenario=scenario).count() == 4


def test_document_put_errors_name_their_path_and_write_nothing(
    key_client: KeyClient, organization: Any, scenario: Scenario
) -> None:
    client = key_client()
    url = f"/api/v1/scenarios/{scenario.pk}/document/"
    document = client.get(url).json()
    before = json.dumps(plan_of(scenario), default=str)

    def put(change: Any) -> Any:
        edited = copy.deepcopy(document)
        change(edited)
        response = client.put(url, edited, format="json")
        assert response.status_code == 400, response.content
        assert json.dumps(plan_of(scenario), default=str) == before
        return errors(response)

    def bad_fee(d: Any) -> None:
        d["plan"]["tiers"][0]["monthly_fee"] = "12.00"  # written first, then rolled back
        d["plan"]["tiers"][1]["hard_cap_credits"] = 5.0
        d["plan"]["tiers"][1]["included_credits"] = 50.0

    assert put(bad_fee) == {("plan.tiers[1].hard_cap_credits", "invalid")}
    assert put(lambda d: d["plan"]["tiers"][1].update(monthly_fee="-1")) == {
        ("plan.tiers[1].monthly_fee", "min_value")
    }
    assert put(lambda d: d["product"]["workloads"][0].update(input_tokens_median=900.0)) == {
        ("product.workloads[0].input_tokens_median", "invalid")
    }
    assert put(lambda d: d["plan"]["tiers"][1].update(live_tier="Enterprise")) == {
        ("plan.tiers[1].live_tier", "invalid")
    }
    assert put(lambda d: d["plan"]["usage_distributions"][0].update(workload="Nope")) == {
        ("plan.usage_distributions[0].workload", "invalid")
    }
    assert put(lambda d: d["plan"]["settings"].update(horizon_months=0)) == {
        ("plan.settings.horizon_months", "min_value")
    }
    rule = alert_rule_create(
        organization=organization,
        name="Pro watch",
        scope=AlertRule.Scope.SCENARIO,
        scenario=scenario,
        tier=scenario.tiers.get(name="Pro"),
        metric=AlertRule.Metric.UNDERWATER_SHARE,
        comparator=AlertRule.Comparator.GT,
        threshold=Decimal("5"),
        recipients=["founder@example.com"],
    )

    def drop_pro(d: Any) -> None:
        d["plan"]["tiers"] = d["plan"]["tiers"][:1]
        d["plan"]["usage_distributions"] = [u for u in d["plan"]["usage_distributions"] if u["tier"] != "Pro"]

    assert put(drop_pro) == {("plan.tiers", "invalid")}
    response = client.put(
        url, {**document, "plan": {**document["plan"], "tiers": document["plan"]["tiers"][:1]}}, format="json"
    )
    assert rule.name in response.json()["errors"][0]["message"]
    # An equal product section is accepted, whatever the order of its correlations.
    assert client.put(url, document, format="json").status_code == 200


def test_the_live_plan_alone_takes_real_usage(
    key_client: KeyClient, product: Product, scenario: Scenario, priced_models: Any
) -> None:
    client = key_client(scopes=["ingest", "read", "write"])
    stand_in = scenario.tiers.get(name="Pro")
    record = {
        "event_id": "e-1",
        "customer": "cus-1",
        "tier": stand_in.pk,
        "timestamp": "2025-06-12T10:00:00Z",
        "model": "openai/gpt-4o",
        "input_tokens": 1000,
    }
    response = client.post("/api/v1/usage-records/", data=json.dumps(record), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "tier"
    assert "scenario" in response.json()["errors"][0]["message"]
    record["tier"] = stand_in.live_tier_id
    assert (
        client.post(
            "/api/v1/usage-records/", data=json.dumps(record), content_type="application/json"
        ).status_code
        == 201
    )
    customer = client.get("/api/v1/customers/").json()["results"][0]
    change = client.post(
        f"/api/v1/customers/{customer['id']}/tier-changes/",
        {"tier": stand_in.pk, "effective_from": "2025-06-20"},
        format="json",
    )
    assert change.status_code == 400 and errors(change) == {("tier", "invalid")}
    margins = client.get("/api/v1/margins/", {"period": "2025-06", "tier": str(stand_in.pk)})
    assert margins.status_code == 400 and errors(margins) == {("tier", "invalid")}
    live = client.get("/api/v1/margins/", {"period": "2025-06", "tier": str(stand_in.live_tier_id)})
    assert live.status_code == 200 and live.json()["count"] == 1


def test_tier_constraints_speak_of_plans(product: Product, scenario: Scenario) -> None:
    with pytest.raises(ValidationError, match="already exists in this scenario's plan"):
        tier_create(product=product, scenario=scenario, name="Pro")
    with pytest.raises(ValidationError, match="already stands for that live tier"):
        tier_create(
            product=product, scenario=scenario, name="Pro 2", live_tier=live_tiers(product).get(name="Pro")
        )
    with pytest.raises(ValidationError, match="not a scenario's tier"):
        tier_create(
            product=product, scenario=scenario, name="Pro 3", live_tier=scenario.tiers.get(name="Pro")
        )
    with pytest.raises(ValidationError, match="this tier is live"):
        tier_create(product=product, name="Pro 4", live_tier=live_tiers(product).get(name="Pro"))
    added = tier_create(product=product, scenario=scenario, name="Pro 5")
    assert (
        added.position == 2
        and added.live_tier is None
        and not Tier.objects.filter(scenario=None, name="Pro 5").exists()
    )


def test_a_new_workload_starts_with_zero_usage_in_every_plan_and_stays_runnable(
    product: Product, scenario: Scenario, priced_models: Any, client: Any, user: Any
) -> None:
    from planner.products.services import workload_create
    from planner.simulation.runs import run_create

    other = scenario_create(product=product, name="Other")
    search = workload_create(
        product=product,
        name="Search",
        input_tokens_median=500.0,
        input_tokens_p90=900.0,
        output_tokens_median=100.0,
        output_tokens_p90=300.0,
        models=[(priced_models["small"], 1.0)],
    )
    rows = UsageDistribution.objects.filter(workload=search)
    assert {u.tier_id for u in rows} == set(product.all_tiers.values_list("id", flat=True))
    assert len(rows) == 6 and all(u.is_placeholder for u in rows)
    snapshot = run_create(scenario=other).snapshot
    assert [t["usage"][2]["values"] for t in snapshot["tiers"]] == [[0.0, 0.0], [0.0, 0.0]]
    client.force_login(user)
    assert "no usage yet: set usage" in client.get(f"/scenarios/{scenario.pk}/").content.decode()


def test_workload_overrides_change_one_scenarios_workload(
    key_client: KeyClient, product: Product, scenario: Scenario, priced_models: Any
) -> None:
    from planner.simulation.overrides import workload_override_set
    from planner.simulation.scenarios import scenario_duplicate
    from planner.simulation.snapshot import scenario_snapshot

    chat = product.workloads.get(name="Chat")
    other = scenario_create(product=product, name="Other")
    override = workload_override_set(
        scenario=scenario,
        workload=chat,
        data={
            "input_tokens_median": 2_000.0,
            "input_tokens_p90": 8_000.0,
            "model_mix": [{"model": priced_models["small"].pk, "share": 1.0}],
        },
    )
    assert override is not None
    snapshot = scenario_snapshot(scenario=scenario)["workloads"][0]
    assert snapshot["input_tokens"] == [2_000.0, 8_000.0] and snapshot["output_tokens"] == [300.0, 1_200.0]
    assert [m["key"] for m in snapshot["models"]] == ["openai/gpt-4o-mini"]
    untouched = scenario_snapshot(scenario=other)["workloads"][0]
    assert untouched["input_tokens"] == [800.0, 3_000.0] and len(untouched["models"]) == 2
    copy = scenario_duplicate(scenario=scenario)
    assert scenario_snapshot(scenario=copy)["workloads"] == scenario_snapshot(scenario=scenario)["workloads"]

    client = key_client()
    url = f"/api/v1/scenarios/{scenario.pk}/document/"
    document = client.get(url).json()
    assert document["plan"]["overrides"] == [
        {
            "workload": "Chat",
            "input_tokens_median": 2000.0,
            "input_tokens_p90": 8000.0,
            "output_tokens_median": None,
            "output_tokens_p90": None,
            "reasoning_tokens_median": None,
            "reasoning_tokens_p90": None,
            "calls_per_request_median": None,
            "calls_per_request_p90": None,
            "models": [{"model": "openai/gpt-4o-mini", "share": 1.0, "variant": "", "uses_reasoning": False}],
        }
    ]
    document["plan"]["overrides"][0]["input_tokens_p90"] = 100.0
    bad = client.put(url, document, format="json")
    assert bad.status_code == 400 and errors(bad) == {("plan.overrides[0].input_tokens_p90", "invalid")}
    document["plan"]["overrides"] = []
    assert client.put(url, document, format="json").status_code == 200
    assert not scenario.workload_overrides.exists() and copy.workload_overrides.count() == 1
    with pytest.raises(ValidationError, match="sum to 1"):
        workload_override_set(
            scenario=scenario,
            workload=chat,
            data={"model_mix": [{"model": priced_models["small"].pk, "share": 0.5}]},
        )
    assert workload_override_set(scenario=copy, workload=chat, data={}) is None
    assert not copy.workload_overrides.exists()


def test_deleting_a_used_workload_lists_the_scenarios_then_removes_their_references(
    key_client: KeyClient, product: Product, scenario: Scenario, client: Any, user: Any
) -> None:
    from planner.simulation.overrides import workload_override_set
    from planner.simulation.scenarios import scenario_update

    chat, agent = product.workloads.get(name="Chat"), product.workloads.get(name="Agent")
    scenario_update(
        scenario=scenario,
        data={
            "levers": [
                {
                    "key": "cache",
                    "label": "Cache chat",
                    "workloads": [chat.pk],
                    "response_cache_hit_rate": 0.3,
                },
                {
                    "key": "both",
                    "label": "Distil both",
                    "workloads": [chat.pk, agent.pk],
                    "distillation": 0.2,
                },
            ]
        },
    )
    other = scenario_create(product=product, name="Other")
    workload_override_set(
        scenario=other, workload=chat, data={"input_tokens_median": 1.0, "input_tokens_p90": 2.0}
    )
    refused = key_client().delete(f"/api/v1/workloads/{chat.pk}/")
    assert refused.status_code == 400 and errors(refused) == {("workload", "invalid")}
    message = refused.json()["errors"][0]["message"]
    assert "Baseline: levers 'Cache chat', 'Distil both'" in message and "Other: its override" in message
    client.force_login(user)
    url = f"/scenarios/{scenario.pk}/workloads/{chat.pk}/delete/"
    page = client.post(url)
    assert page.status_code == 200 and "Other: its override of the workload" in page.content.decode()
    assert product.workloads.filter(pk=chat.pk).exists()
    assert client.post(url, {"confirm": "1"}).status_code == 302
    assert not product.workloads.filter(pk=chat.pk).exists()
    scenario.refresh_from_db()
    assert scenario.levers == [
        {"key": "both", "label": "Distil both", "workloads": [agent.pk], "distillation": 0.2}
    ]
    assert not other.workload_overrides.exists()
    confirmed = key_client().delete(f"/api/v1/workloads/{agent.pk}/", QUERY_STRING="confirm=true")
    assert confirmed.status_code == 204


def test_the_editor_says_which_workloads_the_scenario_overrides(
    product: Product, scenario: Scenario, client: Any, user: Any
) -> None:
    from planner.simulation.overrides import workload_override_set

    client.force_login(user)
    url = f"/scenarios/{scenario.pk}/"
    assert "overridden in this scenario" not in client.get(url).content.decode()
    chat = product.workloads.get(name="Chat")
    workload_override_set(
        scenario=scenario, workload=chat, data={"calls_per_request_median": 2.0, "calls_per_request_p90": 4.0}
    )
    page = client.get(url).content.decode()
    assert page.count("overridden in this scenario") == 1


def test_the_usage_csv_names_live_tiers_only(
    organization: Any, scenario: Scenario, priced_models: Any
) -> None:
    from planner.actuals.usage_csv import UsageCsvInvalid, usage_csv_ingest

    stand_in = scenario.tiers.get(name="Pro")
    header = "event_id,customer,tier,timestamp,model,input_tokens\n"
    with pytest.raises(UsageCsvInvalid) as caught:
        usage_csv_ingest(
            organization=organization,
            content=(header + f"e1,c1,{stand_in.pk},2025-06-12T10:00:00Z,openai/gpt-4o,10\n").encode(),
        )
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "tier")]
    # By name, "Pro" is the live tier (scenario copies of it do not make the name ambiguous).
    result = usage_csv_ingest(
        organization=organization,
        content=(header + "e1,c1,Pro,2025-06-12T10:00:00Z,openai/gpt-4o,10\n").encode(),
    )
    assert result.created == 1


def test_a_repointed_scenario_rule_finds_its_tier_in_runs_made_before_and_after(
    organization: Any, scenario: Scenario
) -> None:
    from planner.alerts.evaluate import alert_evaluate
    from planner.alerts.models import AlertRule
    from planner.simulation.models import SimulationRun

    pro = scenario.tiers.get(name="Pro")
    rule = alert_rule_create(
        organization=organization,
        name="Pro watch",
        scope=AlertRule.Scope.SCENARIO,
        scenario=scenario,
        tier=pro,
        metric=AlertRule.Metric.UNDERWATER_SHARE,
        comparator=AlertRule.Comparator.GT,
        threshold=Decimal("5"),
        recipients=["founder@example.com"],
    )

    def run(snapshot_tiers: list[dict[str, Any]], share: float) -> SimulationRun:
        results = {
            "tiers": [
                {
                    "key": t["key"],
                    "gross_margin_pct": {"value": 50.0},
                    "underwater": {
                        "share": share if t["key"] == "Pro" else 0.0,
                        "monthly_loss": {"value": 1.0},
                    },
                    "cogs_per_user": {"p95": {"value": 1.0}},
                }
                for t in snapshot_tiers
            ],
            "total": {"gross_margin_pct": 50.0, "underwater_paying": {"share": share, "monthly_loss": 1.0}},
        }
        return SimulationRun.objects.create(
            scenario=scenario,
            seed=1,
            users=1_000,
            status="succeeded",
            snapshot={"tiers": snapshot_tiers},
            results=results,
        )

    # Made before the migration: the snapshot names the live tiers (another id, same name),
    # in another order.
    live = {t.name: t.pk for t in live_tiers(scenario.product)}
    run([{"id": live["Pro"], "key": "Pro"}, {"id": live["Free"], "key": "Free"}], 0.08)
    assert rule.tier_id != live["Pro"]
    assert alert_evaluate(rule=rule, now=NOW).breaches == 1
    measured = AlertRule.objects.get(pk=rule.pk).last_measurement
    assert measured is not None and "8.0" in json.dumps(measured)


def test_the_editor_overrides_a_workload_for_one_scenario(
    product: Product, scenario: Scenario, priced_models: Any, client: Any, user: Any
) -> None:
    from planner.simulation.snapshot import scenario_snapshot

    client.force_login(user)
    chat = product.workloads.get(name="Chat")
    other = scenario_create(product=product, name="Other")
    url = f"/scenarios/{scenario.pk}/workloads/{chat.pk}/override/"
    assert client.get(url).status_code == 200
    bad = client.post(url, {"input_tokens_median": "900", "input_tokens_p90": "100"})
    assert bad.status_code == 400 and "cannot be below the median" in bad.content.decode()
    private = client.post(url, {"mix_0_model": "private/nope", "mix_0_share": "100"})
    assert private.status_code == 400 and "is not a catalog model" in private.content.decode()
    saved = client.post(
        url,
        {
            "input_tokens_median": "2000",
            "input_tokens_p90": "8000",
            "mix_0_model": "openai/gpt-4o-mini",
            "mix_0_share": "100",  # percent (issue 19)
        },
    )
    assert saved.status_code == 302
    workload = scenario_snapshot(scenario=scenario)["workloads"][0]
    assert workload["input_tokens"] == [2000.0, 8000.0] and [m["key"] for m in workload["models"]] == [
        "openai/gpt-4o-mini"
    ]
    assert scenario_snapshot(scenario=other)["workloads"][0]["input_tokens"] == [800.0, 3000.0]
    assert "overridden in this scenario" in client.get(f"/scenarios/{scenario.pk}/").content.decode()
    form = client.get(url).context["form"]
    assert form.initial["mix_0_model"] == "openai/gpt-4o-mini" and form.initial["input_tokens_p90"] == 8000.0
    assert client.post(url, {"follow": "1"}).status_code == 302
    assert not scenario.workload_overrides.exists()
