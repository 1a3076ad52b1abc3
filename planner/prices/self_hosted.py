"""Self-hosted deployments: create, update, delete, and their price against an API model.

The arithmetic is ``pricing.selfhosted`` (pure); this module turns a stored deployment into its
``SelfHostedSpec`` and reads the API price the organisation pays (its discount applied).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.accounts.models import Organization
from planner.prices.models import SelfHostedDeployment
from planner.prices.selectors import organization_model_price
from planner.products.models import WorkloadModel
from pricing.calculator import PriceSchedule
from pricing.models import AIModel
from pricing.selectors import PriceNotFound
from pricing.selfhosted import BreakEven, SelfHostedCost, SelfHostedSpec, break_even_volume, self_hosted_cost

#: Fields a deployment is created with and may change (the organisation is fixed).
DEPLOYMENT_FIELDS = frozenset(
    {
        "name",
        "base_model",
        "gpu_type",
        "gpu_hourly_cost",
        "gpus_per_replica",
        "input_tokens_per_second",
        "output_tokens_per_second",
        "target_utilization",
        "quantization",
        "throughput_multiplier",
        "notes",
    }
)


def self_hosted_spec(deployment: SelfHostedDeployment) -> SelfHostedSpec:
    """The pure parameters of a stored deployment."""
    return SelfHostedSpec(
        gpu_hourly_cost=Decimal(deployment.gpu_hourly_cost),
        gpus_per_replica=int(deployment.gpus_per_replica),
        input_tokens_per_second=float(deployment.input_tokens_per_second),
        output_tokens_per_second=float(deployment.output_tokens_per_second),
        target_utilization=float(deployment.target_utilization),
        throughput_multiplier=float(deployment.throughput_multiplier),
        quantization=deployment.get_quantization_display(),
    )


def _apply(deployment: SelfHostedDeployment, data: Mapping[str, Any]) -> None:
    unknown = sorted(set(data) - DEPLOYMENT_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in unknown})
    for name, value in data.items():
        setattr(deployment, name, value)


def self_hosted_create(*, organization: Organization, data: Mapping[str, Any]) -> SelfHostedDeployment:
    """Create a deployment of ``organization`` from ``data`` (``DEPLOYMENT_FIELDS``)."""
    deployment = SelfHostedDeployment(organization=organization)
    _apply(deployment, data)
    deployment.full_clean()
    deployment.save()
    return deployment


def self_hosted_update(*, deployment: SelfHostedDeployment, data: Mapping[str, Any]) -> SelfHostedDeployment:
    """Change the fields in ``data``; new runs use the new price, existing runs keep theirs."""
    _apply(deployment, data)
    try:
        deployment.full_clean()
    except ValidationError:
        deployment.refresh_from_db()
        raise
    deployment.save()
    return deployment


def self_hosted_delete(*, deployment: SelfHostedDeployment) -> None:
    """Delete a deployment that no workload's model mix uses."""
    users = sorted(
        str(row.workload)
        for row in WorkloadModel.objects.filter(self_hosted=deployment).select_related("workload__product")
    )
    if users:
        raise ValidationError(
            {"self_hosted": f"Used in the model mix of: {', '.join(users)}. Remove it there first."}
        )
    with transaction.atomic():
        deployment.delete()


def self_hosted_price(*, deployment: SelfHostedDeployment) -> SelfHostedCost:
    """The deployment's effective $/Mtok with the arithmetic steps."""
    return self_hosted_cost(self_hosted_spec(deployment))


def _base_rate(schedule: PriceSchedule, key: str) -> Decimal | None:
    return next((price.base for price in schedule.prices if price.price_key == key), None)


def self_hosted_break_even(
    *,
    deployment: SelfHostedDeployment,
    model: AIModel,
    at: dt.datetime,
    input_tokens: float,
    output_tokens: float,
) -> BreakEven:
    """Break-even of ``deployment`` against catalog ``model`` at the price the organisation pays
    on ``at`` (standard variant, base rates below any context tier, its discount applied).

    Raises ``ValidationError`` (on ``model``) when the model has no price then or no per-token
    input and output prices.
    """
    try:
        price = organization_model_price(organization_id=deployment.organization_id, model=model, at=at)
    except PriceNotFound as error:
        raise ValidationError({"model": str(error)}) from error
    schedule = PriceSchedule.from_structure(price.structure)
    api_in, api_out = _base_rate(schedule, "input_mtok"), _base_rate(schedule, "output_mtok")
    if api_in is None or api_out is None:
        raise ValidationError({"model": f"{model} has no per-token input and output price to compare with."})
    try:
        return break_even_volume(
            self_hosted_spec(deployment),
            api_input_mtok=api_in,
            api_output_mtok=api_out,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    except ValueError as error:
        raise ValidationError({"input_tokens": str(error)}) from error
