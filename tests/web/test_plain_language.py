"""Plain language on the results page (issue 19): "simulation error", never "mc_error", and a
unit on every ±; the run badge follows the progress bar; lever labels used once and lever
errors in the form's words."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create

pytestmark = pytest.mark.django_db

#: A ± followed by a figure: money carries its currency symbol, points "pts", shares "%".
FIGURE_AFTER_PLUS_MINUS = re.compile(r"±\s*(?=[−\-]?[$€£\d])")
WITH_UNIT = re.compile(r"±\s*(?:[−\-]?[$€£][\d,.]+|[−\-]?[\d,.]+\s*(?:%|pts\b|requests\b))")


class _Elements(HTMLParser):
    """The whole text of every element (its children's included), innermost first."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "wbr", "col", "area"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, list[str]]] = []
        self.texts: list[tuple[str, str]] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        if tag not in self.VOID:
            self.stack.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1
        while self.stack:
            name, parts = self.stack.pop()
            text = "".join(parts)
            self.texts.append((name, text))
            if self.stack:
                self.stack[-1][1].append(text)
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack and not self.skip:
            self.stack[-1][1].append(data)


def _innermost_with_figures(html: str) -> list[str]:
    """Texts of the innermost elements holding a "± <figure>"."""
    parser = _Elements()
    parser.feed(html)
    found: list[str] = []
    for _, text in parser.texts:  # children close before their parents
        if FIGURE_AFTER_PLUS_MINUS.search(text) and not any(inner in text for inner in found):
            found.append(text)
    return found


def test_results_page_says_simulation_error_and_puts_a_unit_on_every_plus_minus(
    signed_in: Client, finished_run: SimulationRun
) -> None:
    response = signed_in.get(reverse("runs:detail", args=[finished_run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    visible = re.sub(r"<script.*?</script>", "", html, flags=re.DOTALL)
    assert "mc_error" not in visible and "Monte Carlo" not in visible
    assert "simulation error" in visible
    figures = _innermost_with_figures(html)
    # Tier cards (COGS in money, gross margin in points) and the lever table at least.
    assert len(figures) >= 4
    for text in figures:
        plain = " ".join(text.split())
        assert len(FIGURE_AFTER_PLUS_MINUS.findall(plain)) == len(WITH_UNIT.findall(plain)), plain
    assert re.search(r"± [\d.]+ pts</small>", html)  # gross margin: points, not a bare number
    # The API and the exports keep their keys.
    assert (
        "mc_error" in signed_in.get(reverse("runs:export", args=[finished_run.pk, "json"])).content.decode()
    )


def test_the_unit_check_catches_a_bare_plus_minus() -> None:
    assert _innermost_with_figures("<dd>61.2% <small>± 2.28</small></dd>") == ["± 2.28"]
    text = "± 2.28"
    assert len(FIGURE_AFTER_PLUS_MINUS.findall(text)) != len(WITH_UNIT.findall(text))
    for good in ("± $0.0042", "± 2.28 pts", "± 0.12%", "±−$5.00"):
        assert len(WITH_UNIT.findall(good)) == 1, good


def _badge(html: str) -> str:
    match = re.search(r'<span class="status status-(\w+)" data-status-badge>(\w+)</span>', html)
    assert match and match.group(1) == match.group(2)
    return match.group(2)


def test_the_run_badge_says_running_once_blocks_are_done(signed_in: Client, scenario: Scenario) -> None:
    run = run_create(scenario=scenario)
    url = reverse("runs:detail", args=[run.pk])
    assert (
        run.status == SimulationRun.Status.QUEUED and _badge(signed_in.get(url).content.decode()) == "queued"
    )
    SimulationRun.objects.filter(pk=run.pk).update(blocks_total=10, blocks_done=6)
    html = signed_in.get(url).content.decode()
    assert _badge(html) == "running" and "· running</p>" in html
    progress = signed_in.get(reverse("runs:progress", args=[run.pk])).json()
    assert (progress["status"], progress["badge"], progress["fraction"]) == ("queued", "running", 0.6)
    SimulationRun.objects.filter(pk=run.pk).update(status=SimulationRun.Status.CANCELLED)
    assert _badge(signed_in.get(url).content.decode()) == "cancelled"


def test_run_js_updates_the_badge_on_each_poll() -> None:
    from django.conf import settings

    source = (settings.BASE_DIR / "static" / "js" / "run.js").read_text()
    assert "data-status-badge" in source and 'badge.className = "status status-" + status' in source


def test_a_duplicate_lever_label_is_refused_naming_the_other_lever(
    signed_in: Client, scenario: Scenario
) -> None:
    url = reverse("scenarios:lever_add", args=[scenario.pk])
    response = signed_in.post(url, {"label": "  response CACHE 30% ", "batch_share": 50})
    assert response.status_code == 400
    assert response.context["lever_form"].errors["label"] == [
        "The lever “Response cache 30%” already has this label; choose another."
    ]
    scenario.refresh_from_db()
    assert [lever["key"] for lever in scenario.levers] == ["cache"]
    assert signed_in.post(url, {"label": "Batch half", "batch_share": 50}).status_code == 302


def test_lever_errors_speak_the_words_of_the_form(signed_in: Client, scenario: Scenario) -> None:
    url = reverse("scenarios:lever_add", args=[scenario.pk])
    share_only = signed_in.post(url, {"label": "Share only", "routing_share": 50})
    assert share_only.status_code == 400
    form = share_only.context["lever_form"]
    assert form.errors["routing_model"] == ["Route to model: choose a model to route the share to."]
    nothing = signed_in.post(url, {"label": "Nothing"})
    assert nothing.status_code == 400
    (message,) = nothing.context["lever_form"].non_field_errors()
    assert message.startswith("The lever changes nothing: set at least one of Share routed (%), ")
    for response in (share_only, nothing):
        html = response.content.decode()
        assert "Lever '" not in html and "'routing_model'" not in html and "routing_share, " not in html
