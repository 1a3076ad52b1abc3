"""The web's price pages refuse what the model and the import refuse (issue 17): nothing saved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Organization
from planner.prices.models import PriceSheet, SelfHostedDeployment
from planner.prices.self_hosted import self_hosted_create
from planner.prices.sheets import ENTRY_COLUMNS, price_sheet_create

HEADER = ",".join(ENTRY_COLUMNS) + "\n"


@pytest.fixture
def client_in(client: Client, user: User, organization: Organization) -> Client:
    client.force_login(user)
    return client


def test_the_deployment_form_refuses_a_price_the_catalog_cannot_hold(
    client_in: Client, organization: Organization
) -> None:
    response = client_in.post(
        reverse("prices:self_hosted_create"),
        {
            "organization": organization.pk,
            "name": "Llama",
            "gpu_hourly_cost": "99999999",
            "gpus_per_replica": "1",
            "input_tokens_per_second": "0.01",
            "output_tokens_per_second": "1000",
            "target_utilization": "50",  # percent (issue 19)
            "quantization": "int8",
            "throughput_multiplier": "1",
        },
    )
    assert response.status_code == 200  # the form again, with the error on the field
    assert "largest price the catalog holds" in response.content.decode()
    assert "input_tokens_per_second" in response.context["form"].errors
    assert not SelfHostedDeployment.objects.exists()


def test_the_import_page_reports_a_nul_character_and_writes_nothing(
    client_in: Client, organization: Organization, ai_models: Any
) -> None:
    sheet: PriceSheet = price_sheet_create(
        organization=organization, name="Deal", effective_from=dt.date(2026, 1, 1)
    )
    upload = SimpleUploadedFile("sheet.csv", (HEADER + "private,,,,acme,Acme\x00,1,2,,,\n").encode())
    response = client_in.post(
        reverse("prices:sheet_import", args=[sheet.pk]), {"file": upload, "format": "csv"}
    )
    assert response.status_code == 400
    assert "<td>2</td><td>name</td>" in response.content.decode()
    assert not sheet.entries.exists()


def test_a_stored_deployment_without_a_price_still_lists_and_opens(
    client_in: Client, organization: Organization
) -> None:
    deployment = self_hosted_create(
        organization=organization,
        data={
            "name": "legacy",
            "gpu_hourly_cost": Decimal("2"),
            "input_tokens_per_second": 1000.0,
            "output_tokens_per_second": 100.0,
        },
    )
    # Stored before the bounds existed (or by raw SQL): bypasses validation.
    SelfHostedDeployment.objects.filter(pk=deployment.pk).update(input_tokens_per_second=1e-300)
    listed = client_in.get(reverse("prices:self_hosted_list"))
    assert listed.status_code == 200 and "no price (parameters out of range" in listed.content.decode()
    detail = client_in.get(reverse("prices:self_hosted_detail", args=[deployment.pk]))
    assert detail.status_code == 200 and "No price" in detail.content.decode()
