"""Reads of the compatibility layer: an organisation's rejected vendor events."""

from __future__ import annotations

from django.db.models import QuerySet

from planner.accounts.models import Organization
from planner.actuals.compat.models import IngestionError


def ingestion_errors_for_organization(
    *, organization: Organization | int, vendor: str | None = None
) -> QuerySet[IngestionError]:
    """The organisation's ingestion errors, newest first (of one vendor when ``vendor`` is given)."""
    errors = IngestionError.objects.filter(organization=organization).order_by("-received_at", "-id")
    return errors if vendor is None else errors.filter(vendor=vendor)
