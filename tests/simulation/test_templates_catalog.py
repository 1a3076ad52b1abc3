"""Product templates (issue 19): each creates a valid product and a baseline scenario that runs
through the engine without edits."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.products.selectors import live_tiers
from planner.simulation.models import SimulationRun
from planner.simulation.plans import scenario_tiers
from planner.simulation.runs import run_create, run_execute_in_blocks
from planner.simulation.templates_catalog import (
    TEMPLATE_KEYS,
    product_template,
    product_template_create,
    product_templates,
)


def test_three_templates_each_a_full_product() -> None:
    assert (
        [t.key for t in product_templates()]
        == list(TEMPLATE_KEYS)
        == [
            "chat-app",
            "coding-copilot",
            "research-assistant",
        ]
    )
    for template in product_templates():
        assert template.title and template.summary and len(template.tiers) >= 3
        assert len(template.workloads) >= 2 and template.document["plan"]["levers"]
        usage = {(u["tier"], u["workload"]) for u in template.document["plan"]["usage_distributions"]}
        assert usage == {(tier, workload) for tier in template.tiers for workload in template.workloads}
        assert "price_date" not in template.document["plan"]["settings"]  # today's prices


@pytest.mark.django_db
@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_a_template_creates_a_product_whose_baseline_runs(
    key: str, organization: Organization, template_catalog: None
) -> None:
    template = product_template(key)
    scenario = product_template_create(organization=organization, key=key)
    product = scenario.product
    assert (product.name, scenario.name) == (template.document["product"]["name"], "Baseline")
    assert [tier.name for tier in live_tiers(product)] == template.tiers
    assert [tier.name for tier in scenario_tiers(scenario)] == template.tiers
    assert [w.name for w in product.workloads.order_by("position")] == template.workloads
    assert not any(u.is_placeholder for tier in scenario_tiers(scenario) for u in tier.usage.all())
    scenario.full_clean()
    run = run_execute_in_blocks(run=run_create(scenario=scenario, users=2_000))
    assert run.status == SimulationRun.Status.SUCCEEDED, run.error
    assert run.results is not None
    total = run.results["total"]
    assert math.isfinite(total["gross_margin_pct"]) and total["revenue"] > 0
    for tier in run.results["tiers"]:
        assert (
            math.isfinite(tier["cogs_per_user"]["mean"]["value"])
            and tier["cogs_per_user"]["mean"]["value"] > 0
        )


@pytest.mark.django_db
def test_a_template_used_twice_gets_a_numbered_name_and_an_unknown_one_is_refused(
    organization: Organization, template_catalog: None
) -> None:
    first = product_template_create(organization=organization, key="chat-app")
    second = product_template_create(organization=organization, key="chat-app")
    assert (first.product.name, second.product.name) == ("Chat app", "Chat app 2")
    with pytest.raises(ValidationError) as error:
        product_template_create(organization=organization, key="crm")
    assert "template" in error.value.message_dict
