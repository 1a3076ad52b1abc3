"""catalog_import: the whole bundled catalog, idempotent, with price history kept across upgrades."""

from __future__ import annotations

import copy
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, F
from genai_prices import data as genai_data
from genai_prices import types as genai

from pricing.catalog import CatalogImportReport, catalog_import, price_rows_from_genai
from pricing.models import AIModel, ModelPrice, Provider
from pricing.selectors import PriceNotFound, model_price_at
from tests.pricing.support import IMPORT_NOW

pytestmark = pytest.mark.django_db

JUNE_10_2025 = datetime(2025, 6, 10, tzinfo=UTC)


def _snapshot() -> tuple[list[dict[str, Any]], ...]:
    return (
        [dict(row) for row in Provider.objects.order_by("id").values()],
        [dict(row) for row in AIModel.objects.order_by("id").values()],
        [dict(row) for row in ModelPrice.objects.order_by("id").values()],
    )


def _standard_history(
    provider: str, model: str
) -> list[tuple[datetime | None, datetime | None, Decimal | None]]:
    rows = ModelPrice.objects.filter(
        model__provider__slug=provider, model__slug=model, variant="", start_time__isnull=True
    ).order_by(F("effective_from").asc(nulls_first=True))
    return [(row.effective_from, row.effective_to, row.input_mtok) for row in rows]


def test_import_loads_every_provider_and_model_the_package_ships() -> None:
    started = time.perf_counter()
    report = catalog_import(now=IMPORT_NOW)
    elapsed = time.perf_counter() - started

    package_models = {provider.id: len(provider.models) for provider in genai_data.providers}
    package_rows = sum(
        len(price_rows_from_genai(model)) for provider in genai_data.providers for model in provider.models
    )
    assert len(package_models) == 47 and sum(package_models.values()) == 2330  # genai-prices 0.2.3
    assert Provider.objects.count() == len(package_models) == report.providers.created
    assert AIModel.objects.count() == sum(package_models.values()) == report.models.created
    stored_per_provider = dict(
        AIModel.objects.values("provider__slug").annotate(n=Count("id")).values_list("provider__slug", "n")
    )
    assert stored_per_provider == package_models
    assert ModelPrice.objects.count() == package_rows == report.prices.created
    # Every priced model's history is new: changed from the beginning.
    assert report.price_changes == dict.fromkeys(ModelPrice.objects.values_list("model_id", flat=True))
    # Every model has a standard price.
    assert not AIModel.objects.exclude(
        id__in=ModelPrice.objects.filter(variant="").values("model_id")
    ).exists()
    assert elapsed < 20, f"import took {elapsed:.1f} s"


def test_second_import_changes_nothing(catalog: CatalogImportReport) -> None:
    before = _snapshot()

    report = catalog_import(now=IMPORT_NOW + timedelta(days=1))

    assert not report.changed and report.price_changes == {}
    assert report.prices.unchanged == ModelPrice.objects.count()
    assert report.models.unchanged == AIModel.objects.count()
    assert _snapshot() == before


def test_dated_price_change_is_kept_as_history(catalog: CatalogImportReport) -> None:
    # openai o3 went from $10/$40 to $2/$8 per million tokens on 2025-06-10.
    assert _standard_history("openai", "o3") == [
        (None, JUNE_10_2025, Decimal("10")),
        (JUNE_10_2025, None, Decimal("2")),
    ]
    just_before = model_price_at(
        provider_slug="openai", model_slug="o3", at=JUNE_10_2025 - timedelta(seconds=1)
    )
    on_the_day = model_price_at(provider_slug="openai", model_slug="o3", at=JUNE_10_2025)
    assert just_before.structure["output_mtok"] == "40"
    assert on_the_day.structure["output_mtok"] == "8"


def test_upgrade_adds_new_prices_and_closes_disappeared_ones_without_deleting(
    catalog: CatalogImportReport,
) -> None:
    upgraded = copy.deepcopy(genai_data.providers)
    openai = next(provider for provider in upgraded if provider.id == "openai")
    o3 = next(model for model in openai.models if model.id == "o3")
    assert isinstance(o3.prices, list)
    o3.prices.append(
        genai.ConditionalPrice(
            constraint=genai.StartDateConstraint(start_date=date(2027, 1, 1)),
            prices=genai.ModelPrice(
                input_mtok=Decimal("1.5"), cache_read_mtok=Decimal("0.4"), output_mtok=Decimal("6")
            ),
        )
    )
    corrected = next(
        m for m in openai.models if isinstance(m.prices, genai.ModelPrice) and not m.price_variants
    )
    corrected.prices = genai.ModelPrice(input_mtok=Decimal("123"), output_mtok=Decimal("456"))
    anthropic = next(provider for provider in upgraded if provider.id == "anthropic")
    anthropic.models = [model for model in anthropic.models if model.id != "claude-2"]
    rows_before = ModelPrice.objects.count()
    upgrade_at = IMPORT_NOW + timedelta(days=30)

    report = catalog_import(now=upgrade_at, providers=upgraded)

    assert report.models.closed == 1 and report.models.unchanged == 2329
    # Each changed history, from the instant it changed: o3 from its new 2027 price, the
    # dropped claude-2 from its closing, the corrected undated price from the beginning.
    ids = {(p, m): i for p, m, i in AIModel.objects.values_list("provider__slug", "slug", "id")}
    assert report.price_changes == {
        ids["openai", "o3"]: datetime(2027, 1, 1, tzinfo=UTC),
        ids["anthropic", "claude-2"]: upgrade_at,
        ids["openai", corrected.id]: None,
    }
    assert ModelPrice.objects.count() == rows_before + report.prices.created
    # A later dated price closes the one before it.
    jan_2027 = datetime(2027, 1, 1, tzinfo=UTC)
    assert _standard_history("openai", "o3") == [
        (None, JUNE_10_2025, Decimal("10")),
        (JUNE_10_2025, jan_2027, Decimal("2")),
        (jan_2027, None, Decimal("1.5")),
    ]
    # A dropped model is retired and its prices closed at the upgrade, but still answer for the past.
    claude_2 = AIModel.objects.get(provider__slug="anthropic", slug="claude-2")
    assert claude_2.retired_at == upgrade_at
    assert set(claude_2.prices.values_list("effective_to", "retired_at")) == {(upgrade_at, upgrade_at)}
    past = model_price_at(provider_slug="anthropic", model_slug="claude-2", at=IMPORT_NOW)
    assert past.structure == {"input_mtok": "8", "output_mtok": "24"}
    with pytest.raises(PriceNotFound):
        model_price_at(provider_slug="anthropic", model_slug="claude-2", at=upgrade_at + timedelta(days=1))
    # A corrected undated price: the old row is closed, the package's current price answers.
    old = ModelPrice.objects.get(
        model__slug=corrected.id, model__provider__slug="openai", retired_at__isnull=False
    )
    assert old.effective_to == upgrade_at
    now_price = model_price_at(
        provider_slug="openai", model_slug=corrected.id, at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert now_price.structure == {"input_mtok": "123", "output_mtok": "456"}

    assert not catalog_import(now=upgrade_at + timedelta(days=1), providers=upgraded).changed

    # Going back to the bundled data revives what was retired and keeps every row.
    rows_upgraded = ModelPrice.objects.count()
    restored = catalog_import(now=upgrade_at + timedelta(days=2))
    assert restored.models.updated == 1
    assert ModelPrice.objects.count() == rows_upgraded + restored.prices.created
    assert AIModel.objects.get(pk=claude_2.pk).retired_at is None
    assert model_price_at(provider_slug="anthropic", model_slug="claude-2", at=upgrade_at + timedelta(days=3))
    assert not catalog_import(now=upgrade_at + timedelta(days=3)).changed


def test_import_prices_command_prints_the_report() -> None:
    first, second = StringIO(), StringIO()

    call_command("import_prices", stdout=first)
    call_command("import_prices", stdout=second)

    assert "models:    2330 created" in first.getvalue()
    assert "Nothing changed." in second.getvalue()
