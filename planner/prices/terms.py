"""An organisation's price terms as plain data for ``pricing.resolve``: the one place that reads
price sheets and self-hosted deployments in order to price something.

``organization_terms`` loads every discount and private-model entry of the organisation's sheets
and every self-hosted deployment (three queries), with the ``source`` each resolved price records
in run snapshots. ``price_resolver`` adds the catalog rows of the models a caller needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from pricing.resolve import Discount, OrganizationTerms, PriceResolver, PrivateModel, SelfHosted
from pricing.selfhosted import SelfHostedSpec


def _discount(entry: PriceSheetEntry) -> Discount:
    assert entry.discount is not None and entry.provider_id is not None  # the kind's constraints
    return Discount(
        provider_id=entry.provider_id,
        model_id=entry.model_id,
        rate=Decimal(entry.discount),
        valid_from=entry.sheet.effective_from,
        valid_to=entry.sheet.effective_to,
        source={
            "price_sheet_id": entry.sheet_id,
            "price_sheet": entry.sheet.name,
            "price_sheet_entry_id": entry.pk,
            "discount": format(entry.discount.normalize(), "f"),
        },
    )


def _private_model(entry: PriceSheetEntry) -> PrivateModel:
    return PrivateModel(
        slug=entry.slug,
        structure=entry.structure,
        valid_from=entry.sheet.effective_from,
        valid_to=entry.sheet.effective_to,
        source={
            "kind": "private",
            "price_sheet_id": entry.sheet_id,
            "price_sheet": entry.sheet.name,
            "price_sheet_entry_id": entry.pk,
            "slug": entry.slug,
        },
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


def self_hosted_terms(deployment: SelfHostedDeployment) -> SelfHosted:
    """A deployment's cost parameters, with the stored values a snapshot records as its source."""
    return SelfHosted(
        name=deployment.name,
        spec=self_hosted_spec(deployment),
        source={
            "kind": "self_hosted",
            "deployment_id": deployment.pk,
            "name": deployment.name,
            "gpu_hourly_cost": str(deployment.gpu_hourly_cost),
            "gpus_per_replica": deployment.gpus_per_replica,
            "input_tokens_per_second": deployment.input_tokens_per_second,
            "output_tokens_per_second": deployment.output_tokens_per_second,
            "target_utilization": deployment.target_utilization,
            "throughput_multiplier": deployment.throughput_multiplier,
            "quantization": deployment.quantization,
        },
    )


def organization_terms(*, organization_id: int) -> OrganizationTerms:
    """Every discount, private model and self-hosted deployment of the organisation."""
    entries = PriceSheetEntry.objects.filter(sheet__organization_id=organization_id).select_related("sheet")
    # The model's ordering (sheet, kind, slug, id): private models in the order of their sheets.
    entries = entries.order_by("sheet", "kind", "slug", "id")
    discounts, private = [], []
    for entry in entries:
        if entry.kind == PriceSheetEntry.Kind.DISCOUNT:
            discounts.append(_discount(entry))
        else:
            private.append(_private_model(entry))
    deployments = SelfHostedDeployment.objects.filter(organization_id=organization_id).order_by("name", "id")
    return OrganizationTerms(
        discounts=tuple(discounts),
        private_models=tuple(private),
        self_hosted=tuple(self_hosted_terms(deployment) for deployment in deployments),
    )


def price_resolver(*, organization_id: int, model_ids: Iterable[int]) -> PriceResolver:
    """The resolver of the organisation's prices for the catalog models ``model_ids``."""
    return PriceResolver.load(model_ids=model_ids, terms=organization_terms(organization_id=organization_id))
