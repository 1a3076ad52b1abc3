"""Every page is reachable by links (issue 19): a crawl from the dashboard, signed in as the demo
user, that follows only ``<a href>`` links and must reach every kind of page docs/WEB.md lists,
each answering 200.

The demo is seeded without runs (``demo_seed``); the test adds what the demo lacks so that
detail pages exist: one small run, a price sheet, a self-hosted deployment, an alert channel and
a replay job (queued: its page renders without a worker).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from planner.actuals.replay_jobs import replay_start
from planner.alerts.channels import alert_channel_create
from planner.devtools.demo import DEMO_PRODUCT_NAME, DEMO_SCENARIO_NAME, demo_seed
from planner.prices.sheets import price_sheet_create
from planner.products.models import Product
from planner.simulation.models import Scenario
from planner.simulation.runs import run_create, run_execute
from tests.web.test_price_pages import deployment_for

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)

# Every page kind of docs/WEB.md, by URL name. Not here: sign-up (signed-out users only) and a
# decision's page (it exists once someone asks "Fix it" on a results page, whose form is a POST).
EXPECTED = {
    "dashboard",
    "scenarios:product_new",
    "scenarios:guided_plan",
    "scenarios:editor",
    "scenarios:tier_edit",
    "scenarios:workload_edit",
    "scenarios:workload_override",
    "scenarios:delete",
    "scenarios:product_delete",
    "products:detail",
    "products:tier_edit",
    "runs:detail",
    "runs:compare",
    "actuals:index",
    "actuals:customers",
    "actuals:customer",
    "actuals:replay_new",
    "actuals:replay",
    "account:members",
    "account:api_keys",
    "prices:catalog",
    "prices:catalog_model",
    "prices:sheet_list",
    "prices:sheet_create",
    "prices:sheet_detail",
    "prices:sheet_edit",
    "prices:self_hosted_list",
    "prices:self_hosted_create",
    "prices:self_hosted_detail",
    "prices:self_hosted_edit",
    "alerts:rule_list",
    "alerts:rule_create",
    "alerts:rule_history",
    "alerts:rule_edit",
    "alerts:channel_list",
    "alerts:channel_create",
    "alerts:channel_detail",
    "alerts:channel_edit",
    "integrations:index",
    "ingestion_errors",
}
# Links that are not pages: downloads, JSON, and the API docs and admin (other apps).
NOT_PAGES = ("export", "progress", "trend", "api-docs", "admin:", "logout")
VISITS_PER_KIND = 3  # enough to go from a list to its details; the catalog has hundreds


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _page_kind(path: str) -> str | None:
    try:
        name = resolve(path).view_name
    except Resolver404:
        return None
    return None if any(part in name for part in NOT_PAGES) else name


def crawl(client: Client, start: str = "/") -> tuple[set[str], dict[str, int]]:
    """Breadth-first over same-site ``<a href>`` links from ``start``: the page kinds reached
    and any page that did not answer 200 (URL -> status)."""
    reached: set[str] = set()
    broken: dict[str, int] = {}
    visits: Counter[str] = Counter()
    queued = {start}
    queue = deque([start])
    while queue:
        url = queue.popleft()
        response = client.get(url)
        kind = _page_kind(urlsplit(url).path)
        assert kind is not None
        if response.status_code != 200:
            broken[url] = response.status_code
            continue
        reached.add(kind)
        parser = _Links()
        parser.feed(response.content.decode())
        for href in parser.hrefs:
            target = urlsplit(urljoin(url, href))
            if target.scheme not in ("", "http") or target.netloc not in ("", "testserver"):
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            kind = _page_kind(target.path)
            if kind is None or link in queued or visits[kind] >= VISITS_PER_KIND:
                continue
            visits[kind] += 1
            queued.add(link)
            queue.append(link)
    return reached, broken


@pytest.fixture
def demo_client(priced_models: dict[str, Any], client: Client) -> Client:
    organization = demo_seed(now=NOW)
    product = Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)
    baseline = Scenario.objects.get(product=product, name=DEMO_SCENARIO_NAME)
    Scenario.objects.filter(pk=baseline.pk).update(simulated_users=2_000, horizon_months=1)
    baseline.refresh_from_db()
    run_execute(run=run_create(scenario=baseline))
    price_sheet_create(organization=organization, name="Negotiated", effective_from=dt.date(2026, 1, 1))
    deployment_for(organization)
    alert_channel_create(
        organization=organization, name="Ops hook", kind="webhook", url="https://hooks.example.com/margin"
    )
    replay_start(
        organization=organization,
        product=product,
        period_from=dt.date(2026, 11, 1),
        period_to=dt.date(2026, 11, 1),
    )
    client.force_login(organization.memberships.get().user)
    return client


def test_every_page_kind_is_reached_by_links_from_the_dashboard(demo_client: Client) -> None:
    # One test: seeding the demo is the slow part.
    reached, broken = crawl(demo_client)
    assert broken == {}
    assert sorted(EXPECTED - reached) == []
    # The Prices page leads to price sheets and self-hosted deployments, with "New ..." buttons.
    html = demo_client.get("/prices/catalog/").content.decode()
    assert '<a href="/prices/sheets/"' in html and '<a href="/prices/self-hosted/"' in html
    assert '<a class="button secondary small" href="/prices/sheets/new/">New price sheet</a>' in html
    assert '<a class="button secondary small" href="/prices/self-hosted/new/">New deployment</a>' in html
