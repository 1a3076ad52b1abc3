"""The web app and Swagger UI work under the Content-Security-Policy (docs/WEB.md): pages with
charts, the editor's live estimate and usage preview, chart downloads and the API docs render in
Chromium with no policy violation. Reuses the browser fixtures of test_browser.py."""

from __future__ import annotations

from typing import Any

import pytest

from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create

# chromium and page are the fixtures of test_browser.py.
from tests.web.test_browser import chromium, page, shot, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

# Chromium fires ``securitypolicyviolation`` on the document for every blocked script, style,
# image, connection or inline handler; the listener is in place before any page script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline")
    + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture
def violations(page: Any) -> list[str]:  # noqa: F811
    """The CSP violations ``page`` reports in the console; each document also records its own."""
    reported: list[str] = []

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            reported.append(message.text)

    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", console)
    return reported


def assert_no_violation(tab: Any, reported: list[str]) -> None:
    """No violation reported by the current document's event listener or the console so far."""
    tab.wait_for_timeout(200)  # reports are dispatched asynchronously
    reported += tab.evaluate("window.__cspViolations")
    assert not reported, reported


def test_pages_with_charts_render_under_the_policy(
    page: Any,  # noqa: F811
    violations: list[str],
    finished_run: SimulationRun,
) -> None:
    scenario = finished_run.scenario
    assert scenario is not None
    sign_in(page)
    page.wait_for_function("() => document.querySelector('.sparkline').data !== undefined")
    assert_no_violation(page, violations)

    page.goto(f"{page.base}/scenarios/{scenario.pk}/")
    page.get_by_role("button", name="Run simulation").wait_for()
    assert_no_violation(page, violations)
    workload = scenario.product.workloads.get(name="Chat")
    page.goto(f"{page.base}/scenarios/{scenario.pk}/workloads/{workload.pk}/")
    page.wait_for_function("() => document.getElementById('estimate').dataset.cost > 0")
    assert_no_violation(page, violations)
    tier = scenario.tiers.get(name="Pro")
    page.goto(f"{page.base}/scenarios/{scenario.pk}/usage/{tier.pk}/{workload.pk}/")
    page.wait_for_function("() => document.getElementById('chart-usage-preview').data !== undefined")
    assert_no_violation(page, violations)

    page.goto(f"{page.base}/runs/{finished_run.pk}/")
    page.wait_for_function("() => document.getElementById('chart-percentiles').data !== undefined")
    for format in ("png", "svg"):
        with page.expect_download() as download:
            page.locator(f"#chart-histogram + .chart-tools [data-download={format}]").click()
        assert download.value.suggested_filename.endswith(f".{format}")
    shot(page, "csp-run-results")
    assert_no_violation(page, violations)

    page.goto(f"{page.base}/runs/compare/?scenario={scenario.pk}")
    page.wait_for_function("() => document.getElementById('chart-compare-trajectory').data !== undefined")
    assert_no_violation(page, violations)


def test_progress_bar_is_drawn_by_script_under_the_policy(
    page: Any,  # noqa: F811
    violations: list[str],
    scenario: Scenario,
) -> None:
    run = run_create(scenario=scenario)
    SimulationRun.objects.filter(pk=run.pk).update(blocks_done=1)
    sign_in(page)
    page.goto(f"{page.base}/runs/{run.pk}/")
    bar = page.locator("#progress-bar")
    expected = round(float(bar.get_attribute("data-fraction") or "0") * 100)
    assert expected > 0
    assert page.locator("#progress-bar .fill").evaluate("el => el.style.width") == f"{expected}%"
    assert_no_violation(page, violations)


def test_swagger_ui_renders_its_operations_under_the_policy(
    page: Any,  # noqa: F811
    violations: list[str],
) -> None:
    page.goto(f"{page.base}/api/v1/docs/")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 10
    shot(page, "csp-swagger-ui")
    assert_no_violation(page, violations)
