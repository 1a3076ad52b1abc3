"""Model- and service-level bounds that keep hostile input out of the database (issue 17): a
self-hosted deployment whose derived $/Mtok the catalog's price columns cannot hold, and price
sheet files with NUL characters or lone surrogates. The web, the API and the CLI share them."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from planner.prices.self_hosted import self_hosted_create, self_hosted_update
from planner.prices.sheets import (
    ENTRY_COLUMNS,
    PriceSheetImportError,
    price_sheet_create,
    price_sheet_entries_import,
)
from pricing.selfhosted import MAX_MTOK

LLAMA = {
    "name": "Llama 3.1 70B",
    "gpu_hourly_cost": Decimal("2.50"),
    "gpus_per_replica": 2,
    "input_tokens_per_second": 5000.0,
    "output_tokens_per_second": 1000.0,
    "target_utilization": 0.6,
}
HEADER = ",".join(ENTRY_COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens_per_second", 1e-300, "Enter at least 0.01 (tokens per second)"),
        ("output_tokens_per_second", 5e-324, "Enter at least 0.01 (tokens per second)"),
        ("target_utilization", 1e-300, "Enter at least 0.01"),
        ("throughput_multiplier", 0.001, "Enter at least 0.01"),
    ],
)
def test_a_deployment_below_a_sane_floor_is_refused_on_its_field(
    organization: Organization, field: str, value: float, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        self_hosted_create(organization=organization, data={**LLAMA, field: value})
    assert list(caught.value.message_dict) == [field]
    assert message in caught.value.message_dict[field][0]
    assert not SelfHostedDeployment.objects.exists()


def test_the_price_bound_is_the_catalog_column_maximum(organization: Organization) -> None:
    """$36,000,000 an hour at 1 token/s is $1e10 per million tokens, just above the largest price
    the catalog's columns hold (MAX_MTOK); a millionth faster is just below it."""
    assert Decimal(10) ** 10 > MAX_MTOK > Decimal(10) ** 10 - 1
    hourly = {
        **LLAMA,
        "gpu_hourly_cost": Decimal("36000000"),
        "gpus_per_replica": 1,
        "target_utilization": 1.0,
    }
    deployment = self_hosted_create(
        organization=organization, data={**hourly, "input_tokens_per_second": 1.000001}
    )
    with pytest.raises(ValidationError) as caught:
        self_hosted_update(deployment=deployment, data={"input_tokens_per_second": 1.0})
    assert list(caught.value.message_dict) == ["input_tokens_per_second"]
    assert "largest price the catalog holds" in caught.value.message_dict["input_tokens_per_second"][0]
    deployment.refresh_from_db()
    assert deployment.input_tokens_per_second == 1.000001


def test_a_gpu_cost_that_makes_the_price_unstorable_names_the_throughput(organization: Organization) -> None:
    deployment = self_hosted_create(
        organization=organization, data={**LLAMA, "output_tokens_per_second": 0.01}
    )
    with pytest.raises(ValidationError) as caught:
        self_hosted_update(deployment=deployment, data={"gpu_hourly_cost": Decimal("99999999")})
    assert list(caught.value.message_dict) == ["output_tokens_per_second"]
    assert SelfHostedDeployment.objects.get().gpu_hourly_cost == Decimal("2.50")


@pytest.fixture
def sheet(organization: Organization) -> PriceSheet:
    return price_sheet_create(organization=organization, name="Deal", effective_from=dt.date(2026, 1, 1))


@pytest.mark.parametrize(
    ("content", "format", "line", "field"),
    [
        (HEADER + "private,,,,acme,Acme\x00Large,0.6,2.4,,,\n", "csv", 2, "name"),
        (HEADER + "discount,open\x00ai,,0.2,,,,,,,\n", "csv", 2, "provider"),
        (HEADER + "discount,openai,gpt\x00,0.2,,,,,,,\n", "csv", 2, "model"),
        (
            json.dumps(
                [{"kind": "private", "slug": "a", "name": "A\ud800", "input_mtok": 1, "output_mtok": 2}]
            ),
            "json",
            1,
            "name",
        ),
        (
            json.dumps([{"kind": "private", "slug": "a", "input_mtok": 1, "output_mtok": 2, "\ud800": 1}]),
            "json",
            1,
            "\\ud800",
        ),
        ("[" * 100_000 + "]" * 100_000, "json", 0, "file"),
    ],
)
def test_an_import_with_unstorable_text_is_a_row_error_and_writes_nothing(
    sheet: PriceSheet, ai_models: Any, content: str, format: Any, line: int, field: str
) -> None:
    with pytest.raises(PriceSheetImportError) as caught:
        price_sheet_entries_import(
            sheet=sheet,
            content=content.encode("utf-8", "surrogatepass") if format == "csv" else content,
            format=format,
        )
    assert [(e.line, e.field) for e in caught.value.errors] == [(line, field)]
    assert not PriceSheetEntry.objects.exists()
