"""The actuals page's proposed segments: shown per tier for usage drawn from an 85/15 mixture,
written into one chosen plan (the live plan or one scenario's), never into several, and only by
a writer of the tier's organisation."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Membership, Organization
from planner.actuals.rollup import customer_months_fold
from planner.actuals.segment_use import HEAVY_USERS, LIGHT_USERS
from planner.products.models import Product, Segment, Tier, UsageDistribution
from planner.products.selectors import live_tiers
from planner.simulation.models import Scenario
from tests.actuals.test_segment_use import SHARE_SE, mixture_ingest
from tests.actuals.test_segments_fit import POWER_SHARE

PERIOD = "2025-06"


@pytest.fixture
def pro(product: Product, scenario: Scenario, organization: Organization) -> Tier:
    """The live Pro tier, with June 2025 usage of 1,000 customers from the 85/15 mixture."""
    tier = live_tiers(product).get(name="Pro")
    workloads = [product.workloads.get(name="Chat"), product.workloads.get(name="Agent")]
    mixture_ingest(organization=organization, tier=tier, workloads=workloads)
    # Folded here, so the page's query budget is that of a page with nothing new to fold (the
    # first reader after a batch also folds it: docs/ACTUALS.md, "The rollup journal").
    customer_months_fold(organization_id=organization.pk)
    return tier


def _use(client: Client, tier: Tier, **fields: Any) -> Any:
    return client.post(reverse("actuals:segments_use"), {"tier": tier.pk, "period": "2025-06-01", **fields})


def _flashed(response: Any) -> str:
    """The message the request flashed (the latest: earlier ones wait for a page to show them)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def test_the_page_shows_the_two_segments_of_an_85_15_mixture_within_its_query_budget(
    signed_in: Client, pro: Tier, scenario: Scenario, django_assert_max_num_queries: Any
) -> None:
    # With usage the page reads 28 queries: the fits and the proposals share one read of the
    # customer-months (``usage_fits_and_proposals``), whatever the number of tiers or customers
    # (the month-by-month chart is fetched from ``actuals:trend``: test_actuals_insights); the
    # upload's product picker and its table of ids read the products, their live tiers and their
    # workloads (``products_with_live_plans``: three); each of the four reads of the rollup first
    # checks its journal (``planner.actuals.rollup``: one query when there is nothing to fold).
    with django_assert_max_num_queries(28):
        page = signed_in.get(reverse("actuals:index"), {"period": PERIOD})

    ((proposed, (light, heavy), targets),) = page.context["proposals"]
    assert (proposed.tier_id, proposed.workload_names) == (pro.pk, ("Chat", "Agent"))
    assert (light.name, heavy.name) == (LIGHT_USERS, HEAVY_USERS)
    assert heavy.share == pytest.approx(POWER_SHARE, abs=4 * SHARE_SE)
    # The power users: about 5x the chat and 10x the agent requests of the others.
    assert [u.mean / v.mean for u, v in zip(heavy.usage, light.usage, strict=True)] == pytest.approx(
        [5, 10], rel=0.3
    )
    assert targets == [
        ("live", "Live plan (template of new scenarios)"),
        (str(scenario.pk), "Scenario “Baseline”"),
    ]
    html = page.content.decode()
    section = html[html.index('id="segments-title"') :]
    assert f"BIC gain {proposed.proposal.bic_gain:,.1f}" in section
    assert f"{heavy.share * 100:.1f}%" in section and f"{light.usage[0].mean:,.1f}" in section
    assert "Use these segments" in section and f'value="{pro.pk}"' in section


def test_they_are_written_to_the_chosen_plan_only_and_the_period_is_kept(
    signed_in: Client, pro: Tier, scenario: Scenario
) -> None:
    stand_in = scenario.tiers.get(live_tier=pro)

    refused = _use(signed_in, pro)  # no plan chosen
    assert refused.status_code == 302 and refused["Location"].endswith(f"?period={PERIOD}")
    assert _flashed(refused) == "Choose the plan the segments are for: the live plan or one scenario."
    assert not Segment.objects.exists()

    to_scenario = _use(signed_in, pro, target=str(scenario.pk))
    assert to_scenario["Location"].endswith(f"?period={PERIOD}")
    assert _flashed(to_scenario).startswith(
        "Copilot: Pro in scenario “Baseline” now has the proposed segments (Light users"
    )
    assert list(stand_in.segments.values_list("name", flat=True)) == [LIGHT_USERS, HEAVY_USERS]
    assert UsageDistribution.objects.filter(segment__tier=stand_in, kind="gamma").count() == 4
    assert not pro.segments.exists()

    to_live = _use(signed_in, pro, target="live")
    assert _flashed(to_live).startswith("Copilot: Pro in the live plan now has the proposed segments")
    shares = list(pro.segments.values_list("share", flat=True))
    assert len(shares) == 2 and sum(shares) == 1.0
    assert stand_in.segments.count() == 2  # the scenario's copy is its own


def test_a_scenario_without_a_stand_in_or_a_tier_without_a_proposal_is_404(
    signed_in: Client, pro: Tier, product: Product
) -> None:
    assert _use(signed_in, pro, target="999999").status_code == 404
    free = live_tiers(product).get(name="Free")  # no usage: nothing proposed
    assert _use(signed_in, free, target="live").status_code == 404
    assert _use(signed_in, pro, target="live", period="June").status_code == 404
    assert (
        signed_in.post(reverse("actuals:segments_use"), {"tier": "abc", "target": "live"}).status_code == 404
    )
    assert not Segment.objects.exists()


def test_another_organisations_tier_is_404_and_a_viewer_cannot_write(
    client: Client, other_client: Client, pro: Tier, organization: Organization
) -> None:
    assert _use(other_client, pro, target="live").status_code == 404
    viewer = get_user_model().objects.create_user("vera", password="pw")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    page = client.get(reverse("actuals:index"), {"period": PERIOD}).content.decode()
    assert "Heavy users" in page and reverse("actuals:segments_use") not in page
    # Viewers read only: a write by one is a 404 like any object they may not change.
    assert _use(client, pro, target="live").status_code == 404
    assert not Segment.objects.exists()


def test_the_get_method_is_not_allowed(signed_in: Client) -> None:
    assert signed_in.get(reverse("actuals:segments_use")).status_code == 405
