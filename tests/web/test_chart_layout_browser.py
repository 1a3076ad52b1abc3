"""Charts read cleanly in a real browser (issue 19, "Charts"): the lever chart's ticks are equal
round steps, compare's category labels stay inside their chart, the break-even label stays inside
the percentile plot, and every non-empty bin of the histogram's loss tail is visible. Measured on
what Chromium draws (plotly's SVG and its computed axes).

One browser session for the module: a copy of the demo's Baseline named with 39 characters, its
Pro at $3 (break-even near p50, a long loss tail) and its Team renamed to 39 characters, is run in
this process; its results page and the compare page (at a small laptop's width) are opened once.
The live server makes each test transactional (the database is emptied after it), so the pages
are loaded by the fixture and the tests only read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command

from planner.devtools.demo import (
    DEMO_PASSWORD,
    DEMO_PRODUCT_NAME,
    DEMO_SCENARIO_NAME,
    DEMO_USERNAME,
    demo_seed,
)
from planner.products.services import tier_update
from planner.simulation.models import Scenario
from planner.simulation.runs import run_create, run_execute
from planner.simulation.scenarios import scenario_duplicate, scenario_update
from tests.web.test_browser import chromium, shot, sign_in  # noqa: F401  (fixture)

LONG_SCENARIO = "Cheap Pro for students at three dollars"
LONG_TIER = "Team plan for schools and research labs"
USERS = 5_000  # enough for a histogram with a long loss tail, quick on two cores
ROUND_MANTISSAS = (1.0, 2.0, 2.5, 5.0)

#: Bounding boxes (client pixels) and texts of the elements under ``root`` matching ``selector``.
BOXES = """([root, selector]) => [...document.querySelector(root).querySelectorAll(selector)].map(e => {
  const r = e.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: e.textContent};
})"""


@pytest.fixture(scope="module")
def pages(chromium: Any, live_server: Any, django_db_setup: Any, django_db_blocker: Any) -> Iterator[Any]:  # noqa: F811
    """The results page (tier Pro) and the compare page of the variant, drawn, in one browser."""
    try:
        with django_db_blocker.unblock():
            demo_seed()
            baseline = Scenario.objects.get(product__name=DEMO_PRODUCT_NAME, name=DEMO_SCENARIO_NAME)
            students = scenario_duplicate(scenario=baseline, name=LONG_SCENARIO)
            cache_only = [
                lever for lever in students.levers if lever["key"] == "response-cache"
            ]  # one is enough
            scenario_update(
                scenario=students, data={"simulated_users": USERS, "horizon_months": 3, "levers": cache_only}
            )
            tier_update(tier=students.tiers.get(name="Pro"), data={"monthly_fee": Decimal("3")})
            tier_update(tier=students.tiers.get(name="Team"), data={"name": LONG_TIER})
            run = run_execute(run=run_create(scenario=students))
            context = chromium.new_context(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            results = context.new_page()
            results.set_default_timeout(20_000)
            results.on("pageerror", lambda error: errors.append(str(error)))
            results.base = live_server.url
            sign_in(results, DEMO_USERNAME, DEMO_PASSWORD)
            results.goto(f"{live_server.url}/runs/{run.pk}/")
            results.select_option("#tier-picker", label="Pro")
            results.wait_for_function(
                "() => (document.getElementById('chart-levers') || {}).data !== undefined"
            )
            compare = context.new_page()
            compare.set_viewport_size({"width": 1024, "height": 768})  # a small laptop: charts are narrow
            compare.on("pageerror", lambda error: errors.append(str(error)))
            compare.goto(f"{live_server.url}/runs/compare/?scenario={students.pk}")
            compare.wait_for_function(
                "() => (document.getElementById('chart-compare-underwater') || {}).data !== undefined"
            )
        yield SimpleNamespace(results=results, compare=compare)
        for name, page in (("results", results), ("compare", compare)):
            shot(page, f"chart-layout-{name}")
        context.close()
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        with django_db_blocker.unblock():  # as a transactional test leaves it, also if set-up failed
            call_command("flush", interactive=False, verbosity=0)


def _settled(page: Any) -> Any:
    """``page`` in front with its charts drawn (two animation frames after any pending redraw)."""
    page.bring_to_front()
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return page


def _intersects(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def _inside(inner: dict[str, float], outer: dict[str, float], slack: float = 0.5) -> bool:
    return (
        inner["left"] >= outer["left"] - slack
        and inner["right"] <= outer["right"] + slack
        and inner["top"] >= outer["top"] - slack
        and inner["bottom"] <= outer["bottom"] + slack
    )


def _plot_area(page: Any, chart: str) -> dict[str, float]:
    (area,) = page.evaluate(BOXES, [chart, ".draglayer .xy .nsewdrag"])
    return area


def test_lever_chart_ticks_are_equal_round_steps(pages: Any) -> None:
    page = _settled(pages.results)
    for axis in ("yaxis", "yaxis2"):
        values = page.evaluate(
            "axis => document.getElementById('chart-levers')._fullLayout[axis]._vals.map(v => v.x)", axis
        )
        assert len(values) >= 3, (axis, values)
        steps = [b - a for a, b in zip(values, values[1:], strict=False)]
        step = steps[0]
        assert all(math.isclose(s, step, rel_tol=1e-9) for s in steps), (axis, values)
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m, rel_tol=1e-9) for m in ROUND_MANTISSAS), (axis, values)


def test_compare_category_labels_stay_inside_their_chart(pages: Any) -> None:
    page = _settled(pages.compare)
    charts = page.evaluate("[...document.querySelectorAll('#compare-charts .chart')].map(e => e.id)")
    assert "chart-compare-underwater" in charts
    labels_seen = []
    for chart in charts:
        (svg,) = page.evaluate(BOXES, [f"#{chart}", ".main-svg:first-of-type"])
        labels = page.evaluate(BOXES, [f"#{chart}", ".xtick text, .ytick text"])
        assert labels, chart
        for label in labels:
            assert _inside(label, svg), (chart, label["text"], label, svg)
        labels_seen += [label["text"] for label in labels]
    # The 40-character tier is drawn whole (wrapped over lines, each a tspan).
    assert LONG_TIER.replace(" ", "") in [text.replace(" ", "") for text in labels_seen]


def test_compare_category_labels_are_wrapped_again_when_the_window_is_resized(pages: Any) -> None:
    """Plotly's responsive resize keeps the line breaks made for the old width; charts.js wraps
    the labels again for the new one (after a 150 ms pause in resizing): fewer lines on a wider
    window, and back to the first wrapping on the first size."""
    page = _settled(pages.compare)
    read = "() => document.getElementById('chart-compare-underwater').layout.xaxis.ticktext"
    width = "() => document.getElementById('chart-compare-underwater').clientWidth"
    narrow, narrow_width = page.evaluate(read), page.evaluate(width)
    try:
        page.set_viewport_size({"width": 1600, "height": 768})
        page.wait_for_function(f"old => JSON.stringify(({read})()) !== JSON.stringify(old)", arg=narrow)
        wide = page.evaluate(read)
        assert page.evaluate(width) > narrow_width
        assert max(text.count("<br>") for text in wide) < max(text.count("<br>") for text in narrow)
        _settled(page)
        (svg,) = page.evaluate(BOXES, ["#chart-compare-underwater", ".main-svg:first-of-type"])
        for label in page.evaluate(BOXES, ["#chart-compare-underwater", ".xtick text"]):
            assert _inside(label, svg), (label["text"], label, svg)
    finally:
        page.set_viewport_size({"width": 1024, "height": 768})
        page.wait_for_function(f"old => JSON.stringify(({read})()) === JSON.stringify(old)", arg=narrow)


def test_break_even_label_stays_inside_the_percentile_plot(pages: Any) -> None:
    page = _settled(pages.results)
    annotations = page.evaluate(BOXES, ["#chart-percentiles", ".infolayer .annotation"])
    (label,) = [a for a in annotations if "break-even" in a["text"]]
    area = _plot_area(page, "#chart-percentiles")
    # Inside the plot: clear of the y axis's labels on the left and of the x axis at the bottom.
    assert _inside(label, area), (label, area)
    for tick in page.evaluate(BOXES, ["#chart-percentiles", ".ytick text"]):
        assert not _intersects(label, tick), (label, tick)


def test_histogram_draws_every_non_empty_loss_bin_at_least_two_pixels_tall(pages: Any) -> None:
    page = _settled(pages.results)
    drawn = page.evaluate(
        """() => {
          const el = document.getElementById('chart-histogram');
          const traces = [...el.querySelectorAll('.barlayer .trace.bars')];
          return el.data.map((trace, i) => ({
            x: trace.x, y: trace.y, customdata: trace.customdata || null,
            heights: [...traces[i].querySelectorAll('.point path')]
              .map(p => p.getBoundingClientRect().height),
          }));
        }"""
    )
    shares, *stubs = drawn
    assert sum(shares["y"]) == pytest.approx(100.0, abs=1e-6)  # trace 0 holds the true shares
    tallest: dict[float, float] = {}
    for trace in drawn:
        assert len(trace["heights"]) == len(trace["x"])
        for x, height in zip(trace["x"], trace["heights"], strict=True):
            tallest[x] = max(tallest.get(x, 0.0), height)
    loss = [(x, y) for x, y in zip(shares["x"], shares["y"], strict=True) if x < 0 and y > 0]
    assert len(loss) >= 10, loss  # a long loss tail: the case this test is about
    short = [(x, y, tallest[x]) for x, y in loss if tallest[x] < 2.0]
    assert not short, f"loss bins drawn under 2 px (x, % of users, px): {short}"
    # What is drawn taller than its share still says the true share (hover and data).
    true_share = dict(zip(shares["x"], shares["y"], strict=True))
    for stub in stubs:
        assert stub["customdata"] == [true_share[x] for x in stub["x"]]
