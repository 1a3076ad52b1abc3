"""Replay pages (issue #15): start a replay from the form, follow it, read its tiers, flips and
notes, page through flips by keyset, download it; viewers read, strangers get a 404."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.http import StreamingHttpResponse
from django.test import Client, override_settings
from django.urls import reverse

from planner.accounts.models import Organization
from planner.actuals.replay import replay_period
from planner.devtools.demo import DEMO_PRODUCT_NAME, demo_seed
from planner.prices.sheets import price_sheet_create
from planner.products.models import Product
from planner.simulation import runs
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create
from planner.web.views import replays

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def demo(priced_models: dict[str, Any], client: Client) -> tuple[Organization, Scenario]:
    organization = demo_seed(now=NOW)
    product = Product.objects.get(organization=organization, name=DEMO_PRODUCT_NAME)
    scenario = scenario_create(product=product, name="Capped Pro", seed=1)
    pro = scenario_tiers(scenario).get(name="Pro")
    scenario.levers = [{"key": "l1", "label": "Cap Pro", "tiers": [pro.pk], "hard_cap": 150.0}]
    scenario.save()
    client.force_login(organization.memberships.get().user)
    return organization, scenario


def _finish(job: SimulationRun) -> None:
    runs.chunk_execute(run_id=job.pk, blocks=list(range(job.blocks_total)), worker="test:1")
    runs.run_merge(run_id=job.pk)


@override_settings(PLANNER_REPLAY_BLOCK_CUSTOMERS=20)
def test_start_follow_and_read_a_replay(
    demo: tuple[Organization, Scenario], client: Client, other_client: Client
) -> None:
    organization, scenario = demo
    form = client.get(reverse("actuals:replay_new"))
    assert form.status_code == 200
    assert f'value="scenario:{scenario.pk}"' in form.content.decode()
    assert 'value="2026-10"' in form.content.decode()
    body = {"plan": f"scenario:{scenario.pk}", "period_from": "2026-10", "period_to": "2026-11"}
    started = client.post(reverse("actuals:replay_new"), body)
    assert started.status_code == 302
    job = SimulationRun.objects.replays().get()
    assert started["Location"] == reverse("actuals:replay", kwargs={"pk": job.pk})
    running = client.get(started["Location"])
    assert running.status_code == 200 and b'id="run-progress"' in running.content
    progress = client.get(reverse("actuals:replay_progress", kwargs={"pk": job.pk})).json()
    assert progress["status"] == "queued" and progress["fraction"] == 0
    _finish(job)
    page = client.get(started["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'id="replay-summary"' in html and 'id="replay-tiers"' in html
    expected = replay_period(
        organization=organization,
        scenario=scenario,
        period_from=dt.date(2026, 10, 1),
        period_to=dt.date(2026, 11, 1),
    )
    flipped = [row for row in expected.customer_months if row.flip]
    assert flipped and len(page.context["flips"]) == min(len(flipped), 50)
    assert [r.external_id for r in page.context["flips"]] == [
        r.external_id for r in sorted(flipped, key=lambda r: (r.customer_id, r.period))
    ][:50]
    assert f"{expected.flipped_customers} customer" in html
    stopped = client.get(started["Location"] + "?flip=stopped_underwater").context["flips"]
    assert stopped and all(row.flip == "stopped_underwater" for row in stopped)
    assert client.get(started["Location"] + "?flip=nonsense&after=x:y").status_code == 200  # read as defaults
    download = client.get(reverse("actuals:replay_export", kwargs={"pk": job.pk, "extension": "csv"}))
    assert isinstance(download, StreamingHttpResponse)
    text = b"".join(cast(Iterator[bytes], download.streaming_content)).decode()
    assert len(list(csv.DictReader(io.StringIO(text)))) == len(expected.customer_months)
    assert (
        client.get(reverse("actuals:replay_export", kwargs={"pk": job.pk, "extension": "xls"})).status_code
        == 404
    )
    assert other_client.get(started["Location"]).status_code == 404
    listed = client.get(reverse("actuals:replay_new")).content.decode()
    assert f'href="{started["Location"]}"' in listed


@override_settings(PLANNER_REPLAY_BLOCK_CUSTOMERS=3)
def test_flips_are_paged_by_keyset(demo: tuple[Organization, Scenario], client: Client) -> None:
    organization, scenario = demo
    body = {"plan": f"scenario:{scenario.pk}", "period_from": "2026-10", "period_to": "2026-12"}
    client.post(reverse("actuals:replay_new"), body)
    job = SimulationRun.objects.replays().get()
    _finish(job)
    job.refresh_from_db()
    assert job.results is not None
    url = reverse("actuals:replay", kwargs={"pk": job.pk})

    seen: list[tuple[int, dt.date]] = []
    query: str | None = "?flip=any"
    original = replays.FLIPS_PER_PAGE
    replays.FLIPS_PER_PAGE = 2
    try:
        while query:
            context = client.get(url + query).context
            seen += [(row.customer_id, row.period) for row in context["flips"]]
            query = f"?flip=any&after={context['next_after']}" if context["next_after"] else None
    finally:
        replays.FLIPS_PER_PAGE = original
    assert (
        len(seen)
        == len(set(seen))
        == job.results["total"]["became_underwater"] + job.results["total"]["stopped_underwater"]
    )
    assert seen == sorted(seen)


def test_bad_requests_and_viewers(demo: tuple[Organization, Scenario], client: Client) -> None:
    organization, scenario = demo
    sheet = price_sheet_create(organization=organization, name="Sheet", effective_from=dt.date(2026, 1, 1))
    body = {"plan": f"scenario:{scenario.pk}", "period_from": "2026-11", "period_to": "2026-10"}
    backwards = client.post(reverse("actuals:replay_new"), body)
    assert backwards.status_code == 400 and "ends before it starts" in backwards.content.decode()
    both = {**body, "period_to": "2026-11", "price_date": "2026-11-02", "price_sheet": sheet.pk}
    refused = client.post(reverse("actuals:replay_new"), both)
    assert refused.status_code == 400 and "not both" in refused.content.decode()
    assert not SimulationRun.objects.replays().exists()
    membership = organization.memberships.get()
    membership.role = "viewer"
    membership.save()
    assert client.post(reverse("actuals:replay_new"), {**body, "period_to": "2026-11"}).status_code == 404
    assert b'id="replay-form"' not in client.get(reverse("actuals:replay_new")).content
