"""Fixtures for the pricing tests."""

from __future__ import annotations

import pytest

from pricing.catalog import CatalogImportReport, catalog_import
from tests.pricing.support import IMPORT_NOW


@pytest.fixture
def catalog(db: None) -> CatalogImportReport:
    """The bundled genai-prices catalog, imported into the test database."""
    return catalog_import(now=IMPORT_NOW)
