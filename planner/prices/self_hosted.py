"""Self-hosted deployments: create, update, delete, and their price against an API model.

The arithmetic is ``pricing.selfhosted`` (pure); the stored deployment becomes its
``SelfHostedSpec`` in ``planner.prices.terms``, and the API price the organisation pays (its
discount applied) comes from the one price resolution (``pricing.resolve``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.accounts.models import Organization
from planner.core.services import model_update, protected_referrers
from planner.prices.models import SelfHostedDeployment
from planner.prices.terms import price_resolver, self_hosted_spec
from pricing.calculator import PriceSchedule
from pricing.models import AIModel
from pricing.selectors import PriceNotFound
from pricing.selfhosted import BreakEven, SelfHostedCost, break_even_volume, self_hosted_cost

#: Fields a deployment is created with and may change (the organisation is fixed), in display
#: order: the web form and the API serializer are built from them.
DEPLOYMENT_FIELDS = (
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
)
#: The message for a key of ``data`` outside ``DEPLOYMENT_FIELDS``.
NOT_A_DEPLOYMENT_FIELD = "This field cannot be set."


def self_hosted_create(*, organization: Organization, data: Mapping[str, Any]) -> SelfHostedDeployment:
    """Create a deployment of ``organization`` from ``data`` (``DEPLOYMENT_FIELDS``)."""
    deployment, _ = model_update(
        instance=SelfHostedDeployment(organization=organization),
        fields=DEPLOYMENT_FIELDS,
        data=data,
        unknown_message=NOT_A_DEPLOYMENT_FIELD,
    )
    return deployment


def self_hosted_update(*, deployment: SelfHostedDeployment, data: Mapping[str, Any]) -> SelfHostedDeployment:
    """Change the fields in ``data``; new runs use the new price, existing runs keep theirs."""
    model_update(
        instance=deployment, fields=DEPLOYMENT_FIELDS, data=data, unknown_message=NOT_A_DEPLOYMENT_FIELD
    )
    return deployment


def self_hosted_delete(*, deployment: SelfHostedDeployment) -> None:
    """Delete a deployment that no workload's model mix uses."""
    users = protected_referrers([deployment])
    if users:
        raise ValidationError(
            {"self_hosted": f"Used in the model mix of: {', '.join(map(str, users))}. Remove it there first."}
        )
    with transaction.atomic():
        deployment.delete()


def self_hosted_price(*, deployment: SelfHostedDeployment) -> SelfHostedCost | None:
    """The deployment's effective $/Mtok with the arithmetic steps; None for a row whose price
    cannot be computed (stored before the model's bounds, or by raw SQL): lists still show it, and
    saving it again names the field at fault."""
    try:
        return self_hosted_cost(self_hosted_spec(deployment))
    except ValueError:
        return None


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
        resolver = price_resolver(organization_id=deployment.organization_id, model_ids=[model.pk])
        price = resolver.catalog_price(model=model, at=at)
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
