"""The "Ingestion errors" page: an organisation's rejected vendor events, newest first, by
vendor, never another organisation's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Organization
from planner.actuals.compat.models import IngestionError

WHEN = datetime(2025, 6, 12, 10, 0, tzinfo=UTC)


def error(organization: Organization, vendor: str, key: str, minutes: int = 0) -> IngestionError:
    return IngestionError.objects.create(
        organization=organization,
        vendor=vendor,
        received_at=WHEN + timedelta(minutes=minutes),
        event_key=key,
        customer="cus_A",
        field="payload[model]",
        reason=f"No model 'acme/{key}' in the price catalog.",
        payload={"name": "llm_tokens"},
    )


@pytest.mark.django_db
def test_the_page_lists_the_organisations_errors_newest_first_and_by_vendor(
    signed_in: Client, organization: Organization, other_client: Client
) -> None:
    error(organization, "stripe", "older-stripe-event")
    error(organization, "orb", "newer-orb-event", minutes=5)
    html = signed_in.get(reverse("ingestion_errors")).content.decode()
    assert html.index("newer-orb-event") < html.index("older-stripe-event")
    assert "No model &#x27;acme/newer-orb-event&#x27; in the price catalog." in html
    only = signed_in.get(reverse("ingestion_errors"), {"vendor": "stripe"}).content.decode()
    assert "older-stripe-event" in only and "newer-orb-event" not in only
    assert "older-stripe-event" not in other_client.get(reverse("ingestion_errors")).content.decode()


@pytest.mark.django_db
def test_an_unknown_vendor_shows_every_vendor_and_signing_in_is_required(
    signed_in: Client, organization: Organization, client: Client
) -> None:
    error(organization, "orb", "orb-event")
    assert "orb-event" in signed_in.get(reverse("ingestion_errors"), {"vendor": "paypal"}).content.decode()
    signed_in.logout()
    assert client.get(reverse("ingestion_errors")).status_code == 302
