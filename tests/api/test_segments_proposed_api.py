"""``GET /api/v1/usage-distributions/segments-proposed/?period=YYYY-MM``: the two segments proposed
per tier from a month's usage, named and shared as the web page shows them and as "Use these
segments" writes them; scoped to the caller's organisation, read scope."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from planner.accounts.models import Organization
from planner.actuals.segment_use import HEAVY_USERS, LIGHT_USERS
from planner.actuals.selectors import usage_segments_proposed
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from tests.actuals.test_segment_use import SHARE_SE, mixture_ingest
from tests.actuals.test_segments_fit import POWER_SHARE
from tests.api.conftest import KeyClient

URL = "/api/v1/usage-distributions/segments-proposed/"


@pytest.fixture
def pro(product: Product, priced_models: dict[str, Any], organization: Organization) -> Tier:
    """The live Pro tier, with June 2025 usage of 1,000 customers from the 85/15 mixture."""
    tier = live_tiers(product).get(name="Pro")
    workloads = [product.workloads.get(name="Chat"), product.workloads.get(name="Agent")]
    mixture_ingest(organization=organization, tier=tier, workloads=workloads)
    return tier


def test_the_month_s_proposal_is_answered_per_tier_with_named_segments_and_gamma_usage(
    key_client: KeyClient, pro: Tier, product: Product, organization: Organization
) -> None:
    response = key_client(scopes=["read"]).get(URL, {"period": "2025-06"})

    assert response.status_code == 200
    (answer,) = response.json()
    (proposed,) = usage_segments_proposed(
        organization=organization, period_range=(date(2025, 6, 1), date(2025, 6, 1))
    )
    assert (answer["tier"], answer["tier_name"]) == (pro.pk, "Pro")
    assert answer["bic_gain"] == pytest.approx(proposed.proposal.bic_gain, rel=1e-12)
    light, heavy = answer["segments"]
    assert (light["name"], heavy["name"]) == (LIGHT_USERS, HEAVY_USERS)
    assert light["share"] + heavy["share"] == 1.0
    assert heavy["share"] == pytest.approx(POWER_SHARE, abs=4 * SHARE_SE)
    chat, agent = product.workloads.get(name="Chat"), product.workloads.get(name="Agent")
    heavy_class = max(proposed.proposal.mixture.classes, key=lambda c: sum(c.means))
    assert heavy["usage"] == [
        {
            "workload": workload.pk,
            "workload_name": workload.name,
            "kind": "gamma",
            "mean": pytest.approx(heavy_class.means[column], rel=1e-12),
            "shape": pytest.approx(heavy_class.shapes[column], rel=1e-12),
        }
        for column, workload in enumerate((chat, agent))
    ]
    assert all(h["mean"] > lo["mean"] for h, lo in zip(heavy["usage"], light["usage"], strict=True))


def test_another_month_or_organisation_sees_no_proposal(
    key_client: KeyClient, pro: Tier, other_organization: Organization
) -> None:
    assert key_client(scopes=["read"]).get(URL, {"period": "2025-05"}).json() == []
    foreign = key_client(scopes=["read"], organization=other_organization).get(URL, {"period": "2025-06"})
    assert foreign.status_code == 200 and foreign.json() == []


@pytest.mark.parametrize("query", [{}, {"period": "June"}, {"period": "2025-13"}])
def test_a_missing_or_bad_period_is_a_400_on_period(key_client: KeyClient, query: dict[str, str]) -> None:
    response = key_client(scopes=["read"]).get(URL, query)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["period"]


def test_the_read_scope_is_needed(key_client: KeyClient) -> None:
    assert key_client(scopes=["ingest"]).get(URL, {"period": "2025-06"}).status_code == 403


def test_the_schema_documents_the_endpoint(key_client: KeyClient) -> None:
    schema = key_client().get("/api/v1/schema/", {"format": "json"}).json()
    get = schema["paths"]["/api/v1/usage-distributions/segments-proposed/"]["get"]
    assert [p["name"] for p in get["parameters"]] == ["period"]
    items = get["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"]
    component = schema["components"]["schemas"][items.rsplit("/", 1)[-1]]
    assert set(component["properties"]) == {"tier", "tier_name", "bic_gain", "segments"}
