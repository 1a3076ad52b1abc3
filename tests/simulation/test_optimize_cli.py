"""``manage.py optimize``: a goal seek on a stored scenario's plan, its JSON answer, and the
errors that name what is wrong (the engine's analytic checks are in tests/engine/test_goal_seek.py)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from planner.simulation.models import Scenario
from planner.simulation.optimize import parse_vary

pytestmark = pytest.mark.django_db


def optimize(*args: str) -> dict:
    out = io.StringIO()
    call_command("optimize", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_the_cli_finds_the_largest_cap_for_a_target_margin_of_95_percent(scenario: Scenario) -> None:
    answer = optimize(
        "--scenario", str(scenario.pk), "--tier", "Pro", "--vary", "cap:0:2000:1",
        "--target-margin", "0.95", "--users", "8000",
    )  # fmt: skip
    assert answer["feasible"] and set(answer["value"]) == {"hard_cap"}
    cap = answer["value"]["hard_cap"]
    assert answer["figures"]["bounds"]["gross_margin"] >= 95.0
    assert answer["adjacent"]["value"] == cap + 1 and answer["adjacent"]["bounds"]["gross_margin"] < 95.0
    assert answer["vary"] == {"setting": "hard_cap", "min": 0.0, "max": 2000.0, "step": 1.0}
    assert (answer["users"], answer["seed"], answer["scenario"]) == (8000, scenario.seed, scenario.pk)


def test_an_infeasible_target_says_so(scenario: Scenario) -> None:
    answer = optimize(
        "--scenario", str(scenario.pk), "--tier", "Pro", "--vary", "fee:20:21:0.01",
        "--target-underwater", "0", "--target-margin", "0.999", "--users", "4000",
    )  # fmt: skip
    assert not answer["feasible"] and answer["value"] is None and answer["closest"]["value"] <= 21


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "Max", "--vary", "fee"], "no tier named 'Max'"),
        (["--tier", "Pro", "--vary", "seats"], "unknown setting 'seats'"),
        (["--tier", "Pro", "--vary", "fee:a"], "min 'a' is not a number"),
        (["--tier", "Pro", "--vary", "fee", "--target-underwater", "1.5"], "a share is a fraction"),
        (["--tier", "Pro", "--vary", "cap:-1:10:1", "--target-margin", "0.5"], "vary.min: must be"),
        (
            [
                "--tier",
                "Pro",
                "--vary",
                "fee",
                "--vary",
                "cap",
                "--vary",
                "included_credits",
                "--target-margin",
                "0.5",
            ],
            "one setting",
        ),
        (
            ["--tier", "Pro", "--vary", "cap", "--vary", "cap", "--target-margin", "0.5"],
            "two different settings",
        ),
        (["--vary", "fee", "--target-margin", "0.5"], "a fee is a tier's"),  # the total
        (["--tier", "Pro", "--vary", "fee"], "constraints: give at least one"),
    ],
)
def test_bad_requests_are_errors_naming_the_field(scenario: Scenario, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        optimize("--scenario", str(scenario.pk), "--users", "1000", *args)


def test_default_ranges_and_steps() -> None:
    fee = parse_vary("fee", current=20.0)
    assert (fee.setting, fee.minimum, fee.maximum, fee.step) == ("fee", 0.0, 200.0, 0.01)
    cap = parse_vary("cap::5000", current=None)
    assert (cap.setting, cap.minimum, cap.maximum, cap.step) == ("hard_cap", 0.0, 5000.0, 1.0)


def test_two_settings_give_the_grid_and_its_frontier(scenario: Scenario) -> None:
    answer = optimize(
        "--scenario", str(scenario.pk), "--tier", "Pro", "--vary", "fee:15:35:5", "--vary", "cap:100:900:200",
        "--target-margin", "0.85", "--users", "4000",
    )  # fmt: skip
    assert answer["settings"] == ["fee", "hard_cap"] and len(answer["grid"]) == 5 * 5
    frontier = answer["frontier"]
    assert frontier and all(point["feasible"] for point in frontier)
    assert answer["value"] == {"fee": frontier[0]["fee"], "hard_cap": frontier[0]["hard_cap"]}
    margins = [p["margin_per_user"]["value"] for p in frontier]
    assert margins == sorted(margins, reverse=True)
    # No grid point that meets the targets beats a frontier point on every count.
    for point in frontier:
        for other in (p for p in answer["grid"] if p["feasible"]):
            assert not (
                other["margin_per_user"]["value"] > point["margin_per_user"]["value"]
                and other["underwater_share"]["value"] <= point["underwater_share"]["value"]
                and other["cap_hit_share"]["value"] <= point["cap_hit_share"]["value"]
            )


def test_a_cost_lever_s_share_is_varied_on_the_named_lever(scenario: Scenario) -> None:
    """The fixture's scenario has a lever "cache" (a 30% response cache)."""
    answer = optimize(
        "--scenario", str(scenario.pk), "--tier", "Pro", "--vary", "cache_hit_rate", "--lever", "cache",
        "--target-margin", "0.92", "--users", "4000",
    )  # fmt: skip
    assert answer["vary"]["setting"] == "response_cache_hit_rate" and answer["vary"]["step"] == 0.005
    assert answer["feasible"] and set(answer["value"]) == {"response_cache_hit_rate"}
    assert answer["figures"]["bounds"]["gross_margin"] >= 92.0
    with pytest.raises(CommandError, match="no lever 'nope'"):
        optimize(
            "--scenario", str(scenario.pk), "--tier", "Pro", "--vary", "cache_hit_rate", "--lever", "nope",
            "--target-margin", "0.92", "--users", "1000",
        )  # fmt: skip


def test_month_horizon_reads_the_tier_s_totals_over_the_horizon(scenario: Scenario) -> None:
    answer = optimize(
        "--scenario", str(scenario.pk), "--tier", "Pro", "--vary", "cap:0:2000:1",
        "--target-margin", "0.95", "--users", "4000", "--month", "horizon",
    )  # fmt: skip
    assert answer["feasible"] and answer["figures"]["bounds"]["gross_margin"] >= 95.0
    with pytest.raises(CommandError, match="month: horizon totals are for one tier"):
        optimize(
            "--scenario", str(scenario.pk), "--vary", "cap", "--target-margin", "0.5", "--month", "horizon"
        )
