"""Web pages through Django's test client: sign-up, members, API keys, the scenario editor
(field errors next to the field, duplicate), the editor's JSON helpers, run results and exports,
comparison, actuals upload and fitted usage, tenancy and query counts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from planner.accounts.api_keys import api_key_verify
from planner.accounts.models import ApiKey, Membership, Organization
from planner.products.models import Segment, UsageDistribution
from planner.products.segments import segment_create
from planner.products.services import tier_update, usage_distribution_set
from planner.simulation.levers import scenario_lever_add
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.results import histogram_rebinned
from planner.simulation.runs import run_create, run_execute
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


# --- Accounts ------------------------------------------------------------------------------------


def test_signup_creates_the_organisation_with_its_currency_and_time_zone(client: Client) -> None:
    response = client.post(
        reverse("account:signup"),
        {
            "organization_name": "Nimbus AI",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "username": "nina",
            "email": "nina@example.com",
            "password": "a long enough passphrase",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("scenarios:product_new")
    organization = Organization.objects.get(name="Nimbus AI")
    assert (organization.currency, organization.time_zone, organization.slug) == (
        "EUR",
        "Europe/Paris",
        "nimbus-ai",
    )
    membership = Membership.objects.get(organization=organization)
    assert (membership.user.username, membership.role) == ("nina", "owner")
    assert client.get(reverse("dashboard")).status_code == 200  # signed in


def test_signup_errors_are_next_to_the_field(client: Client, user: Any) -> None:
    response = client.post(
        reverse("account:signup"),
        {
            "organization_name": "X",
            "currency": "USD",
            "time_zone": "UTC",
            "username": "alice",
            "password": "1",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "taken" in form.errors["username"][0]
    assert form.errors["password"]
    assert not Organization.objects.filter(name="X").exists()


def test_owner_invites_a_new_user_with_a_one_time_password_shown_once(
    signed_in: Client, organization: Organization
) -> None:
    response = signed_in.post(reverse("account:members"), {"identifier": "bob@example.com", "role": "viewer"})
    assert response.status_code == 200
    one_time = response.context["one_time"]
    assert one_time["username"] == "bob" and one_time["password"] in response.content.decode()
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password(one_time["password"]) and bob.email == "bob@example.com"
    assert Membership.objects.get(user=bob, organization=organization).role == "viewer"
    assert one_time["password"] not in signed_in.get(reverse("account:members")).content.decode()


def test_inviting_an_existing_user_adds_them_and_the_last_owner_stays(
    signed_in: Client, organization: Organization, user: Any
) -> None:
    get_user_model().objects.create_user("carol", "carol@example.com", "pw")
    response = signed_in.post(
        reverse("account:members"), {"identifier": "CAROL@example.com", "role": "editor"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="carol").role == "editor"
    own = Membership.objects.get(user=user, organization=organization)
    signed_in.post(reverse("account:member_role", args=[own.pk]), {"role": "viewer"})
    assert Membership.objects.get(pk=own.pk).role == "owner"  # an organisation keeps an owner


def test_viewers_cannot_invite(client: Client, organization: Organization) -> None:
    viewer = get_user_model().objects.create_user("vic", password="pw")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    assert client.post(reverse("account:members"), {"identifier": "x", "role": "owner"}).status_code == 403


def test_api_key_is_shown_once_then_revoked(signed_in: Client, organization: Organization) -> None:
    response = signed_in.post(reverse("account:api_keys"), {"name": "billing", "scopes": ["read", "ingest"]})
    plain = response.context["plain_key"]
    key = api_key_verify(key=plain)
    assert key is not None and key.organization == organization and key.scopes == ["read", "ingest"]
    assert plain not in signed_in.get(reverse("account:api_keys")).content.decode()
    signed_in.post(reverse("account:api_key_revoke", args=[key.pk]))
    assert api_key_verify(key=plain) is None
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


# --- Scenario editor -------------------------------------------------------------------------------


def test_editor_shows_every_input_of_the_product(signed_in: Client, scenario: Scenario) -> None:
    html = signed_in.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    for text in ("Free", "Pro", "Chat", "Agent", "openai/gpt-4o-mini", "median 40.0", "Response cache 30%"):
        assert text in html


def test_scenario_settings_errors_come_back_on_the_field(signed_in: Client, scenario: Scenario) -> None:
    data = {
        "name": "Baseline",
        "horizon_months": 99,
        "simulated_users": 20_000,
        "price_date": "2026-11-01",
        "price_trend_yearly": -30,
        "usage_growth_monthly": 0,
        "discount_rate_yearly": 10,
        "target_margin": 50,
    }
    response = signed_in.post(reverse("scenarios:editor", args=[scenario.pk]), data)
    assert response.status_code == 400
    assert response.context["scenario_form"].errors["horizon_months"]
    assert 'id="id_horizon_months_error"' in response.content.decode()
    data["horizon_months"] = 24
    assert signed_in.post(reverse("scenarios:editor", args=[scenario.pk]), data).status_code == 302
    scenario.refresh_from_db()
    assert scenario.horizon_months == 24


def test_workload_model_mix_is_validated_by_the_service(
    signed_in: Client, scenario: Scenario, priced_models: Any
) -> None:
    workload = scenario.product.workloads.get(name="Chat")
    url = reverse("scenarios:workload_edit", args=[scenario.pk, workload.pk])
    data = {
        "name": "Chat",
        "credits_per_request": 1,
        "input_tokens_median": 800,
        "input_tokens_p90": 3000,
        "output_tokens_median": 300,
        "output_tokens_p90": 1200,
        "prompt_cache_share": 0,
        "prompt_cache_write_share": 0,
        "response_cache_hit_rate": 0,
        "batch_share": 0,
        "distillation": 0,
        "mix_0_model": "openai/gpt-4o",
        "mix_0_share": 50,
        "mix_1_model": "nope/none",
        "mix_1_share": 20,
    }
    response = signed_in.post(url, data)
    assert response.status_code == 400
    assert "not a catalog model" in response.context["form"].errors["mix_1_model"][0]
    data["mix_1_model"] = "openai/gpt-4o-mini"
    response = signed_in.post(url, data)
    assert response.status_code == 400
    assert "sum" in " ".join(response.context["form"].errors["mix_0_model"]).lower()
    data["mix_1_share"] = 50
    assert signed_in.post(url, data).status_code == 302
    assert sorted(workload.model_mix.values_list("share", flat=True)) == [0.5, 0.5]


def test_usage_form_saves_a_gamma_and_reports_errors_per_field(signed_in: Client, scenario: Scenario) -> None:
    tier = scenario.tiers.get(name="Pro")
    workload = scenario.product.workloads.get(name="Chat")
    url = reverse("scenarios:usage_edit", args=[scenario.pk, tier.pk, workload.pk])
    response = signed_in.post(url, {"kind": "lognormal", "median": 50, "p90": 10})
    assert response.status_code == 400 and "below the median" in response.context["form"].errors["p90"][0]
    assert signed_in.post(url, {"kind": "gamma", "mean": 30, "shape": 0.7}).status_code == 302
    distribution = UsageDistribution.objects.get(tier=tier, workload=workload)
    assert (distribution.kind, distribution.mean, distribution.shape) == ("gamma", 30, 0.7)


def test_duplicate_copies_the_scenario_with_its_levers_and_seed(
    signed_in: Client, scenario: Scenario
) -> None:
    response = signed_in.post(reverse("scenarios:duplicate", args=[scenario.pk]))
    copy = Scenario.objects.get(name="Baseline (copy)")
    assert response["Location"] == reverse("scenarios:editor", args=[copy.pk])
    assert (copy.levers, copy.seed, copy.product_id) == (scenario.levers, scenario.seed, scenario.product_id)
    signed_in.post(reverse("scenarios:duplicate", args=[scenario.pk]))
    assert Scenario.objects.filter(name="Baseline (copy 2)").exists()


def test_levers_are_added_and_removed(signed_in: Client, scenario: Scenario) -> None:
    url = reverse("scenarios:lever_add", args=[scenario.pk])
    response = signed_in.post(url, {"label": "Route half", "routing_model": "openai/gpt-4o-mini"})
    assert response.status_code == 400 and response.context["lever_form"].errors["routing_share"]
    signed_in.post(url, {"label": "Route half", "routing_model": "openai/gpt-4o-mini", "routing_share": 50})
    scenario.refresh_from_db()
    assert scenario.levers[-1]["key"] == "route-half" and scenario.levers[-1]["routing_share"] == 0.5
    signed_in.post(reverse("scenarios:lever_delete", args=[scenario.pk, "route-half"]))
    scenario.refresh_from_db()
    assert [lever["key"] for lever in scenario.levers] == ["cache"]


def test_a_plan_lever_is_added_from_the_editor_for_chosen_tiers(
    signed_in: Client, scenario: Scenario
) -> None:
    url = reverse("scenarios:lever_add", args=[scenario.pk])
    pro = scenario.tiers.get(name="Pro")
    both = signed_in.post(url, {"label": "Both fees", "tiers": [pro.pk], "fee": 25, "fee_scale": 1.2})
    assert both.status_code == 400 and both.context["lever_form"].errors["fee_scale"]
    stranger = signed_in.post(url, {"label": "Cap", "tiers": [pro.pk + 10_000], "hard_cap": 400})
    assert stranger.status_code == 400 and stranger.context["lever_form"].errors["tiers"]
    response = signed_in.post(url, {"label": "Pro at $25", "tiers": [pro.pk], "fee": 25, "hard_cap": 400})
    assert response.status_code == 302
    scenario.refresh_from_db()
    assert scenario.levers[-1] == {
        "key": "pro-at-25",
        "label": "Pro at $25",
        "tiers": [pro.pk],
        "fee": 25.0,
        "hard_cap": 400.0,
    }
    editor = signed_in.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    assert "Pro at $25" in editor and "fee set to $25.00, cap 400 credits" in editor


def test_segments_are_added_edited_given_usage_and_removed_from_the_editor(
    signed_in: Client, scenario: Scenario, other_client: Client
) -> None:
    pro = scenario.tiers.get(name="Pro")
    agent = scenario.product.workloads.get(name="Agent")
    add = reverse("scenarios:segment_add", args=[scenario.pk])
    bad = signed_in.post(add, {"tier": pro.pk, "name": "Agentic", "share": 150})
    assert bad.status_code == 400 and bad.context["form"].errors["share"]
    assert signed_in.post(add, {"tier": pro.pk, "name": "Chat", "share": 85}).status_code == 302
    assert signed_in.post(add, {"tier": pro.pk, "name": "Agentic", "share": 10}).status_code == 302
    taken = signed_in.post(add, {"tier": pro.pk, "name": "Chat", "share": 5})
    assert taken.status_code == 400 and taken.context["form"].errors["name"]
    agentic = Segment.objects.get(tier=pro, name="Agentic")
    editor = signed_in.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    assert "segment shares sum to 0.95, not 1" in editor  # said before a run refuses it
    assert "Pro · Agentic" in editor and "the tier's" in editor

    edit = reverse("scenarios:segment_edit", args=[scenario.pk, agentic.pk])
    assert signed_in.post(edit, {"name": "Agentic", "share": 15}).status_code == 302
    agentic.refresh_from_db()
    assert agentic.share == 0.15
    editor = signed_in.get(reverse("scenarios:editor", args=[scenario.pk])).content.decode()
    assert "not 1" not in editor

    usage = reverse("scenarios:segment_usage_edit", args=[scenario.pk, agentic.pk, agent.pk])
    response = signed_in.get(usage)
    assert "uses the tier's, shown below" in response.content.decode()
    tier_usage = UsageDistribution.objects.get(tier=pro, workload=agent, segment__isnull=True)
    starts_from = response.context["form"]
    assert not starts_from.instance.pk  # nothing saved yet: the segment still uses the tier's
    assert (starts_from["kind"].value(), starts_from["median"].value(), starts_from["p90"].value()) == (
        tier_usage.kind,
        tier_usage.median,
        tier_usage.p90,
    )
    saved = signed_in.post(usage, {"kind": "lognormal", "median": 40, "p90": 150})
    assert saved.status_code == 302
    own = UsageDistribution.objects.get(segment=agentic, workload=agent)
    assert (own.tier_id, own.median, own.p90) == (pro.pk, 40.0, 150.0)
    assert UsageDistribution.objects.get(tier=pro, workload=agent, segment__isnull=True).median == 1.0
    assert other_client.get(usage).status_code == 404  # another organisation's segment
    live_pro = pro.live_tier
    assert live_pro is not None
    live_segment = Segment.objects.create(tier=live_pro, name="Live", share=1.0)
    foreign = reverse("scenarios:segment_edit", args=[scenario.pk, live_segment.pk])
    assert signed_in.get(foreign).status_code == 404  # not this scenario's plan
    assert signed_in.post(usage, {"use_tier": "1"}).status_code == 302
    assert not UsageDistribution.objects.filter(segment=agentic).exists()

    signed_in.post(reverse("scenarios:segment_delete", args=[scenario.pk, agentic.pk]))
    assert list(Segment.objects.filter(tier=pro).values_list("name", flat=True)) == ["Chat"]


def test_cost_estimate_prices_the_medians_with_the_calculator(signed_in: Client, scenario: Scenario) -> None:
    query: dict[str, Any] = {
        "price_date": "2026-11-01",
        "input_tokens_median": 1_000_000,
        "output_tokens_median": 0,
        "model": ["openai/gpt-4o", "openai/unknown"],
        "share": ["50", "50"],  # percent, as the workload form shows them
    }
    body = signed_in.get(reverse("scenarios:estimate"), query).json()
    gpt4o = body["models"][0]
    assert gpt4o["cost_per_request"] == pytest.approx(2.5)  # $2.50 per million input tokens
    assert body["models"][1]["error"] and body["cost_per_request"] is None


def test_usage_preview_gives_the_quantiles(signed_in: Client) -> None:
    body = signed_in.get(
        reverse("scenarios:usage_preview"), {"kind": "lognormal", "median": "10", "p90": "80"}
    ).json()
    assert body["p50"] == pytest.approx(10) and body["p90"] == pytest.approx(80)
    assert body["p99"] > body["p90"] and len(body["density"]["x"]) == 40
    bad = signed_in.get(reverse("scenarios:usage_preview"), {"kind": "lognormal", "median": "10", "p90": "5"})
    assert bad.status_code == 400 and "p90" in bad.json()["errors"]


# --- Runs ----------------------------------------------------------------------------------------------


def test_results_page_has_summary_cards_and_chart_data(
    signed_in: Client, finished_run: SimulationRun
) -> None:
    response = signed_in.get(reverse("runs:detail", args=[finished_run.pk]))
    html = response.content.decode()
    assert "of Pro users are underwater" in html and "95% simulation interval" in html
    charts = response.context["charts"]
    pro = next(t for t in charts["tiers"] if t["key"] == "Pro")
    assert pro["price"] == 20.0 and len(pro["percentiles"]["cogs"]) == 5
    assert sum(pro["histogram"]["share"]) == pytest.approx(1.0)
    assert [lever["label"] for lever in pro["levers"]] == ["Baseline", "Response cache 30%"]
    assert 'id="chart-data"' in html and "vendor/plotly/plotly.min.js" in html


def test_results_page_has_a_lever_table_per_tier_and_a_segment_table(
    signed_in: Client, scenario: Scenario
) -> None:
    pro = scenario.tiers.get(name="Pro")
    tier_update(tier=pro, data={"included_credits": 600.0, "hard_cap_credits": 600.0})
    segment_create(tier=pro, name="Chatters", share=0.85)
    agentic = segment_create(tier=pro, name="Agentic", share=0.15)
    agent = scenario.product.workloads.get(name="Agent")
    usage_distribution_set(
        tier=pro, workload=agent, segment=agentic, kind="lognormal", median=40.0, p90=150.0
    )
    scenario_lever_add(
        scenario=scenario, label="Pro capped at 400", tiers=[pro.pk], changes={"hard_cap": 400.0}
    )
    run = run_execute(run=run_create(scenario=scenario))
    response = signed_in.get(reverse("runs:detail", args=[run.pk]))
    html = response.content.decode()
    rows = response.context["lever_rows"]
    assert [(row["tier"], row["lever"]) for row in rows] == [
        (tier, lever) for tier in ("Free", "Pro") for lever in ("Response cache 30%", "Pro capped at 400")
    ]
    assert 'id="lever-table"' in html and "cap 400 credits" in html
    assert html.count(
        "<tr", html.index('id="lever-table"'), html.index("</table>", html.index('id="lever-table"'))
    ) == 1 + len(rows)
    assert "Segments: who is underwater" in html and "Agentic" in html and "Chatters" in html
    assert "“Agentic” users" in html  # the Pro sentence names the underwater segment
    table = html[html.index('id="segments"') : html.index("</table>", html.index('id="segments"'))]
    for segment in response.context["segment_rows"]:
        row = table[table.index(f"<td>{segment['key']}</td>") :].split("</tr>")[0]
        if segment["underwater"]["share"] > 0:
            assert ">never<" not in row, row  # never "never" beside underwater users
    chatters = next(s for s in response.context["segment_rows"] if s["key"] == "Chatters")
    assert chatters["underwater"]["share"] > 0 and chatters["break_even"]["kind"] == "none"  # the case above


def test_exports_give_csv_and_json(signed_in: Client, finished_run: SimulationRun) -> None:
    as_json = signed_in.get(reverse("runs:export", args=[finished_run.pk, "json"]))
    assert json.loads(as_json.content) == finished_run.results
    rows = list(
        csv.DictReader(
            io.StringIO(signed_in.get(reverse("runs:export", args=[finished_run.pk, "csv"])).content.decode())
        )
    )
    assert [r["tier"] for r in rows] == ["Free", "Pro"]
    assert float(rows[1]["underwater_share"]) == finished_run.results["tiers"][1]["underwater"]["share"]


def test_progress_json_reports_a_finished_run(signed_in: Client, finished_run: SimulationRun) -> None:
    body = signed_in.get(reverse("runs:progress", args=[finished_run.pk])).json()
    assert body["finished"] and body["fraction"] == 1.0 and body["status"] == "succeeded"


def test_compare_shows_scenarios_side_by_side(
    signed_in: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    other = Scenario.objects.create(product=scenario.product, name="Variant", seed=1, simulated_users=20_000)
    response = signed_in.get(reverse("runs:compare"), {"scenario": [scenario.pk, other.pk]})
    columns = response.context["columns"]
    assert [c["scenario"].name for c in columns] == ["Baseline", "Variant"]
    assert columns[0]["run"] == finished_run and columns[1]["run"] is None
    assert len(response.context["series"]) == 1


def test_dashboard_shows_headline_figures_within_a_query_budget(
    signed_in: Client, finished_run: SimulationRun, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(12):
        html = signed_in.get(reverse("dashboard")).content.decode()
    assert "Baseline" in html and "sparkline" in html
    assert f"{(finished_run.results or {})['total']['gross_margin_pct']:.1f}%" in html


@pytest.mark.parametrize("name", ["editor", "results", "compare", "actuals"])
def test_pages_stay_within_a_query_budget(
    name: str,
    signed_in: Client,
    finished_run: SimulationRun,
    scenario: Scenario,
    django_assert_max_num_queries: Any,
) -> None:
    url = {
        "editor": reverse("scenarios:editor", args=[scenario.pk]),
        "results": reverse("runs:detail", args=[finished_run.pk]),
        "compare": reverse("runs:compare") + f"?scenario={scenario.pk}",
        "actuals": reverse("actuals:index"),
    }[name]
    with django_assert_max_num_queries(16):
        assert signed_in.get(url).status_code == 200


def test_other_organisations_objects_are_404(
    other_client: Client, finished_run: SimulationRun, scenario: Scenario
) -> None:
    assert other_client.get(reverse("scenarios:editor", args=[scenario.pk])).status_code == 404
    assert other_client.get(reverse("runs:detail", args=[finished_run.pk])).status_code == 404
    assert other_client.get(reverse("runs:export", args=[finished_run.pk, "json"])).status_code == 404
    assert other_client.post(reverse("scenarios:run", args=[scenario.pk])).status_code == 404


def test_viewers_read_but_cannot_edit(client: Client, organization: Organization, scenario: Scenario) -> None:
    viewer = get_user_model().objects.create_user("vera", password="pw")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    assert client.get(reverse("scenarios:editor", args=[scenario.pk])).status_code == 200
    assert client.post(reverse("scenarios:duplicate", args=[scenario.pk])).status_code == 404


# --- Actuals -------------------------------------------------------------------------------------------


def _usage_csv(scenario: Scenario, rows: int = 6, *, bad: bool = False) -> bytes:
    now = timezone.now().replace(microsecond=0)
    lines = ["event_id,customer,tier,timestamp,model,workload,input_tokens,output_tokens,requests"]
    for i in range(rows):
        tier = "Pro" if i % 3 else "Free"
        tokens = 20_000_000 if i == 1 else 1000 * (i + 1)
        stamp = (now - dt.timedelta(hours=i)).isoformat()
        lines.append(f"e{i},cust-{i % 3},{tier},{stamp},openai/gpt-4o,Chat,{tokens},{tokens // 4},{i + 1}")
    if bad:
        lines.append(f"bad,cust-x,Platinum,{now.isoformat()},openai/gpt-4o,Chat,ten,1,1")
    return "\n".join(lines).encode()


def test_upload_shows_errors_per_line_and_writes_nothing(signed_in: Client, scenario: Scenario) -> None:
    upload = SimpleUploadedFile("usage.csv", _usage_csv(scenario, bad=True), content_type="text/csv")
    response = signed_in.post(reverse("actuals:upload"), {"file": upload})
    assert response.status_code == 400
    errors = {(e.line, e.field) for e in response.context["row_errors"]}
    assert errors == {(8, "input_tokens"), (8, "tier")}
    assert "Platinum" in response.content.decode()


def test_upload_then_customers_by_margin_and_fitted_usage(signed_in: Client, scenario: Scenario) -> None:
    upload = SimpleUploadedFile("usage.csv", _usage_csv(scenario, rows=9), content_type="text/csv")
    response = signed_in.post(reverse("actuals:upload"), {"file": upload}, follow=True)
    assert "9 new records" in response.content.decode()
    page = signed_in.get(reverse("actuals:index"))
    customers = page.context["customers"]
    assert {c.external_id for c in customers} == {"cust-0", "cust-1", "cust-2"}
    assert [c.external_id for c in customers if c.underwater] == ["cust-1"]  # the heavy Pro customer
    assert customers[0].external_id == "cust-1" and 'class="underwater"' in page.content.decode()
    fits = dict(page.context["fits"])  # fit -> the plans it can be written to
    pro_chat = next(f for f in fits if (f.tier_name, f.workload_name) == ("Pro", "Chat"))
    assert fits[pro_chat] == [
        ("live", "Live plan (template of new scenarios)"),
        (str(scenario.pk), "Scenario “Baseline”"),
    ]
    period = page.context["period"]
    stand_in = scenario.tiers.get(live_tier_id=pro_chat.tier_id)
    fit_use = {"tier": pro_chat.tier_id, "workload": pro_chat.workload_id, "period": period.isoformat()}
    before = {u.pk: u.kind for u in UsageDistribution.objects.all()}
    # No target: refused, nothing written (the fit never goes to several plans at once).
    signed_in.post(reverse("actuals:fit_use"), fit_use)
    assert {u.pk: u.kind for u in UsageDistribution.objects.all()} == before
    signed_in.post(reverse("actuals:fit_use"), {**fit_use, "target": str(scenario.pk)})
    written = UsageDistribution.objects.get(tier=stand_in, workload_id=pro_chat.workload_id)
    assert written.kind == "gamma" and written.mean == pytest.approx(pro_chat.fit.mean)
    assert (
        UsageDistribution.objects.get(tier_id=pro_chat.tier_id, workload_id=pro_chat.workload_id).kind
        == "lognormal"
    )
    signed_in.post(reverse("actuals:fit_use"), {**fit_use, "target": "live"})
    distribution = UsageDistribution.objects.get(tier_id=pro_chat.tier_id, workload_id=pro_chat.workload_id)
    assert distribution.kind == "gamma" and distribution.mean == pytest.approx(pro_chat.fit.mean)


# --- Presentation helpers ------------------------------------------------------------------------------


def test_histogram_rebinning_keeps_the_mass_and_the_sign() -> None:
    edges = [-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0]
    counts = [1, 2, 3, 4, 5, 6]
    bars = histogram_rebinned(edges, counts, bars=50)
    assert sum(bars["share"]) == pytest.approx(1.0)
    negative = sum(s for x, s in zip(bars["x"], bars["share"], strict=True) if x < 0)
    assert negative == pytest.approx(6 / 21)  # zero is a bar edge: no bar mixes loss and profit


def test_members_of_several_organisations_switch_from_the_header(
    signed_in: Client, user: Any, organization: Organization
) -> None:
    assert 'id="org-switch"' not in signed_in.get(reverse("dashboard")).content.decode()  # one only
    second = OrganizationFactory.create(name="Beta Labs", slug="beta-labs")
    MembershipFactory.create(user=user, organization=second)
    page = signed_in.get(reverse("dashboard")).content.decode()
    assert 'id="org-switch"' in page
    assert f'<option value="{organization.slug}" selected>' in page
    switched = signed_in.get(reverse("dashboard"), {"org": "beta-labs"})
    assert switched.context["membership"].organization == second
    assert '<option value="beta-labs" selected>Beta Labs</option>' in switched.content.decode()
    # The choice sticks for the next page without ?org=.
    assert signed_in.get(reverse("dashboard")).context["membership"].organization == second


def test_correlation_pairs_are_set_and_emptied_back_to_the_default(
    signed_in: Client, scenario: Scenario
) -> None:
    from planner.products.models import WorkloadCorrelation

    a, b = list(scenario.product.workloads.order_by("position", "id"))[:2]
    url = reverse("scenarios:correlation", args=[scenario.pk])
    field = f"rho_{a.pk}_{b.pk}"
    assert signed_in.post(url, {"default_correlation": "0.8", field: "0.3"}).status_code == 302
    assert WorkloadCorrelation.objects.get().rho == 0.3
    editor = signed_in.get(reverse("scenarios:editor", args=[scenario.pk]))
    assert editor.context["correlation_form"][field].value() == 0.3
    assert signed_in.post(url, {"default_correlation": "0.8", field: ""}).status_code == 302
    assert not WorkloadCorrelation.objects.exists()
