"""Segments of a tier's users and plan levers through the API: CRUD and scoping of
``segments/``, usage by segment, levers naming tiers, the changed scenario defaults, and the
scenario document's segments and lever tiers (export, import, PUT)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from planner.accounts.models import Organization
from planner.products.models import Product, Segment, UsageDistribution
from planner.products.segments import segment_create
from planner.products.selectors import live_tiers
from planner.products.services import usage_distribution_set
from planner.simulation.models import Scenario
from tests.api.conftest import KeyClient

pytestmark = pytest.mark.django_db


def errors(response: Any) -> set[tuple[str | None, str]]:
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


def test_segments_crud_on_a_live_tier(key_client: KeyClient, product: Product) -> None:
    client = key_client()
    pro = live_tiers(product).get(name="Pro")
    created = client.post("/api/v1/segments/", {"tier": pro.pk, "name": "Chat", "share": 0.85}, format="json")
    assert created.status_code == 201, created.content
    chat = created.json()
    assert chat == {"id": chat["id"], "tier": pro.pk, "name": "Chat", "share": 0.85, "position": 0}
    power = client.post(
        "/api/v1/segments/", {"tier": pro.pk, "name": "Power", "share": 0.15}, format="json"
    ).json()
    assert power["position"] == 1  # after the tier's segments
    listed = client.get("/api/v1/segments/").json()
    assert [s["name"] for s in listed["results"]] == ["Chat", "Power"]
    assert client.get(f"/api/v1/segments/{chat['id']}/").json() == chat
    patched = client.patch(f"/api/v1/segments/{chat['id']}/", {"share": 0.8}, format="json")
    assert patched.status_code == 200 and patched.json()["share"] == 0.8
    put = client.put(
        f"/api/v1/segments/{power['id']}/",
        {"tier": pro.pk, "name": "Agentic", "share": 0.2, "position": 5},
        format="json",
    )
    assert put.status_code == 200, put.content
    assert (put.json()["name"], put.json()["position"]) == ("Agentic", 5)
    usage_distribution_set(
        tier=pro,
        workload=product.workloads.get(name="Chat"),
        segment=Segment.objects.get(pk=power["id"]),
        kind="lognormal",
        median=400.0,
        p90=2_000.0,
    )
    assert client.delete(f"/api/v1/segments/{power['id']}/").status_code == 204
    assert not Segment.objects.filter(pk=power["id"]).exists()
    assert not UsageDistribution.objects.filter(segment_id=power["id"]).exists()
    assert UsageDistribution.objects.filter(tier=pro, segment__isnull=True).count() == 2


def test_segment_errors_are_on_the_field_at_fault(
    key_client: KeyClient, product: Product, scenario: Scenario
) -> None:
    client = key_client()
    pro, free = live_tiers(product).get(name="Pro"), live_tiers(product).get(name="Free")
    chat = client.post("/api/v1/segments/", {"tier": pro.pk, "name": "Chat", "share": 0.5}, format="json")
    url = f"/api/v1/segments/{chat.json()['id']}/"

    def post(body: dict[str, Any]) -> set[tuple[str | None, str]]:
        response = client.post("/api/v1/segments/", body, format="json")
        assert response.status_code == 400, response.content
        return errors(response)

    taken = client.post("/api/v1/segments/", {"tier": pro.pk, "name": "Chat", "share": 0.5}, format="json")
    assert taken.status_code == 400 and errors(taken) == {("name", "unique")}
    assert "already exists in this tier" in taken.json()["errors"][0]["message"]
    assert post({"tier": pro.pk, "name": "Zero", "share": 0.0}) == {("share", "not_positive")}
    assert post({"tier": pro.pk, "name": "Big", "share": 1.5}) == {("share", "max_value")}
    assert post({"tier": pro.pk, "name": "Text", "share": "0.5"}) == {("share", "invalid")}
    assert post({"tier": pro.pk, "name": "Late", "share": 0.5, "position": -1}) == {("position", "min_value")}
    assert post({"name": "Orphan", "share": 0.5}) == {("tier", "required")}
    # The same name in another tier, or in the scenario's copy of the tier, is another segment.
    stand_in = scenario.tiers.get(name="Pro")
    for tier in (free, stand_in):
        ok = client.post("/api/v1/segments/", {"tier": tier.pk, "name": "Chat", "share": 0.5}, format="json")
        assert ok.status_code == 201, ok.content
    # The tier is fixed; repeating it (as a PUT does) is fine. A rename onto a taken name is on `name`.
    moved = client.patch(url, {"tier": free.pk}, format="json")
    assert moved.status_code == 400 and errors(moved) == {("tier", "invalid")}
    assert client.patch(url, {"tier": pro.pk, "share": 0.6}, format="json").status_code == 200
    client.post("/api/v1/segments/", {"tier": pro.pk, "name": "Power", "share": 0.4}, format="json")
    renamed = client.patch(url, {"name": "Power"}, format="json")
    assert renamed.status_code == 400 and errors(renamed) == {("name", "unique")}
    assert Segment.objects.get(pk=chat.json()["id"]).name == "Chat"


def test_segments_are_scoped_to_the_organisation(
    key_client: KeyClient, product: Product, other_organization: Organization
) -> None:
    pro = live_tiers(product).get(name="Pro")
    segment = segment_create(tier=pro, name="Chat", share=1.0)
    foreign = key_client(organization=other_organization)
    url = f"/api/v1/segments/{segment.pk}/"
    assert foreign.get(url).status_code == 404
    assert foreign.patch(url, {"share": 0.5}, format="json").status_code == 404
    assert foreign.delete(url).status_code == 404
    assert foreign.get("/api/v1/segments/").json()["count"] == 0
    assert foreign.get("/api/v1/segments/", {"tier": pro.pk}).json()["count"] == 0
    sneaky = foreign.post("/api/v1/segments/", {"tier": pro.pk, "name": "Mine", "share": 1.0}, format="json")
    assert sneaky.status_code == 400 and errors(sneaky) == {("tier", "does_not_exist")}
    # Usage naming another organisation's segment: the segment "does not exist" either.
    own = key_client()
    usage = own.post(
        "/api/v1/usage-distributions/",
        {
            "tier": pro.pk,
            "segment": segment.pk + 10_000,
            "workload": product.workloads.first().pk,  # type: ignore[union-attr]
            "kind": "lognormal",
            "median": 1.0,
            "p90": 2.0,
        },
        format="json",
    )
    assert usage.status_code == 400 and errors(usage) == {("segment", "does_not_exist")}
    assert Segment.objects.get(pk=segment.pk).share == 1.0


def test_lists_show_the_live_plan_unless_a_scenario_or_tier_is_named(
    key_client: KeyClient, product: Product, scenario: Scenario
) -> None:
    client = key_client()
    live = segment_create(tier=live_tiers(product).get(name="Pro"), name="Live", share=1.0)
    stand_in = scenario.tiers.get(name="Pro")
    planned = segment_create(tier=stand_in, name="Planned", share=1.0)

    def ids(**query: Any) -> list[int]:
        response = client.get("/api/v1/segments/", query)
        assert response.status_code == 200, response.content
        return [s["id"] for s in response.json()["results"]]

    assert ids() == ids(product=product.pk) == [live.pk]
    assert ids(scenario=scenario.pk) == ids(tier=stand_in.pk) == [planned.pk]
    assert ids(product=product.pk + 1000) == []
    assert client.get(f"/api/v1/segments/{planned.pk}/").json()["name"] == "Planned"
    bad = client.get("/api/v1/segments/", {"tier": "pro"})
    assert bad.status_code == 400 and errors(bad) == {("tier", "invalid")}


def test_usage_of_a_segment(key_client: KeyClient, product: Product, scenario: Scenario) -> None:
    client = key_client()
    stand_in, free = scenario.tiers.get(name="Pro"), scenario.tiers.get(name="Free")
    power = segment_create(tier=stand_in, name="Power", share=0.15)
    other = segment_create(tier=free, name="Other", share=1.0)
    chat = product.workloads.get(name="Chat")
    body = {"tier": stand_in.pk, "segment": power.pk, "workload": chat.pk, "kind": "lognormal"}
    created = client.post(
        "/api/v1/usage-distributions/", {**body, "median": 400.0, "p90": 2000.0}, format="json"
    )
    assert created.status_code == 201, created.content
    usage = created.json()
    assert (usage["tier"], usage["segment"], usage["workload"]) == (stand_in.pk, power.pk, chat.pk)
    # The whole tier's usage of the workload is still there, apart from the segment's.
    assert UsageDistribution.objects.filter(tier=stand_in, workload=chat).count() == 2
    twice = client.post("/api/v1/usage-distributions/", {**body, "median": 1.0, "p90": 2.0}, format="json")
    assert twice.status_code == 400 and errors(twice) == {(None, "unique")}
    assert "tier, segment, workload" in twice.json()["errors"][0]["message"]
    elsewhere = client.post(
        "/api/v1/usage-distributions/",
        {**body, "segment": other.pk, "median": 1.0, "p90": 2.0},
        format="json",
    )
    assert elsewhere.status_code == 400 and {f for f, _ in errors(elsewhere)} == {"segment"}
    url = f"/api/v1/usage-distributions/{usage['id']}/"
    moved = client.patch(url, {"segment": None}, format="json")
    assert moved.status_code == 400 and errors(moved) == {("segment", "invalid")}
    patched = client.patch(url, {"median": 500.0, "p90": 2500.0}, format="json")
    assert patched.status_code == 200 and patched.json()["segment"] == power.pk
    assert UsageDistribution.objects.get(pk=usage["id"]).median == 500.0
    by_segment = client.get("/api/v1/usage-distributions/", {"segment": power.pk}).json()["results"]
    assert [u["id"] for u in by_segment] == [usage["id"]]
    by_tier = client.get("/api/v1/usage-distributions/", {"tier": stand_in.pk}).json()["results"]
    assert [u["segment"] for u in by_tier] == [None, power.pk, None]  # tier, workload order
    # The scenario's nested read: its segments, and each usage's segment.
    inputs = client.get(f"/api/v1/scenarios/{scenario.pk}/").json()["inputs"]
    assert [(s["name"], s["tier"]) for s in inputs["segments"]] == [
        ("Other", free.pk),
        ("Power", stand_in.pk),
    ]
    pro_usage = [u for u in inputs["usage_distributions"] if u["tier"] == stand_in.pk]
    assert [(u["segment"], u["workload"]) for u in pro_usage][-1] == (power.pk, chat.pk)
    assert client.delete(url).status_code == 204


def test_levers_name_tiers_and_change_plans(key_client: KeyClient, product: Product) -> None:
    client = key_client()
    live_pro = live_tiers(product).get(name="Pro")
    lever = {"key": "pro-29", "label": "Pro at $29", "tiers": [live_pro.pk], "fee": 29.0, "hard_cap": 500.0}
    created = client.post(
        "/api/v1/scenarios/", {"product": product.pk, "name": "Price test", "levers": [lever]}, format="json"
    )
    assert created.status_code == 201, created.content
    scenario = Scenario.objects.get(pk=created.json()["id"])
    copy_of_pro = scenario.tiers.get(name="Pro")
    [stored] = created.json()["levers"]
    assert stored["tiers"] == [copy_of_pro.pk] and scenario.levers[0]["tiers"] == [copy_of_pro.pk]
    assert (stored["fee"], stored["hard_cap"], stored["fee_scale"], stored["routing_model"]) == (
        29.0,
        500.0,
        None,
        None,
    )
    url = f"/api/v1/scenarios/{scenario.pk}/"
    scaled = {"key": "plus-20", "label": "+20 %", "fee_scale": 1.2}
    assert (
        client.patch(url, {"levers": [lever | {"tiers": [copy_of_pro.pk]}, scaled]}, format="json").json()[
            "levers"
        ][1]["tiers"]
        == []
    )
    # On update, a lever names tiers of the scenario's own plan (the live tier is not one).
    live = client.patch(url, {"levers": [lever]}, format="json")
    assert live.status_code == 400 and errors(live) == {("levers", "invalid")}
    both = client.patch(url, {"levers": [{**scaled, "fee": 10.0}]}, format="json")
    assert both.status_code == 400 and {f for f, _ in errors(both)} == {"levers"}
    too_much = client.patch(url, {"levers": [{**scaled, "fee_scale": 1000.0}]}, format="json")
    assert too_much.status_code == 400 and errors(too_much) == {("levers[0].fee_scale", "max_value")}
    unknown = client.post(
        "/api/v1/scenarios/",
        {"product": product.pk, "name": "Stranger", "levers": [{**lever, "tiers": [copy_of_pro.pk]}]},
        format="json",
    )
    assert unknown.status_code == 400 and {f for f, _ in errors(unknown)} == {"levers"}


def test_new_scenarios_assume_flat_prices_and_no_usage_growth(
    key_client: KeyClient, product: Product
) -> None:
    client = key_client()
    created = client.post("/api/v1/scenarios/", {"product": product.pk, "name": "Defaults"}, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["price_trend_yearly"], created.json()["usage_growth_monthly"]) == (0.0, 0.0)
    explicit = client.post(
        "/api/v1/scenarios/",
        {"product": product.pk, "name": "Cheaper tokens", "price_trend_yearly": -0.3},
        format="json",
    )
    assert explicit.json()["price_trend_yearly"] == -0.3
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    field = schema["components"]["schemas"]["ScenarioRequest"]["properties"]["price_trend_yearly"]
    assert "Default on create: 0" in field["description"]


# --- The scenario document ---------------------------------------------------------------


def _segmented(scenario: Scenario) -> None:
    """Give the scenario's Pro two segments (one with usage of its own) and a lever on Pro."""
    pro = scenario.tiers.get(name="Pro")
    segment_create(tier=pro, name="Chat", share=0.85)
    power = segment_create(tier=pro, name="Power", share=0.15)
    usage_distribution_set(
        tier=pro,
        workload=scenario.product.workloads.get(name="Agent"),
        segment=power,
        kind="lognormal",
        median=30.0,
        p90=120.0,
    )
    scenario.levers = [
        *scenario.levers,
        {"key": "pro-29", "label": "Pro at $29", "tiers": [pro.pk], "fee": 29.0, "included_credits": 400.0},
    ]
    scenario.save()


def test_document_round_trip_with_segments_and_a_lever_naming_a_tier(
    key_client: KeyClient, scenario: Scenario
) -> None:
    client = key_client()
    _segmented(scenario)
    document = client.get(f"/api/v1/scenarios/{scenario.pk}/document/").json()
    plan = document["plan"]
    assert plan["segments"] == [
        {"tier": "Pro", "name": "Chat", "share": 0.85, "position": 0},
        {"tier": "Pro", "name": "Power", "share": 0.15, "position": 1},
    ]
    assert [(u["tier"], u["segment"], u["workload"]) for u in plan["usage_distributions"]][-3:] == [
        ("Pro", None, "Chat"),
        ("Pro", None, "Agent"),
        ("Pro", "Power", "Agent"),
    ]
    assert plan["levers"][1]["tiers"] == ["Pro"] and plan["levers"][1]["fee"] == 29.0
    assert plan["levers"][0]["tiers"] == [] and plan["levers"][0]["fee"] is None
    document["product"]["name"] = "Copilot segmented"
    imported = client.post("/api/v1/scenarios/import/", document, format="json")
    assert imported.status_code == 201, imported.content
    new = Scenario.objects.get(pk=imported.json()["id"])
    new_pro = new.tiers.get(name="Pro")
    assert new.levers[1]["tiers"] == [new_pro.pk] != scenario.levers[1]["tiers"]
    assert [s.name for s in new_pro.segments.all()] == ["Chat", "Power"]
    assert new_pro.usage.filter(segment__name="Power").count() == 1
    # The live plan the import made carries the segments too (new scenarios start from it).
    live_pro = live_tiers(new.product).get(name="Pro")
    assert [(s.name, s.usage.count()) for s in live_pro.segments.all()] == [("Chat", 0), ("Power", 1)]
    assert live_pro.usage.filter(segment__isnull=True).count() == 2
    again = client.get(f"/api/v1/scenarios/{new.pk}/document/").json()
    assert again == document


def test_document_put_replaces_segments_in_place(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    _segmented(scenario)
    url = f"/api/v1/scenarios/{scenario.pk}/document/"
    document = client.get(url).json()
    pro = scenario.tiers.get(name="Pro")
    ids = dict(pro.segments.values_list("name", "id"))
    plan = document["plan"]
    plan["segments"][0]["share"] = 0.7
    plan["segments"][1]["share"] = 0.2
    plan["segments"].append({"tier": "Pro", "name": "Agents", "share": 0.1, "position": 2})
    agent_usage = next(u for u in plan["usage_distributions"] if u["segment"] == "Power")
    plan["usage_distributions"].append({**agent_usage, "segment": "Agents", "median": 90.0, "p90": 300.0})
    response = client.put(url, document, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == client.get(url).json()
    segments = {s.name: s for s in pro.segments.all()}
    assert {name: segments[name].pk for name in ids} == ids  # updated in place
    assert {name: s.share for name, s in segments.items()} == {"Chat": 0.7, "Power": 0.2, "Agents": 0.1}
    assert segments["Agents"].usage.get().median == 90.0
    # A segment missing from the document goes with its usage; a lever loses nothing it names.
    plan["segments"] = [s for s in plan["segments"] if s["name"] != "Power"]
    plan["usage_distributions"] = [u for u in plan["usage_distributions"] if u["segment"] != "Power"]
    assert client.put(url, document, format="json").status_code == 200
    assert sorted(pro.segments.values_list("name", flat=True)) == ["Agents", "Chat"]
    assert not UsageDistribution.objects.filter(segment_id=ids["Power"]).exists()
    scenario.refresh_from_db()
    assert scenario.levers[1]["tiers"] == [pro.pk]
    # A version 2 document written before segments (no segments, no usage segment, no lever
    # tiers) is still valid: a plan without segments, levers on every tier.
    old = copy.deepcopy(document)
    del old["plan"]["segments"]
    old["plan"]["usage_distributions"] = [
        {k: v for k, v in u.items() if k != "segment"}
        for u in old["plan"]["usage_distributions"]
        if not u["segment"]
    ]
    for lever in old["plan"]["levers"]:
        for name in ("tiers", "fee", "fee_scale", "included_credits", "overage_price", "hard_cap"):
            lever.pop(name)
    old["plan"]["levers"] = old["plan"]["levers"][:1]
    assert client.put(url, old, format="json").status_code == 200
    assert (
        not pro.segments.exists() and UsageDistribution.objects.filter(tier__scenario=scenario).count() == 4
    )
    old["product"]["name"] = "Copilot, imported"
    imported = client.post("/api/v1/scenarios/import/", old, format="json")
    assert imported.status_code == 201, imported.content


def test_document_segment_and_lever_errors_name_their_path(key_client: KeyClient, scenario: Scenario) -> None:
    client = key_client()
    _segmented(scenario)
    url = f"/api/v1/scenarios/{scenario.pk}/document/"
    document = client.get(url).json()
    before = client.get(url).json()

    def put(change: Any) -> set[tuple[str | None, str]]:
        edited = copy.deepcopy(document)
        change(edited["plan"])
        response = client.put(url, edited, format="json")
        assert response.status_code == 400, response.content
        assert client.get(url).json() == before  # nothing written
        return errors(response)

    assert put(lambda p: p["segments"][1].update(share=1.5)) == {("plan.segments[1].share", "max_value")}
    assert put(lambda p: p["segments"][1].update(share=0)) == {("plan.segments[1].share", "not_positive")}
    # A segment moved to a tier the plan lacks, or renamed to a name its tier has: refused, and
    # the usage that names Pro's "Agentic" now names no segment of the document.
    agentic_usage = ("plan.usage_distributions[4].segment", "invalid")
    assert put(lambda p: p["segments"][1].update(tier="Team")) == {
        ("plan.segments[1].tier", "invalid"),
        agentic_usage,
    }
    assert put(lambda p: p["segments"][1].update(name="Chat")) == {
        ("plan.segments[1].name", "invalid"),
        agentic_usage,
    }
    assert put(lambda p: p["levers"][1].update(tiers=["Team"])) == {("plan.levers[1].tiers", "invalid")}
    assert put(lambda p: p["levers"][1].update(fee_scale=1.1)) == {("plan.levers", "invalid")}

    def unknown_segment(p: dict[str, Any]) -> None:
        p["usage_distributions"][-1]["segment"] = "Nobody"

    assert put(unknown_segment) == {
        (f"plan.usage_distributions[{len(document['plan']['usage_distributions']) - 1}].segment", "invalid")
    }

    def twice(p: dict[str, Any]) -> None:
        p["usage_distributions"].append(p["usage_distributions"][-1])

    index = len(document["plan"]["usage_distributions"])
    assert put(twice) == {(f"plan.usage_distributions[{index}]", "invalid")}
    # Import reports the same paths, and leaves nothing behind.
    document["product"]["name"] = "Broken import"
    document["plan"]["levers"][1]["tiers"] = ["Team"]
    response = client.post("/api/v1/scenarios/import/", document, format="json")
    assert response.status_code == 400 and errors(response) == {("plan.levers[1].tiers", "invalid")}
    assert not Product.objects.filter(name="Broken import").exists()
