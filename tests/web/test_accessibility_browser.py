"""Accessibility in the browser (issue 19): axe-core (axe-playwright-python) on every page of
docs/WEB.md with the demo as ``seed_demo`` leaves it (finished runs, alerts measured), plus a
decision, a replay, a price sheet, a self-hosted deployment, an alert channel and an ingestion
error made through the services: no violation of impact "serious" or "critical". Each page is
screenshotted to data/test-artifacts/web/a11y-<page>.png. Then the scenario editor's tier and
lever forms are filled with the keyboard only.

The jobs (decision, replay) run in this process the way workers run them: the pages read only
what a finished job stored, so no Celery worker is needed to look at them.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.compat.models import IngestionError
from planner.actuals.models import Customer
from planner.actuals.replay_jobs import replay_start
from planner.actuals.selectors import usage_periods
from planner.alerts.channels import alert_channel_create
from planner.alerts.models import AlertRule
from planner.celery import app
from planner.devtools import demo_runs
from planner.devtools.demo import (
    CAPPED_SCENARIO_NAME,
    DEMO_PASSWORD,
    DEMO_PRODUCT_NAME,
    DEMO_SCENARIO_NAME,
    DEMO_USERNAME,
)
from planner.prices.sheets import price_sheet_create
from planner.products.segments import segment_create
from planner.products.selectors import live_tiers
from planner.simulation import runs
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.optimizations import ConstraintRequest, VaryRequest, optimization_start
from planner.simulation.plans import scenario_tiers
from pricing.models import AIModel
from tests.simulation.test_optimization_jobs import execute_like_workers
from tests.web.test_browser import chromium, page, shot, sign_in  # noqa: F401  (fixtures)
from tests.web.test_price_pages import deployment_for

pytestmark = pytest.mark.django_db(transaction=True)

#: What this test fails on; "moderate" and "minor" findings are reported by axe but not pinned.
BLOCKING_IMPACTS = ("serious", "critical")

#: A page is ready for axe when every chart is drawn (Plotly keeps its traces on the element),
#: or, for the usage preview, when it says why it has nothing to draw (a usage not set yet).
CHARTS_DRAWN = """() => [...document.querySelectorAll('.chart, .sparkline')].every(el =>
  el.data !== undefined
  || (el.id === 'chart-usage-preview'
      && document.getElementById('preview-figures').textContent.trim() !== ''))"""


def _demo_pages(organization: Organization) -> list[tuple[str, str]]:
    """(name, URL) of every page of docs/WEB.md, with the objects each needs made cheaply."""
    baseline = Scenario.objects.get(product__name=DEMO_PRODUCT_NAME, name=DEMO_SCENARIO_NAME)
    capped = Scenario.objects.get(product__name=DEMO_PRODUCT_NAME, name=CAPPED_SCENARIO_NAME)
    product = baseline.product
    workload = product.workloads.order_by("position").first()
    assert workload is not None
    pro = scenario_tiers(baseline).get(name="Pro")
    live_pro = live_tiers(product).get(name="Pro")
    run = SimulationRun.objects.filter(scenario=baseline, kind="run", status="succeeded").latest("pk")
    demo_scenarios = Scenario.objects.filter(product=product).order_by("pk")
    compare = reverse("runs:compare") + "?" + "&".join(f"scenario={s.pk}" for s in demo_scenarios)

    decision = optimization_start(
        scenario=baseline,
        tier="Pro",
        vary=[VaryRequest("cap", 0, 3000, 1)],
        constraints=[ConstraintRequest("underwater_share", max=0.05)],
        users=5_000,
    )
    execute_like_workers(decision)
    first, last = sorted(usage_periods(organization=organization))[:2]
    replay = replay_start(organization=organization, scenario=capped, period_from=first, period_to=last)
    runs.chunk_execute(run_id=replay.pk, blocks=list(range(replay.blocks_total)), worker="test:1")
    runs.run_merge(run_id=replay.pk)
    app.control.purge()  # the tasks enqueued on commit: their work is done

    customer = Customer.objects.filter(organization=organization).order_by("external_id").first()
    assert customer is not None
    sheet = price_sheet_create(
        organization=organization, name="Negotiated", effective_from=dt.date(2026, 1, 1)
    )
    deployment = deployment_for(organization)
    channel, _ = alert_channel_create(
        organization=organization, name="Ops webhook", kind="webhook", url="http://127.0.0.1:9/hook"
    )
    rule = AlertRule.objects.filter(organization=organization).order_by("pk").first()
    assert rule is not None
    rule.channels.add(channel)
    IngestionError.objects.create(
        organization=organization,
        vendor="stripe",
        received_at=timezone.now(),
        event_key="evt_1",
        customer="cus_A",
        field="payload[model]",
        reason="No model 'acme/unknown' in the price catalog.",
        payload={"event_name": "llm_tokens"},
    )
    catalog_model = AIModel.objects.order_by("pk").first()
    assert catalog_model is not None
    # The demo has no segments: one on the capped plan's Pro opens the segment pages.
    segment = segment_create(tier=scenario_tiers(capped).get(name="Pro"), name="Heavy users", share=0.2)

    s, w = baseline.pk, workload.pk
    return [
        ("dashboard", reverse("dashboard")),
        ("scenario-editor", reverse("scenarios:editor", args=[s])),
        ("scenario-tier", reverse("scenarios:tier_edit", args=[s, pro.pk])),
        ("scenario-usage", reverse("scenarios:usage_edit", args=[s, pro.pk, w])),
        ("scenario-delete", reverse("scenarios:delete", args=[s])),
        ("product-delete", reverse("scenarios:product_delete", args=[s])),
        ("workload-edit", reverse("scenarios:workload_edit", args=[s, w])),
        ("workload-override", reverse("scenarios:workload_override", args=[s, w])),
        ("scenario-editor-segments", reverse("scenarios:editor", args=[capped.pk])),
        ("segment-edit", reverse("scenarios:segment_edit", args=[capped.pk, segment.pk])),
        ("segment-usage", reverse("scenarios:segment_usage_edit", args=[capped.pk, segment.pk, w])),
        ("product-new", reverse("scenarios:product_new")),
        ("guided-plan", reverse("scenarios:guided_plan")),
        ("guided-workloads", reverse("scenarios:guided_workloads", args=[s])),
        ("guided-usage", reverse("scenarios:guided_usage", args=[s])),
        ("guided-run", reverse("scenarios:guided_run", args=[s])),
        ("product", reverse("products:detail", args=[product.pk])),
        ("product-tier", reverse("products:tier_edit", args=[product.pk, live_pro.pk])),
        ("results", reverse("runs:detail", args=[run.pk])),
        ("compare", compare),
        ("decision", reverse("decisions:detail", args=[decision.pk])),
        ("actuals", reverse("actuals:index")),
        ("actuals-customers", reverse("actuals:customers")),
        ("actuals-customer", reverse("actuals:customer", args=[customer.pk])),
        ("replay-new", reverse("actuals:replay_new")),
        ("replay", reverse("actuals:replay", args=[replay.pk])),
        ("members", reverse("account:members")),
        ("api-keys", reverse("account:api_keys")),
        ("prices-catalog", reverse("prices:catalog")),
        ("prices-catalog-model", reverse("prices:catalog_model", args=[catalog_model.pk])),
        ("price-sheets", reverse("prices:sheet_list")),
        ("price-sheet-new", reverse("prices:sheet_create")),
        ("price-sheet", reverse("prices:sheet_detail", args=[sheet.pk])),
        ("price-sheet-edit", reverse("prices:sheet_edit", args=[sheet.pk])),
        ("self-hosted", reverse("prices:self_hosted_list")),
        ("self-hosted-new", reverse("prices:self_hosted_create")),
        ("self-hosted-detail", reverse("prices:self_hosted_detail", args=[deployment.pk])),
        ("self-hosted-edit", reverse("prices:self_hosted_edit", args=[deployment.pk])),
        ("alerts", reverse("alerts:rule_list")),
        ("alert-new", reverse("alerts:rule_create")),
        ("alert-history", reverse("alerts:rule_history", args=[rule.pk])),
        ("alert-edit", reverse("alerts:rule_edit", args=[rule.pk])),
        ("alert-channels", reverse("alerts:channel_list")),
        ("alert-channel-new", reverse("alerts:channel_create")),
        ("alert-channel", reverse("alerts:channel_detail", args=[channel.pk])),
        ("alert-channel-edit", reverse("alerts:channel_edit", args=[channel.pk])),
        ("integrations", reverse("integrations:index")),
        ("ingestion-errors", reverse("ingestion_errors")),
    ]


def _audit(
    page: Any,  # noqa: F811
    axe: Axe,
    name: str,
    url: str | None = None,
) -> list[str]:
    """Open ``url`` (else take the page as it is), wait for its charts, screenshot it and return
    its blocking violations, one line each: page, rule, impact, how many elements and the first
    targets."""
    if url is None:
        url = page.url.removeprefix(page.base)
    else:
        response = page.goto(page.base + url)
        assert response is not None and response.status == 200, (name, url, response and response.status)
    page.wait_for_function(CHARTS_DRAWN)
    shot(page, f"a11y-{name}")
    found = []
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] in BLOCKING_IMPACTS:
            targets = [", ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
            first = violation["nodes"][0]
            related = [
                ", ".join(map(str, r["target"]))
                for check in first["any"] + first["all"] + first["none"]
                for r in check.get("relatedNodes", [])[:2]
            ]
            if related:
                targets[0] += f" (with {' and '.join(related)})"
            found.append(
                f"{name} ({url}): {violation['id']} [{violation['impact']}] on "
                f"{len(violation['nodes'])} element(s), e.g. {' | '.join(targets)}: {violation['help']}"
            )
    return found


def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    page: Any,  # noqa: F811
    priced_models: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``priced_models``: the demo's three models priced (the whole catalog takes 12 s more)."""
    monkeypatch.setattr(demo_runs, "DEMO_RUN_USERS", 5_000)  # answers on every page, quickly
    call_command("seed_demo", stdout=StringIO())
    organization = Organization.objects.get(memberships__user__username=DEMO_USERNAME)
    pages = _demo_pages(organization)
    axe = Axe()

    violations = _audit(page, axe, "login", reverse("login"))
    violations += _audit(page, axe, "signup", reverse("account:signup"))
    sign_in(page, DEMO_USERNAME, DEMO_PASSWORD)
    for name, url in pages:
        violations += _audit(page, axe, name, url)

    # The workload's delete confirmation is the answer to the Delete button's POST when a
    # scenario depends on the workload (here: a lever naming it).
    baseline = Scenario.objects.get(product__name=DEMO_PRODUCT_NAME, name=DEMO_SCENARIO_NAME)
    workload = baseline.product.workloads.order_by("position").first()
    assert workload is not None
    baseline.levers = [
        *baseline.levers,
        {"key": "a11y", "label": "Cache it", "workloads": [workload.pk], "response_cache_hit_rate": 0.5},
    ]
    baseline.save()
    page.goto(page.base + reverse("scenarios:workload_edit", args=[baseline.pk, workload.pk]))
    page.get_by_role("button", name="Delete this workload").click()
    page.get_by_role("heading", name=f"Delete workload {workload.name}?").wait_for()
    violations += _audit(page, axe, "workload-delete")
    assert not violations, "axe found serious or critical violations:\n" + "\n".join(violations)


#: What the keyboard is on: its id, name, text and whether its focus ring shows.
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    id: el.id, name: el.getAttribute("name") || "", tag: el.tagName, text: (el.textContent || "").trim(),
    outline: `${style.outlineStyle} ${style.outlineWidth}`,
    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
  };
}"""


def _tab_to(
    page: Any,  # noqa: F811
    matches: Any,
    *,
    limit: int = 120,
) -> dict[str, Any]:
    """Press Tab until the focused element ``matches`` (a predicate on ``FOCUSED``), checking on
    the way that every element focused from the keyboard shows its focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["ring"], f"no visible focus ring on {focused}"
        if matches(focused):
            return focused
    pytest.fail(f"Tab never reached the element after {limit} presses")


def test_the_editor_s_tier_and_lever_forms_work_with_the_keyboard_only(
    page: Any,  # noqa: F811
    scenario: Scenario,
) -> None:
    """Tab, typing, Space and Enter only: add a tier "Enterprise", then a lever setting its fee."""
    sign_in(page)
    page.goto(page.base + reverse("scenarios:editor", args=[scenario.pk]))

    _tab_to(page, lambda f: f["tag"] == "A" and f["text"] == "+ Add tier")
    page.keyboard.press("Enter")
    page.wait_for_url("**/tiers/new/")
    for name, text in (("name", "Enterprise"), ("monthly_fee", "99"), ("subscribers", "40")):
        _tab_to(page, lambda f, name=name: f["name"] == name)
        page.keyboard.type(text)
    _tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Save tier")
    page.keyboard.press("Enter")
    page.get_by_text("Tier “Enterprise” saved.").wait_for()
    assert page.locator("#tiers").get_by_text("Enterprise", exact=True).is_visible()
    enterprise = scenario_tiers(scenario).get(name="Enterprise")
    assert (enterprise.monthly_fee, enterprise.subscribers) == (99, 40)

    _tab_to(page, lambda f: f["tag"] == "SUMMARY" and f["text"] == "Add a lever")
    page.keyboard.press("Space")  # opens the form
    _tab_to(page, lambda f: f["name"] == "label")
    page.keyboard.type("Enterprise at $120")
    checkbox = page.locator("#levers").get_by_label("Enterprise", exact=True).get_attribute("id")
    _tab_to(page, lambda f: f["id"] == checkbox)
    page.keyboard.press("Space")
    _tab_to(page, lambda f: f["name"] == "fee")
    page.keyboard.type("120")
    _tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Add lever")
    page.keyboard.press("Enter")
    page.get_by_text("fee set to $120.00 on Enterprise").wait_for()
    scenario.refresh_from_db()
    lever = scenario.levers[-1]
    assert (lever["label"], lever["tiers"], float(lever["fee"])) == (
        "Enterprise at $120",
        [enterprise.pk],
        120.0,
    )
