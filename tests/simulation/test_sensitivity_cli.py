"""``manage.py sensitivity``: the tornado of a stored scenario's plan as one JSON object or a
table, and errors naming what is wrong (the engine's checks are in tests/engine/test_sensitivity.py)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from planner.simulation.models import Scenario

pytestmark = pytest.mark.django_db


def sensitivity(*args: str) -> str:
    out = io.StringIO()
    call_command("sensitivity", *args, stdout=out)
    return out.getvalue()


def test_the_json_answer_has_every_tiers_bars_ranked_by_swing(scenario: Scenario) -> None:
    answer = json.loads(sensitivity("--scenario", str(scenario.pk), "--users", "2000", "--json"))
    assert (answer["scenario"], answer["users"], answer["seed"]) == (scenario.pk, 2000, scenario.seed)
    assert [t["key"] for t in answer["tiers"]] == ["Free", "Pro"]
    pro = answer["tiers"][1]
    inputs = [bar["input"] for bar in pro["bars"]]
    assert {"usage_median", "usage_spread", "model_mix:Chat", "price_trend", "subscribers:Pro"} <= set(inputs)
    assert "subscribers:Free" not in inputs  # a tier's subscriber mix is in its own tornado only
    swings = [bar["swing"] for bar in pro["bars"]]
    assert swings == sorted(swings, reverse=True) and swings[0] > 0
    top = pro["bars"][0]
    for side in ("low", "high"):
        figure = top[side]["figures"]["gross_margin"]
        low, high = figure["delta_interval"]
        assert low <= figure["delta"] <= high
    assert {s["input"] for s in answer["skipped"]} >= {"response_cache"}


def test_one_tiers_table(scenario: Scenario) -> None:
    text = sensitivity("--scenario", str(scenario.pk), "--tier", "Pro", "--users", "1000")
    assert "Pro (baseline" in text and "Free (baseline" not in text
    assert "Usage median" in text and "swing" in text and "Skipped: " in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "Max"], "tier: the scenario's plan has no tier named 'Max'"),
    ],
)
def test_bad_requests_are_errors_naming_the_field(scenario: Scenario, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        sensitivity("--scenario", str(scenario.pk), "--users", "1000", "--json", *args)


def test_an_unknown_scenario_is_an_error(scenario: Scenario) -> None:
    with pytest.raises(CommandError, match="No scenario with id or name '999999'"):
        sensitivity("--scenario", "999999", "--json")
