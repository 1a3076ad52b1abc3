"""pricing.resolve: the catalog row it resolves is model_price_at's, scalar and in bulk; an
organisation's terms apply by date (a model's own discount before its provider's)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from pricing.catalog import CatalogImportReport, price_rows_from_genai
from pricing.custom import discounted_structure, private_model_structure
from pricing.models import AIModel
from pricing.resolve import (
    CATALOG_PRICES,
    Discount,
    OrganizationTerms,
    PriceResolver,
    PrivateModel,
    epoch_us,
    price_instant,
)
from pricing.selectors import PriceNotFound, model_price_at
from tests.pricing.support import instants_for, sample_models

JAN_1 = dt.date(2026, 1, 1)


def test_catalog_rows_are_model_price_at_scalar_and_in_bulk(catalog: CatalogImportReport) -> None:
    checked = 0
    for provider, genai_model in sample_models()[::8]:
        model = AIModel.objects.select_related("provider").get(
            provider__slug=provider.id, slug=genai_model.id
        )
        resolver = PriceResolver.load(model_ids=[model.pk], terms=CATALOG_PRICES)
        rows = price_rows_from_genai(genai_model)
        for variant in {row.variant for row in rows}:
            instants = sorted(set(instants_for([row for row in rows if row.variant == variant])))
            expected = [
                model_price_at(provider_slug=provider.id, model_slug=genai_model.id, at=at, variant=variant)
                for at in instants
            ]
            assert [resolver.catalog_row(model=model, at=at, variant=variant) for at in instants] == expected
            micros = np.array([epoch_us(at) for at in instants], dtype=np.int64)
            bulk = resolver.rows_at([(model.pk, variant)] * len(instants), instants, micros)
            assert bulk == expected
            checked += len(instants)
    assert checked > 100


def test_a_missing_price_raises_the_catalog_error(catalog: CatalogImportReport) -> None:
    model = AIModel.objects.select_related("provider").get(provider__slug="openai", slug="o3")
    resolver = PriceResolver.load(model_ids=[model.pk], terms=CATALOG_PRICES)
    with pytest.raises(PriceNotFound, match="no price variant 'service_tier=turbo'"):
        resolver.catalog_price(model=model, at=price_instant(JAN_1), variant="service_tier=turbo")


def _discount(model_id: int | None, rate: str, valid_to: dt.date | None = None) -> Discount:
    return Discount(
        provider_id=1, model_id=model_id, rate=Decimal(rate), valid_from=JAN_1, valid_to=valid_to, source={}
    )


def test_a_models_own_discount_wins_over_its_providers_within_the_sheet_dates() -> None:
    model = AIModel(pk=7, provider_id=1)
    terms = OrganizationTerms(discounts=(_discount(None, "0.2"), _discount(7, "0.3", dt.date(2026, 6, 30))))
    assert terms.discount_on(model=model, on=dt.date(2026, 3, 1)) == terms.discounts[1]
    assert terms.discount_on(model=model, on=dt.date(2026, 7, 1)) == terms.discounts[0]
    assert terms.discount_on(model=model, on=dt.date(2025, 12, 31)) is None
    assert terms.discount_on(model=AIModel(pk=8, provider_id=2), on=dt.date(2026, 3, 1)) is None


def test_discounts_scale_every_price_key_and_private_models_follow_their_sheet_dates(
    catalog: CatalogImportReport,
) -> None:
    model = AIModel.objects.select_related("provider").get(provider__slug="openai", slug="gpt-4o")
    private = private_model_structure(input_mtok=Decimal("0.6"), output_mtok=Decimal("2.4"))
    terms = OrganizationTerms(
        discounts=(
            Discount(
                provider_id=model.provider_id,
                model_id=None,
                rate=Decimal("0.2"),
                valid_from=JAN_1,
                valid_to=None,
                source={"price_sheet": "2026"},
            ),
        ),
        private_models=(
            PrivateModel(
                slug="acme",
                structure=private,
                valid_from=JAN_1,
                valid_to=dt.date(2026, 12, 31),
                source={"kind": "private"},
            ),
        ),
    )
    resolver = PriceResolver.load(model_ids=[model.pk], terms=terms)
    at = price_instant(dt.date(2026, 3, 1))
    price = resolver.catalog_price(model=model, at=at)
    assert price.structure == discounted_structure(price.row.structure, discount=Decimal("0.2"))  # type: ignore[union-attr]
    assert price.source == {"kind": "catalog", "price_sheet": "2026"}
    assert resolver.private_price(slug="acme", at=at).structure == private
    with pytest.raises(PriceNotFound):
        resolver.private_price(slug="acme", at=price_instant(dt.date(2027, 1, 1)))
    with pytest.raises(ValueError, match="list prices only"):
        resolver.rows_at([], [], np.array([], dtype=np.int64))
