"""model_price_at and catalog_search on the imported catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from genai_prices import data as genai_data

from pricing.catalog import CatalogImportReport, price_rows_from_genai, structure_from_genai
from pricing.models import AIModel
from pricing.selectors import PriceNotFound, catalog_search, model_price_at
from tests.pricing.support import instants_for, sample_models

pytestmark = pytest.mark.django_db

NOV_26 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_stored_prices_match_genai_get_prices_at_every_boundary(catalog: CatalogImportReport) -> None:
    # Every 4th sampled model keeps the database round trip (datetimes, times, JSON) under test.
    checked = 0
    for provider, model in sample_models()[::4]:
        rows = price_rows_from_genai(model)
        for variant, when in {row.variant: dict(row.when) for row in rows}.items():
            for at in set(instants_for([row for row in rows if row.variant == variant])):
                stored = model_price_at(
                    provider_slug=provider.id, model_slug=model.id, at=at, variant=variant
                )
                expected = structure_from_genai(model.get_prices(at, when or None))
                assert stored.structure == expected, (provider.id, model.id, variant, at)
                assert stored.when == when
                checked += 1
    assert checked > 1000


def test_variant_is_the_standard_price_with_the_variant_keys_overriding_it(
    catalog: CatalogImportReport,
) -> None:
    flex = model_price_at(provider_slug="openai", model_slug="o3", at=NOV_26, variant="service_tier=flex")
    before_flex = model_price_at(
        provider_slug="openai",
        model_slug="o3",
        at=datetime(2026, 10, 1, tzinfo=UTC),
        variant="service_tier=flex",
    )

    assert flex.when == {"service_tier": "flex"}
    assert flex.structure == {
        "input_mtok": "1",
        "cache_read_mtok": "0.25",
        "output_mtok": "4",
        "web_searches_kcount": "10",  # not set by the variant: inherited from the standard price
        "storage_searches_kcount": "2.5",
    }
    assert before_flex.structure["input_mtok"] == "2"  # flex prices start on 2026-10-12


def test_time_of_day_prices_read_instants_as_utc(catalog: CatalogImportReport) -> None:
    def input_price(at: datetime) -> str:
        row = model_price_at(provider_slug="deepseek", model_slug="deepseek-v4-flash", at=at)
        return row.structure["input_mtok"]

    assert input_price(datetime(2026, 11, 26, 2, 0)) == "0.3"  # naive = UTC, inside 01:00-04:00
    assert input_price(datetime(2026, 11, 26, 3, 30, tzinfo=timezone(timedelta(hours=2)))) == "0.3"  # 01:30Z
    assert input_price(datetime(2026, 11, 26, 4, 0, tzinfo=UTC)) == "0.15"  # window end is exclusive
    assert input_price(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)) == "0.15"


def test_price_not_found_says_what_is_missing(catalog: CatalogImportReport) -> None:
    with pytest.raises(PriceNotFound, match="No model 'gpt-nope' from provider 'openai'"):
        model_price_at(provider_slug="openai", model_slug="gpt-nope", at=NOV_26)
    with pytest.raises(PriceNotFound, match="has no price variant 'service_tier=turbo'.*'processing=batch'"):
        model_price_at(provider_slug="openai", model_slug="o3", at=NOV_26, variant="service_tier=turbo")


def test_price_not_found_on_an_empty_catalog_points_to_the_import() -> None:
    with pytest.raises(PriceNotFound, match="import_prices"):
        model_price_at(provider_slug="openai", model_slug="o3", at=NOV_26)


def test_catalog_search_matches_every_word_in_provider_or_model(catalog: CatalogImportReport) -> None:
    results = list(catalog_search(query="Anthropic sonnet", limit=100, at=NOV_26))

    assert "anthropic" in {model.provider.slug for model in results}
    for model in results:
        text = f"{model.provider.slug} {model.provider.name} {model.slug} {model.name}".lower()
        assert "anthropic" in text and "sonnet" in text


def test_catalog_search_puts_the_exact_model_first_and_respects_the_limit(
    catalog: CatalogImportReport,
) -> None:
    results = list(catalog_search(query="o3", limit=5, at=NOV_26))

    assert len(results) == 5
    assert results[0].slug == "o3"
    annotations = vars(results[0])
    assert annotations["current_input_mtok"] == 2 and annotations["current_output_mtok"] == 8


def test_catalog_search_hides_retired_models(catalog: CatalogImportReport) -> None:
    AIModel.objects.filter(provider__slug="anthropic", slug="claude-2").update(retired_at=NOV_26)

    found = {(m.provider.slug, m.slug) for m in catalog_search(query="claude-2", limit=50)}
    assert ("anthropic", "claude-2") not in found


def test_catalog_search_is_one_query_whatever_the_result_size(
    catalog: CatalogImportReport, django_assert_num_queries: Any
) -> None:
    # Speed is a benchmark (docs/BENCHMARKS.md), not a timed assertion; what the test pins is that
    # a search is a single query with its current prices annotated (no N+1 on the results).
    total_models = sum(len(provider.models) for provider in genai_data.providers)
    with django_assert_num_queries(1):
        everything = list(catalog_search(query="", limit=total_models))
    with django_assert_num_queries(1):
        some = list(catalog_search(query="llama instruct", limit=50))
    assert len(everything) == total_models and some


def test_catalog_search_rejects_a_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        catalog_search(query="gpt", limit=0)
