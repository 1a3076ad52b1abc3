"""Read-side queries for custom prices: price sheets, self-hosted deployments and the price of a
catalog model for one organisation (list price with its negotiated discount applied).

Every query of tenant data starts from ``planner.selectors.organizations_for_user``; callers
that take an ``organization_id`` (the snapshot, the services) have already scoped it.

"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet

from planner.accounts.models import Organization
from planner.accounts.selectors import User, organizations_for_user  # SIBLING
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from pricing.custom import discounted_structure
from pricing.models import AIModel, ModelPrice
from pricing.selectors import model_price_at


def price_sheets_for_user(*, user: User) -> QuerySet[PriceSheet]:
    """The price sheets of the user's organisations, with ``entry_count``."""
    return (
        PriceSheet.objects.filter(organization__in=organizations_for_user(user=user))
        .select_related("organization")
        .annotate(entry_count=Count("entries"))
    )


def self_hosted_for_user(*, user: User) -> QuerySet[SelfHostedDeployment]:
    """The self-hosted deployments of the user's organisations."""
    return SelfHostedDeployment.objects.filter(
        organization__in=organizations_for_user(user=user)
    ).select_related("organization")


def price_sheets_for_organization(*, organization: Organization) -> QuerySet[PriceSheet]:
    """The organisation's price sheets with their entries prefetched (in ``price_sheet_entries``
    order), for the API."""
    entries = PriceSheetEntry.objects.select_related("provider", "model__provider").order_by(
        "kind", "provider__slug", F("model__slug").asc(nulls_first=True), "slug", "id"
    )
    return PriceSheet.objects.filter(organization=organization).prefetch_related(
        Prefetch("entries", queryset=entries)
    )


def self_hosted_for_organization(*, organization: Organization) -> QuerySet[SelfHostedDeployment]:
    """The organisation's self-hosted deployments, for the API."""
    return SelfHostedDeployment.objects.filter(organization=organization)


def price_sheet_entries(*, sheet: PriceSheet) -> QuerySet[PriceSheetEntry]:
    """A sheet's entries in a stable order: discounts by provider (a provider-wide discount
    before its per-model ones, on every database), then private models."""
    return sheet.entries.select_related("provider", "model").order_by(
        "kind", "provider__slug", F("model__slug").asc(nulls_first=True), "slug", "id"
    )


def _sheets_in_force(*, organization_id: int, on: dt.date) -> Q:
    return Q(
        sheet__organization_id=organization_id,
        sheet__effective_from__lte=on,
    ) & (Q(sheet__effective_to__isnull=True) | Q(sheet__effective_to__gte=on))


def discount_for_model(*, organization_id: int, model: AIModel, on: dt.date) -> PriceSheetEntry | None:
    """The organisation's discount on ``model`` in force on ``on``: the model's own entry, else its
    provider's (sheets never overlap for one provider/model, so there is at most one of each)."""
    entries = list(
        PriceSheetEntry.objects.filter(
            _sheets_in_force(organization_id=organization_id, on=on),
            kind=PriceSheetEntry.Kind.DISCOUNT,
            provider_id=model.provider_id,
        )
        .filter(Q(model_id=model.pk) | Q(model__isnull=True))
        .select_related("sheet")
    )
    entries.sort(key=lambda entry: entry.model_id is None)
    return entries[0] if entries else None


def private_model_on(*, organization_id: int, slug: str, on: dt.date) -> PriceSheetEntry | None:
    """The organisation's private model ``slug`` as priced by the sheet in force on ``on``."""
    return (
        PriceSheetEntry.objects.filter(
            _sheets_in_force(organization_id=organization_id, on=on),
            kind=PriceSheetEntry.Kind.PRIVATE,
            slug=slug,
        )
        .select_related("sheet")
        .first()
    )


def private_models_for_organization(*, organization_id: int) -> QuerySet[PriceSheetEntry]:
    """Every private model entry of the organisation's sheets (for model-mix choices)."""
    return PriceSheetEntry.objects.filter(
        sheet__organization_id=organization_id, kind=PriceSheetEntry.Kind.PRIVATE
    ).select_related("sheet")


@dataclass(frozen=True)
class OrganizationPrice:
    """A catalog price as one organisation pays it: the list ``price`` row, the ``discount`` entry
    that applies (or ``None``) and the resulting ``structure``."""

    price: ModelPrice
    discount: PriceSheetEntry | None
    structure: dict[str, Any]

    def source(self) -> dict[str, Any]:
        """Where the price comes from, as recorded in run snapshots."""
        if self.discount is None:
            return {"kind": "catalog"}
        assert self.discount.discount is not None
        return {
            "kind": "catalog",
            "price_sheet_id": self.discount.sheet_id,
            "price_sheet": self.discount.sheet.name,
            "price_sheet_entry_id": self.discount.pk,
            "discount": format(self.discount.discount.normalize(), "f"),
        }


def organization_model_price(
    *, organization_id: int, model: AIModel, at: dt.datetime, variant: str = ""
) -> OrganizationPrice:
    """The price of ``model`` (``variant``) at ``at`` for the organisation: the catalog row in
    force, with the organisation's discount in force on ``at``'s (UTC) date applied to every
    price key. Raises ``pricing.selectors.PriceNotFound``."""
    row = model_price_at(provider_slug=model.provider.slug, model_slug=model.slug, at=at, variant=variant)
    discount = discount_for_model(
        organization_id=organization_id, model=model, on=at.astimezone(dt.UTC).date()
    )
    structure = dict(row.structure)
    if discount is not None and discount.discount is not None:
        structure = discounted_structure(row.structure, discount=Decimal(discount.discount))
    return OrganizationPrice(price=row, discount=discount, structure=structure)
