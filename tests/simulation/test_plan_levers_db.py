"""Plan levers and segments stored in the database: levers name the scenario's own tiers by id
(kept right through duplication and tier deletion), a fee is set in the field each tier bills
by, segments reach the snapshot with their usage, and the results page's sentences and tables
read what the engine reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from planner import engine
from planner.engine.types import TierChange
from planner.products.models import Product
from planner.products.segments import segment_create
from planner.products.selectors import live_tiers
from planner.products.services import tier_delete, tier_update, usage_distribution_set
from planner.simulation.adapter import SimulationInputError, engine_input_from_snapshot, plan_changes
from planner.simulation.levers import lever_key, scenario_lever_add, scenario_lever_remove
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_duplicate
from planner.simulation.snapshot import scenario_snapshot
from planner.simulation.summaries import lever_rows, plan_words, segment_rows, summary_sentences

pytestmark = pytest.mark.django_db


def test_a_lever_names_tiers_of_its_own_plan_and_reaches_the_engine(scenario: Scenario) -> None:
    pro = scenario.tiers.get(name="Pro")
    lever = scenario_lever_add(
        scenario=scenario,
        label="Pro +25%, capped at 400",
        tiers=[pro.pk],
        changes={"fee_scale": 1.25, "hard_cap": 400.0, "distillation": None},
    )
    assert lever == {
        "key": "pro-25-capped-at-400",
        "label": "Pro +25%, capped at 400",
        "tiers": [pro.pk],
        "fee_scale": 1.25,
        "hard_cap": 400.0,
    }
    stored = Scenario.objects.get(pk=scenario.pk).levers
    assert stored[-1] == lever
    snapshot = scenario_snapshot(scenario=scenario)
    assert snapshot["levers"][-1]["tiers"] == ["Pro"]
    inputs = engine_input_from_snapshot(snapshot)
    assert inputs.levers[-1].plan == (TierChange("Pro", fee_scale=1.25, hard_cap=400.0),)
    assert inputs.levers[0].plan == ()  # the fixture's cache lever changes costs only
    scenario_lever_remove(scenario=scenario, key=lever["key"])
    assert [lever["key"] for lever in Scenario.objects.get(pk=scenario.pk).levers] == ["cache"]


def test_a_lever_without_tiers_changes_every_tier(scenario: Scenario) -> None:
    scenario_lever_add(scenario=scenario, label="Overage 2c", changes={"overage_price": 0.02})
    inputs = engine_input_from_snapshot(scenario_snapshot(scenario=scenario))
    assert inputs.levers[-1].plan == (
        TierChange("Free", overage_price=0.02),
        TierChange("Pro", overage_price=0.02),
    )


def test_lever_errors_name_the_field_and_change_nothing(scenario: Scenario, product: Product) -> None:
    live_pro = live_tiers(product).get(name="Pro")
    before = list(scenario.levers)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tiers": [live_pro.pk], "changes": {"hard_cap": 10.0}}, "levers"),  # another plan's tier
        ({"changes": {"fee": 25.0, "fee_scale": 1.1}}, "levers"),  # fee and fee_scale
        ({"tiers": [scenario.tiers.get(name="Pro").pk], "changes": {}}, "levers"),  # changes nothing
        ({"changes": {"hard_cap": -1.0}}, "levers"),
        ({"changes": {"price": 3.0}}, "price"),  # not a lever field
    ]
    for arguments, field in cases:
        with pytest.raises(ValidationError) as caught:
            scenario_lever_add(scenario=scenario, label="Bad", **arguments)
        assert field in caught.value.message_dict, (arguments, caught.value.message_dict)
    assert Scenario.objects.get(pk=scenario.pk).levers == before


def test_lever_keys_are_unique_slugs() -> None:
    assert lever_key("Pro +25%", []) == "pro-25"
    assert lever_key("Pro +25%", ["pro-25", "pro-25-2"]) == "pro-25-3"
    assert lever_key("++", []) == "lever"


def test_a_duplicate_s_levers_name_the_duplicate_s_tiers(scenario: Scenario) -> None:
    pro = scenario.tiers.get(name="Pro")
    scenario_lever_add(scenario=scenario, label="Cap Pro", tiers=[pro.pk], changes={"hard_cap": 500.0})
    copy = scenario_duplicate(scenario=scenario)
    copy_pro = copy.tiers.get(name="Pro")
    assert copy_pro.pk != pro.pk
    assert copy.levers[-1]["tiers"] == [copy_pro.pk]
    assert Scenario.objects.get(pk=scenario.pk).levers[-1]["tiers"] == [pro.pk]  # the original keeps its own
    assert scenario_snapshot(scenario=copy)["levers"][-1]["tiers"] == ["Pro"]


def test_deleting_a_tier_drops_it_from_the_levers_that_name_it(scenario: Scenario) -> None:
    free, pro = scenario.tiers.get(name="Free"), scenario.tiers.get(name="Pro")
    scenario_lever_add(
        scenario=scenario, label="Cap both", tiers=[free.pk, pro.pk], changes={"hard_cap": 50.0}
    )
    scenario_lever_add(scenario=scenario, label="Cap Pro", tiers=[pro.pk], changes={"hard_cap": 500.0})
    tier_delete(tier=pro)
    levers = {lever["key"]: lever for lever in Scenario.objects.get(pk=scenario.pk).levers}
    # The lever on both keeps Free; the one on Pro alone goes (no tiers would mean every tier).
    assert set(levers) == {"cache", "cap-both"}
    assert levers["cap-both"]["tiers"] == [free.pk]


@pytest.mark.parametrize(
    ("field", "billing", "fee", "monthly"),
    [
        ("monthly_fee", {"monthly_fee": Decimal("20")}, 30.0, 30.0),
        ("seat_fee", {"monthly_fee": Decimal("0"), "seat_fee": Decimal("12"), "seats": 5}, 10.0, 50.0),
        ("annual_price", {"annual_price": Decimal("240")}, 300.0, 25.0),
    ],
)
def test_a_fee_is_set_in_the_field_the_tier_bills_by(
    scenario: Scenario, field: str, billing: dict[str, Any], fee: float, monthly: float
) -> None:
    pro = scenario.tiers.get(name="Pro")
    tier_update(tier=pro, data=billing)
    scenario_lever_add(scenario=scenario, label="New fee", tiers=[pro.pk], changes={"fee": fee})
    snapshot = scenario_snapshot(scenario=scenario)
    tier = next(t for t in snapshot["tiers"] if t["key"] == "Pro")
    assert tier["billing"] == {"field": field, "seats": billing.get("seats")}
    (change,) = engine_input_from_snapshot(snapshot).levers[-1].plan
    assert change == TierChange("Pro", monthly_price=change.monthly_price)
    assert change.monthly_price == pytest.approx(monthly, rel=1e-12)
    results = engine.simulate(engine_input_from_snapshot(snapshot), users=2_000, seed=7)
    pro_result = next(t for t in results["tiers"] if t["key"] == "Pro")
    lever = next(lev for lev in pro_result["levers"] if lev["label"] == "New fee")
    assert lever["monthly_price"] == pytest.approx(monthly, rel=1e-12)


def test_plan_changes_of_a_fee_without_a_billing_rule_read_a_monthly_fee() -> None:
    """Snapshots before schema 3 have no ``billing``: a fee is then a monthly fee."""
    assert plan_changes({"fee": 25.0}, ["Pro"], {"Pro": None}) == (TierChange("Pro", monthly_price=25.0),)
    assert plan_changes({"distillation": 0.2}, ["Pro"], {}) == ()


def _segmented(scenario: Scenario, shares: tuple[float, float]) -> None:
    """Split the scenario's Pro into "Chatters" (the tier's own usage) and "Agentic" (heavy
    agent use), a $20 tier with a 600-credit cap."""
    pro = scenario.tiers.get(name="Pro")
    tier_update(tier=pro, data={"included_credits": 600.0, "hard_cap_credits": 600.0})
    segment_create(tier=pro, name="Chatters", share=shares[0])
    agentic = segment_create(tier=pro, name="Agentic", share=shares[1])
    agent = scenario.product.workloads.get(name="Agent")
    usage_distribution_set(
        tier=pro, workload=agent, segment=agentic, kind="lognormal", median=40.0, p90=150.0
    )


def test_segments_reach_the_snapshot_with_the_tier_s_usage_where_they_have_none(scenario: Scenario) -> None:
    _segmented(scenario, (0.85, 0.15))
    tier = next(t for t in scenario_snapshot(scenario=scenario)["tiers"] if t["key"] == "Pro")
    assert [(s["key"], s["share"]) for s in tier["segments"]] == [("Chatters", 0.85), ("Agentic", 0.15)]
    chatters, agentic = tier["segments"]
    assert chatters["usage"] == tier["usage"]  # no usage of its own: the tier's
    assert agentic["usage"][0] == tier["usage"][0]  # Chat: the tier's
    assert agentic["usage"][1]["median"] == 40.0  # Agent: its own
    inputs = engine_input_from_snapshot(scenario_snapshot(scenario=scenario))
    pro = next(t for t in inputs.tiers if t.key == "Pro")
    assert [s.key for s in pro.segments] == ["Chatters", "Agentic"]


def test_segment_shares_must_sum_to_one_to_simulate(scenario: Scenario) -> None:
    _segmented(scenario, (0.85, 0.10))
    with pytest.raises(SimulationInputError, match="Tier Pro: .*adjust the segments' shares"):
        scenario_snapshot(scenario=scenario)


def test_the_summary_names_who_is_underwater_and_what_drives_their_cost(scenario: Scenario) -> None:
    """A capped tier with underwater users: the sentence names the segment most of them are in
    and the workload behind their cost, and never says margin "never turns negative"."""
    _segmented(scenario, (0.85, 0.15))
    scenario_lever_add(
        scenario=scenario,
        label="Pro at $30",
        tiers=[scenario.tiers.get(name="Pro").pk],
        changes={"fee": 30.0},
    )
    results = engine.simulate(
        engine_input_from_snapshot(scenario_snapshot(scenario=scenario)), users=20_000, seed=3
    )
    pro = next(t for t in results["tiers"] if t["key"] == "Pro")
    assert pro["underwater"]["share"] > 0
    agentic = next(s for s in pro["segments"] if s["key"] == "Agentic")
    chatters = next(s for s in pro["segments"] if s["key"] == "Chatters")
    assert agentic["underwater"]["users"] > chatters["underwater"]["users"]
    sentence = summary_sentences(results, currency="USD")[1]
    assert sentence.startswith(f"{pro['underwater']['share'] * 100:.1f}% of Pro users are underwater")
    assert "\u201cAgentic\u201d users" in sentence
    assert f"their cost comes mostly from {agentic['driver']}" in sentence
    assert agentic["driver"] == "Agent"
    assert "never turns negative" not in sentence
    assert "a user turns negative above $" in sentence

    rows = lever_rows(results)
    assert [(row["tier"], row["lever"]) for row in rows] == [
        ("Free", "Response cache 30%"),
        ("Free", "Pro at $30"),
        ("Pro", "Response cache 30%"),
        ("Pro", "Pro at $30"),
    ]
    fee_row = rows[3]
    assert fee_row["plan"] == "fee $30.00/month"
    assert (
        fee_row["underwater_interval"][0] <= fee_row["underwater_share"] <= fee_row["underwater_interval"][1]
    )
    assert fee_row["underwater_change"] < 0 and fee_row["underwater_change_error"] > 0
    assert rows[1]["plan"] == ""  # Free's plan is untouched by a Pro lever
    assert [(row["tier"], row["key"]) for row in segment_rows(results)] == [
        ("Pro", "Chatters"),
        ("Pro", "Agentic"),
    ]


def test_plan_words_keep_one_order_whatever_the_document_s_key_order() -> None:
    """A results document read back from PostgreSQL's jsonb has its keys in jsonb's order."""
    expected = "fee $25.00/month, cap 400 credits"
    assert plan_words({"monthly_price": 25.0, "hard_cap": 400.0}) == expected
    assert plan_words({"hard_cap": 400.0, "monthly_price": 25.0}) == expected
    assert plan_words({}) == plan_words(None) == ""
