"""Self-hosted deployments: validation, use in a model mix, the snapshot's price source, and the
"must show" scenario: a 20%-off sheet and a self-hosted deployment change a simulation's COGS."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from planner.accounts.models import Organization
from planner.prices.models import SelfHostedDeployment
from planner.prices.self_hosted import self_hosted_break_even, self_hosted_create, self_hosted_update
from planner.prices.sheets import price_sheet_create, price_sheet_entry_add
from planner.products.models import Product, WorkloadModel
from planner.products.services import workload_models_set
from planner.simulation.models import Scenario
from planner.simulation.runs import run_create, run_execute

LLAMA = {
    "name": "Llama 3.1 70B",
    "base_model": "Llama 3.1 70B Instruct",
    "gpu_type": "H100 80GB",
    "gpu_hourly_cost": Decimal("2.50"),
    "gpus_per_replica": 2,
    "input_tokens_per_second": 5000.0,
    "output_tokens_per_second": 1000.0,
    "target_utilization": 0.6,
    "quantization": "int8",
}


@pytest.fixture
def llama(organization: Organization) -> SelfHostedDeployment:
    return self_hosted_create(organization=organization, data=LLAMA)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gpu_hourly_cost", Decimal("-1"), "greater than or equal to 0"),
        ("gpu_hourly_cost", Decimal("NaN"), "must be a decimal number"),
        ("gpus_per_replica", 0, "greater than or equal to 1"),
        ("input_tokens_per_second", 0.0, "above 0"),
        ("output_tokens_per_second", float("inf"), "finite"),
        ("target_utilization", 0.0, "above 0"),
        ("target_utilization", 1.2, "less than or equal to 1"),
        ("throughput_multiplier", float("nan"), "finite"),
        ("quantization", "int3", "not a valid choice"),
    ],
)
def test_deployment_validation_names_the_field(
    organization: Organization, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        self_hosted_create(organization=organization, data={**LLAMA, field: value})
    assert message in " ".join(caught.value.message_dict[field])


def test_exactly_one_price_source_per_mix_entry(product: Product, llama: SelfHostedDeployment) -> None:
    row = WorkloadModel.objects.filter(workload__product=product).first()
    assert row is not None
    row.self_hosted = llama
    with pytest.raises(ValidationError, match="exactly one"):
        row.full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        WorkloadModel.objects.filter(pk=row.pk).update(self_hosted=llama)
    with transaction.atomic(), pytest.raises(IntegrityError):
        WorkloadModel.objects.filter(pk=row.pk).update(model=None)


def test_break_even_uses_the_price_the_organisation_pays(
    llama: SelfHostedDeployment, priced_models: dict[str, Any], organization: Organization
) -> None:
    at = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    model = priced_models["frontier"]  # gpt-4o: $2.5 in / $10 out per Mtok
    listed = self_hosted_break_even(deployment=llama, model=model, at=at, input_tokens=3, output_tokens=1)
    assert listed.api_mtok == Decimal("4.375")  # 0.75 x 2.5 + 0.25 x 10
    assert listed.volume_tokens is not None
    assert listed.volume_tokens.quantize(Decimal(1)) == Decimal(834_285_714)  # $3,650 / $4.375 per Mtok
    sheet = price_sheet_create(organization=organization, name="Deal", effective_from=dt.date(2026, 1, 1))
    price_sheet_entry_add(sheet=sheet, row={"kind": "discount", "provider": "openai", "discount": "0.2"})
    discounted = self_hosted_break_even(deployment=llama, model=model, at=at, input_tokens=3, output_tokens=1)
    assert discounted.api_mtok == Decimal("3.5")


def test_founder_sees_a_discount_and_a_self_hosted_model_in_cogs(
    scenario: Scenario, organization: Organization, llama: SelfHostedDeployment, priced_models: dict[str, Any]
) -> None:
    """Must show: a 20%-off sheet for OpenAI and a self-hosted Llama in the Chat mix.

    Cost per credit is linear in the prices and every run reuses the same draws (same seed), so
    with O the OpenAI part and S the self-hosted part of the list-price run:
    A (list prices) = O + S; B (20% off) = 0.8 O + S; C (20% off, GPU cost doubled) = 0.8 O + 2 S.
    """
    chat = scenario.product.workloads.get(name="Chat")
    workload_models_set(
        workload=chat, models=[(priced_models["small"], 0.5), (llama, 0.2), (priced_models["frontier"], 0.3)]
    )
    run_a = run_execute(run=run_create(scenario=scenario, users=2_000))

    sheet = price_sheet_create(
        organization=organization,
        name="OpenAI 2026",
        effective_from=scenario.price_date - dt.timedelta(days=30),
    )
    entry = price_sheet_entry_add(
        sheet=sheet, row={"kind": "discount", "provider": "openai", "discount": "0.2"}
    )
    run_b = run_execute(run=run_create(scenario=scenario, users=2_000))
    self_hosted_update(deployment=llama, data={"gpu_hourly_cost": Decimal("5.00")})
    run_c = run_execute(run=run_create(scenario=scenario, users=2_000))

    # The snapshot records where each price came from.
    models_b = {m["key"]: m for m in run_b.snapshot["workloads"][0]["models"]}
    assert models_b["openai/gpt-4o-mini"]["source"]["price_sheet_entry_id"] == entry.pk
    assert models_b["openai/gpt-4o-mini"]["source"]["discount"] == "0.2"
    own = models_b["self-hosted/Llama 3.1 70B"]
    # $5/hour / (5,000 x 0.6 x 3600) tokens x 1e6 and / (1,000 x 0.6 x 3600) tokens x 1e6.
    assert own["structure"] == {"input_mtok": "0.4629629630", "output_mtok": "2.3148148148"}
    assert own["source"]["kind"] == "self_hosted" and own["source"]["deployment_id"] == llama.pk

    for tier in ("Free", "Pro"):
        a, b, c = (
            next(t for t in run.results["tiers"] if t["key"] == tier)["cost_per_credit"]
            for run in (run_a, run_b, run_c)
            if run.results is not None
        )
        self_hosted = c - b  # S: doubling the GPU cost doubles the self-hosted cost
        openai = a - self_hosted  # O
        assert self_hosted > 0 and openai > 0
        assert b == pytest.approx(0.8 * openai + self_hosted, rel=1e-9)  # 20% off: OpenAI x 0.8 exactly
        assert b < a
