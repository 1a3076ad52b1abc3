"""Price pages: catalog browser, price sheets and self-hosted deployments, scoped to the user's
organisations (another tenant's id is a 404)."""

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
from planner.prices.sheets import price_sheet_create
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

CSV = (
    "kind,provider,model,discount,slug,name,input_mtok,output_mtok,cache_read_mtok,cache_write_mtok,reasoning_mtok\n"
    "discount,openai,,0.2,,,,,,,\n"
)


@pytest.fixture
def client_in(client: Client, user: User, organization: Organization) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def sheet(organization: Organization) -> PriceSheet:
    return price_sheet_create(organization=organization, name="Deal", effective_from=dt.date(2026, 1, 1))


@pytest.fixture
def foreign_sheet(db: None) -> PriceSheet:
    return price_sheet_create(
        organization=OrganizationFactory.create(), name="Theirs", effective_from=dt.date(2026, 1, 1)
    )


def deployment_for(organization: Organization) -> SelfHostedDeployment:
    return self_hosted_create(
        organization=organization,
        data={
            "name": "Llama",
            "gpu_hourly_cost": Decimal("2"),
            "gpus_per_replica": 1,
            "input_tokens_per_second": 10000.0,
            "output_tokens_per_second": 1000.0,
            "target_utilization": 0.5,
        },
    )


def test_pages_require_login(client: Client, sheet: PriceSheet) -> None:
    for url in (
        reverse("prices:catalog"),
        reverse("prices:sheet_list"),
        reverse("prices:sheet_detail", args=[sheet.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_catalog_search_and_model_history(client_in: Client, priced_models: dict[str, Any]) -> None:
    response = client_in.get(reverse("prices:catalog"), {"q": "gpt-4o", "sort": "-output"})
    assert response.status_code == 200
    models = [m.slug for m in response.context["models"]]
    assert models == ["gpt-4o", "gpt-4o-mini"]  # dearest output first
    detail = client_in.get(reverse("prices:catalog_model", args=[priced_models["frontier"].pk]))
    assert detail.status_code == 200
    assert b"Standard price" in detail.content


def test_another_tenants_sheet_and_deployment_are_404(client_in: Client, foreign_sheet: PriceSheet) -> None:
    foreign_deployment = deployment_for(foreign_sheet.organization)
    for name, args in (
        ("prices:sheet_detail", [foreign_sheet.pk]),
        ("prices:sheet_edit", [foreign_sheet.pk]),
        ("prices:sheet_export", [foreign_sheet.pk, "csv"]),
        ("prices:self_hosted_detail", [foreign_deployment.pk]),
        ("prices:self_hosted_edit", [foreign_deployment.pk]),
    ):
        assert client_in.get(reverse(name, args=args)).status_code == 404, name
    upload = SimpleUploadedFile("sheet.csv", CSV.encode())
    response = client_in.post(
        reverse("prices:sheet_import", args=[foreign_sheet.pk]), {"file": upload, "format": "auto"}
    )
    assert response.status_code == 404
    assert not foreign_sheet.entries.exists()
    assert foreign_sheet.name not in client_in.get(reverse("prices:sheet_list")).content.decode()


def test_viewer_can_read_but_not_edit(client: Client, sheet: PriceSheet) -> None:
    viewer = UserFactory.create(username="victor")
    MembershipFactory.create(user=viewer, organization=sheet.organization, role="viewer")
    client.force_login(viewer)
    assert client.get(reverse("prices:sheet_detail", args=[sheet.pk])).status_code == 200
    assert client.get(reverse("prices:sheet_edit", args=[sheet.pk])).status_code == 404


def test_create_sheet_upload_csv_and_download(
    client_in: Client, organization: Organization, ai_models: Any
) -> None:
    response = client_in.post(
        reverse("prices:sheet_create"),
        {
            "organization": organization.pk,
            "name": "Deal",
            "effective_from": "2026-01-01",
            "effective_to": "",
            "notes": "",
        },
    )
    sheet = PriceSheet.objects.get(name="Deal")
    assert response.status_code == 302
    upload = SimpleUploadedFile("sheet.csv", CSV.encode())
    response = client_in.post(
        reverse("prices:sheet_import", args=[sheet.pk]), {"file": upload, "format": "auto"}
    )
    assert response.status_code == 302
    download = client_in.get(reverse("prices:sheet_export", args=[sheet.pk, "csv"]))
    assert download.content.decode() == CSV
    assert "20% off" in client_in.get(reverse("prices:sheet_detail", args=[sheet.pk])).content.decode()


def test_upload_with_bad_rows_shows_the_errors_and_writes_nothing(
    client_in: Client, sheet: PriceSheet, ai_models: Any
) -> None:
    bad = CSV + "discount,openai,gpt-4o,1.5,,,,,,,\nprivate,,,,p,,-1,1,,,\n"
    upload = SimpleUploadedFile("sheet.csv", bad.encode())
    response = client_in.post(
        reverse("prices:sheet_import", args=[sheet.pk]), {"file": upload, "format": "csv"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count('class="row-error"') == 2
    assert "<td>3</td><td>discount</td>" in page and "<td>4</td><td>input_mtok</td>" in page
    assert not sheet.entries.exists()


def test_add_entry_form_shows_field_errors(client_in: Client, sheet: PriceSheet, ai_models: Any) -> None:
    response = client_in.post(
        reverse("prices:sheet_entry_add", args=[sheet.pk]),
        {"kind": "discount", "provider": "openai", "discount": "200"},
    )
    assert response.status_code == 400
    assert "must be between 0 and 100%" in response.content.decode()
    response = client_in.post(
        reverse("prices:sheet_entry_add", args=[sheet.pk]),
        {"kind": "discount", "provider": "openai", "discount": "12.5"},  # percent (issue 19)
    )
    assert response.status_code == 302 and sheet.entries.get().discount == Decimal("0.125")


def test_self_hosted_pages_show_the_arithmetic_and_break_even(
    client_in: Client, organization: Organization, priced_models: dict[str, Any]
) -> None:
    response = client_in.post(
        reverse("prices:self_hosted_create"),
        {
            "organization": organization.pk,
            "name": "Llama",
            "gpu_hourly_cost": "2",
            "gpus_per_replica": "1",
            "input_tokens_per_second": "10000",
            "output_tokens_per_second": "1000",
            "target_utilization": "50",  # percent (issue 19)
            "quantization": "int8",
            "throughput_multiplier": "1",
        },
    )
    deployment = SelfHostedDeployment.objects.get(name="Llama")
    assert response.status_code == 302 and deployment.target_utilization == 0.5  # typed as 50%
    edit = client_in.get(reverse("prices:self_hosted_edit", args=[deployment.pk])).content.decode()
    assert 'name="target_utilization" value="50"' in edit
    page = client_in.get(
        reverse("prices:self_hosted_detail", args=[deployment.pk]),
        {"model": "openai/gpt-4o", "input_tokens": "3000", "output_tokens": "1000"},
    )
    text = page.content.decode()
    assert "$2 per hour / 18,000,000 tokens per hour x 1,000,000 = $0.111111 per million input tokens" in text
    assert page.context["break_even"].volume_tokens is not None
    assert "Self-hosting is cheaper from" in text
    unknown = client_in.get(
        reverse("prices:self_hosted_detail", args=[deployment.pk]),
        {"model": "nope/x", "input_tokens": "1", "output_tokens": "1"},
    )
    assert "No such catalog model" in unknown.content.decode()
    listing = client_in.get(reverse("prices:self_hosted_list")).content.decode()
    assert "0.111111" in listing
