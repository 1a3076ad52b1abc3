"""Read-side queries of organisations' custom prices: price sheets and their entries, self-hosted
deployments and private models, each in a stable order.

The ``*_for_user`` queries start from ``planner.accounts.selectors.organizations_for_user``;
callers of those that take an organisation or its id (the API, the snapshot, the services) have
already scoped it.
"""

from __future__ import annotations

from django.db.models import Count, F, Prefetch, QuerySet

from planner.accounts.models import Organization
from planner.accounts.selectors import User, organizations_for_user
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment


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


def private_models_for_organization(*, organization_id: int) -> QuerySet[PriceSheetEntry]:
    """Every private model entry of the organisation's sheets (for model-mix choices)."""
    return PriceSheetEntry.objects.filter(
        sheet__organization_id=organization_id, kind=PriceSheetEntry.Kind.PRIVATE
    ).select_related("sheet")
