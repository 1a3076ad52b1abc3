"""Price sheets: validation with field-level messages, overlapping dates, CSV/JSON import with
row-level errors (nothing written on a bad row), exact export round trips, discounts in snapshots."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.prices.models import PriceSheet, PriceSheetEntry
from planner.prices.sheets import (
    ENTRY_COLUMNS,
    PriceSheetImportError,
    RowError,
    price_sheet_create,
    price_sheet_entries_export,
    price_sheet_entries_import,
    price_sheet_entry_add,
    price_sheet_entry_delete,
    price_sheet_update,
)
from planner.products.services import workload_create
from planner.simulation.models import Scenario
from planner.simulation.runs import run_create
from pricing.custom import discounted_structure
from tests.factories import OrganizationFactory

HEADER = ",".join(ENTRY_COLUMNS) + "\n"
GOOD_CSV = (
    HEADER
    + "discount,openai,,0.2,,,,,,,\n"
    + "discount,openai,gpt-4o,0.25,,,,,,,\n"
    + "private,,,,acme-large,Acme Large,0.6,2.4,0.15,,3\n"
)


@pytest.fixture
def sheet(organization: Organization, ai_models: dict[str, Any]) -> PriceSheet:
    return price_sheet_create(
        organization=organization, name="2026 contract", effective_from=dt.date(2026, 1, 1)
    )


def row(**cells: str) -> dict[str, str]:
    return {"kind": "discount", "provider": "openai", **cells}


@pytest.mark.parametrize(
    ("cells", "field", "message"),
    [
        ({"discount": "1.5"}, "discount", "fraction: 0.2 for 20 %"),
        ({"discount": "-0.1"}, "discount", "greater than or equal to 0"),
        ({"discount": "NaN"}, "discount", "number"),
        ({"discount": "Infinity"}, "discount", "number"),
        ({"discount": ""}, "discount", "Enter the discount"),
        ({"discount": "0.2", "provider": "nope"}, "provider", "No provider 'nope'"),
        ({"discount": "0.2", "model": "gpt-9"}, "model", "has no model 'gpt-9'"),
        ({"discount": "0.2", "input_mtok": "1"}, "input_mtok", "Only private models"),
        (
            {"kind": "private", "provider": "", "slug": "x", "input_mtok": "-1", "output_mtok": "1"},
            "input_mtok",
            "greater than or equal to 0",
        ),
        (
            {"kind": "private", "provider": "", "slug": "x", "input_mtok": "1"},
            "output_mtok",
            "needs input and output",
        ),
        ({"kind": "private", "provider": "", "input_mtok": "1", "output_mtok": "1"}, "slug", "needs a slug"),
        (
            {"kind": "private", "provider": "", "slug": "x", "input_mtok": "1", "output_mtok": "inf"},
            "output_mtok",
            "number",
        ),
        ({"kind": "rebate"}, "kind", "not a valid choice"),
    ],
)
def test_entry_validation_names_the_field(
    sheet: PriceSheet, cells: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        price_sheet_entry_add(sheet=sheet, row=row(**cells))
    assert message in " ".join(caught.value.message_dict[field])
    assert not sheet.entries.exists()


def test_sheet_dates_must_be_ordered(organization: Organization) -> None:
    with pytest.raises(ValidationError) as caught:
        price_sheet_create(
            organization=organization,
            name="x",
            effective_from=dt.date(2026, 2, 1),
            effective_to=dt.date(2026, 1, 1),
        )
    assert "effective_to" in caught.value.message_dict


def test_overlapping_sheets_may_not_price_the_same_provider(
    sheet: PriceSheet, organization: Organization
) -> None:
    price_sheet_entry_add(sheet=sheet, row=row(discount="0.2"))
    later = price_sheet_create(organization=organization, name="Renewal", effective_from=dt.date(2026, 6, 1))
    with pytest.raises(ValidationError) as caught:
        price_sheet_entry_add(sheet=later, row=row(discount="0.3"))
    assert "'2026 contract' (2026-01-01 to open-ended) already prices openai (all models)" in str(
        caught.value.message_dict["provider"]
    )
    # A model's own discount may coexist with its provider's, and closing the first sheet frees the dates.
    price_sheet_entry_add(sheet=later, row=row(discount="0.3", model="gpt-4o"))
    price_sheet_update(sheet=sheet, data={"effective_to": dt.date(2026, 5, 31)})
    price_sheet_entry_add(sheet=later, row=row(discount="0.3"))
    # Reopening the first sheet would now overlap: refused on the dates, nothing saved.
    with pytest.raises(ValidationError) as caught:
        price_sheet_update(sheet=sheet, data={"effective_to": None})
    assert "effective_from" in caught.value.message_dict
    sheet.refresh_from_db()
    assert sheet.effective_to == dt.date(2026, 5, 31)


def test_other_organisations_sheets_never_conflict(sheet: PriceSheet) -> None:
    other = price_sheet_create(
        organization=OrganizationFactory.create(), name="2026 contract", effective_from=dt.date(2026, 1, 1)
    )
    price_sheet_entry_add(sheet=sheet, row=row(discount="0.2"))
    price_sheet_entry_add(sheet=other, row=row(discount="0.1"))


def test_csv_import_writes_entries_and_export_round_trips_exactly(sheet: PriceSheet) -> None:
    summary = price_sheet_entries_import(sheet=sheet, content=GOOD_CSV.encode(), format="csv")
    assert (summary.created, summary.updated, summary.deleted) == (3, 0, 0)
    private = sheet.entries.get(kind="private")
    assert private.structure == {
        "input_mtok": "0.6",
        "output_mtok": "2.4",
        "cache_read_mtok": "0.15",
        "output_reasoning_mtok": "3",
    }
    exported = price_sheet_entries_export(sheet=sheet, format="csv")
    assert exported == GOOD_CSV
    as_json = price_sheet_entries_export(sheet=sheet, format="json")
    # JSON -> import -> JSON and CSV are unchanged; entries keep their ids (updated in place).
    ids = set(sheet.entries.values_list("id", flat=True))
    summary = price_sheet_entries_import(sheet=sheet, content=as_json, format="json")
    assert (summary.created, summary.updated, summary.deleted) == (0, 3, 0)
    assert set(sheet.entries.values_list("id", flat=True)) == ids
    assert price_sheet_entries_export(sheet=sheet, format="json") == as_json
    assert price_sheet_entries_export(sheet=sheet, format="csv") == GOOD_CSV
    assert json.loads(as_json)["entries"][0] == {
        "kind": "discount",
        "provider": "openai",
        "model": None,
        "discount": "0.2",
        "slug": None,
        "name": None,
        "input_mtok": None,
        "output_mtok": None,
        "cache_read_mtok": None,
        "cache_write_mtok": None,
        "reasoning_mtok": None,
    }


def test_a_bad_row_writes_nothing_and_every_error_has_line_field_and_reason(sheet: PriceSheet) -> None:
    price_sheet_entries_import(sheet=sheet, content=GOOD_CSV, format="csv")
    before = price_sheet_entries_export(sheet=sheet, format="csv")
    bad = (
        HEADER
        + "discount,openai,,0.5,,,,,,,\n"  # line 2: fine alone, would replace 0.2
        + "discount,openai,gpt-4o,1.2,,,,,,,\n"  # line 3: discount above 1
        + "private,,,,acme-large,,-0.6,NaN,,,\n"  # line 4: negative and NaN prices
        + "discount,openai,,0.1,,,,,,,\n"  # line 5: duplicate of line 2
    )
    with pytest.raises(PriceSheetImportError) as caught:
        price_sheet_entries_import(sheet=sheet, content=bad, format="csv")
    errors = caught.value.errors
    assert [(e.line, e.field) for e in errors] == [
        (3, "discount"),
        (4, "input_mtok"),
        (4, "output_mtok"),
        (5, "provider"),
    ]
    assert "Duplicate of line 2" in errors[-1].reason
    assert price_sheet_entries_export(sheet=sheet, format="csv") == before


def test_header_and_json_shape_errors(sheet: PriceSheet) -> None:
    with pytest.raises(PriceSheetImportError) as caught:
        price_sheet_entries_import(sheet=sheet, content="kind,price\n", format="csv")
    assert caught.value.errors == [RowError(1, "price", caught.value.errors[0].reason)]
    with pytest.raises(PriceSheetImportError) as caught:
        price_sheet_entries_import(
            sheet=sheet,
            content='{"entries": [{"kind": "discount", "provider": "openai", "discount": NaN}, 3]}',
            format="json",
        )
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "discount"), (2, "entry")]
    with pytest.raises(PriceSheetImportError) as caught:
        price_sheet_entries_import(sheet=sheet, content="{not json", format="json")
    assert caught.value.errors[0].field == "file"
    assert not sheet.entries.exists()


def test_json_numbers_are_read_exactly(sheet: PriceSheet) -> None:
    content = '[{"kind": "private", "slug": "p", "input_mtok": 0.1, "output_mtok": 0.3}]'
    price_sheet_entries_import(sheet=sheet, content=content, format="json")
    assert sheet.entries.get().input_mtok == Decimal("0.1")


def test_a_private_model_in_use_cannot_be_removed(sheet: PriceSheet, product: Any) -> None:
    price_sheet_entries_import(sheet=sheet, content=GOOD_CSV, format="csv")
    private = sheet.entries.get(kind="private")
    workload_create(
        product=product,
        name="Private chat",
        credits_per_request=1.0,
        input_tokens_median=100.0,
        input_tokens_p90=200.0,
        output_tokens_median=50.0,
        output_tokens_p90=80.0,
        models=[(private, 1.0)],
    )
    with pytest.raises(ValidationError, match="Private chat"):
        price_sheet_entry_delete(entry=private)
    with pytest.raises(PriceSheetImportError) as caught:
        price_sheet_entries_import(
            sheet=sheet, content=HEADER + "discount,openai,,0.2,,,,,,,\n", format="csv"
        )
    assert caught.value.errors[0].line == 0 and "private/acme-large" in caught.value.errors[0].reason
    assert sheet.entries.count() == 3


def test_a_private_model_of_another_organisation_is_refused(product: Any) -> None:
    foreign = price_sheet_create(
        organization=OrganizationFactory.create(), name="Theirs", effective_from=dt.date(2026, 1, 1)
    )
    entry = price_sheet_entry_add(
        sheet=foreign, row={"kind": "private", "slug": "theirs", "input_mtok": "1", "output_mtok": "1"}
    )
    with pytest.raises(ValidationError, match="another organisation"):
        workload_create(
            product=product,
            name="Stolen",
            credits_per_request=1.0,
            input_tokens_median=100.0,
            input_tokens_p90=200.0,
            output_tokens_median=50.0,
            output_tokens_p90=80.0,
            models=[(entry, 1.0)],
        )


def test_snapshot_applies_the_discount_in_force_on_the_price_date_and_records_it(
    scenario: Scenario, organization: Organization
) -> None:
    sheet = price_sheet_create(
        organization=organization,
        name="Negotiated",
        effective_from=scenario.price_date - dt.timedelta(days=1),
    )
    provider_wide = price_sheet_entry_add(sheet=sheet, row=row(discount="0.2"))
    own = price_sheet_entry_add(sheet=sheet, row=row(discount="0.25", model="gpt-4o"))
    snapshot = run_create(scenario=scenario).snapshot
    chat = {m["key"]: m for m in snapshot["workloads"][0]["models"]}
    mini, frontier = chat["openai/gpt-4o-mini"], chat["openai/gpt-4o"]
    assert mini["source"] == {
        "kind": "catalog",
        "price_sheet_id": sheet.pk,
        "price_sheet": "Negotiated",
        "price_sheet_entry_id": provider_wide.pk,
        "discount": "0.2",
    }
    assert frontier["source"]["price_sheet_entry_id"] == own.pk and frontier["source"]["discount"] == "0.25"
    from pricing.models import ModelPrice

    list_price = ModelPrice.objects.get(pk=mini["price_id"]).structure
    assert mini["structure"] == discounted_structure(list_price, discount=Decimal("0.2"))
    if mini["batch"]:
        batch_list = ModelPrice.objects.get(pk=mini["batch"]["price_id"]).structure
        assert mini["batch"]["structure"] == discounted_structure(batch_list, discount=Decimal("0.2"))
    # A sheet that starts after the price date does not apply.
    price_sheet_update(sheet=sheet, data={"effective_from": scenario.price_date + dt.timedelta(days=1)})
    later = run_create(scenario=scenario).snapshot
    assert later["workloads"][0]["models"][0]["source"] == {"kind": "catalog"}


def test_entry_kind_constraint_holds_in_the_database(sheet: PriceSheet) -> None:
    from django.db import IntegrityError, transaction

    with transaction.atomic(), pytest.raises(IntegrityError):
        PriceSheetEntry.objects.create(sheet=sheet, kind="private", slug="", input_mtok=1, output_mtok=1)
    with transaction.atomic(), pytest.raises(IntegrityError):
        PriceSheetEntry.objects.create(sheet=sheet, kind="private", slug="x", input_mtok=-1, output_mtok=1)
