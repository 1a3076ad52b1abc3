"""Catalog prices with their units (issue 19): "$0.15 / 1M tokens", significant digits kept
($0.075 never rounds to $0.08), column headers naming the unit; and the Prices navigation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from planner.accounts.models import Membership, Organization
from planner.templatetags.prices import per_krequests, per_mtok, unit_price
from pricing.models import ModelPrice


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("2.5000000000"), "$2.50"),
        (Decimal("0.0750000000"), "$0.075"),
        (Decimal("0.36975"), "$0.36975"),
        (Decimal("8"), "$8.00"),
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("0"), "$0.00"),
        (0.1111111111111, "$0.111111"),  # a computed float: six significant digits
        (None, ""),
    ],
)
def test_unit_prices_keep_their_significant_digits(value: Any, shown: str) -> None:
    assert unit_price(value) == shown


def test_prices_carry_their_unit() -> None:
    assert per_mtok(Decimal("0.075")) == "$0.075 / 1M tokens"
    assert per_krequests(Decimal("10")) == "$10.00 / 1K requests"
    assert per_mtok(None) == ""


@pytest.mark.django_db
def test_the_catalog_shows_prices_per_million_tokens_with_units(
    signed_in: Client, priced_models: dict[str, Any]
) -> None:
    mini = ModelPrice.objects.get(model__slug="gpt-4o-mini", variant="", effective_to__isnull=True)
    html = signed_in.get("/prices/catalog/", {"q": "gpt-4o-mini"}).content.decode()
    row = html[html.index(">gpt-4o-mini</a>") :].split("</tr>")[0]
    cells = [
        per_mtok(mini.input_mtok),
        per_mtok(mini.cache_read_mtok),
        per_mtok(mini.output_mtok),
    ]
    assert [cell in row for cell in cells] == [True, True, True]
    assert "$0.075 / 1M tokens" in row  # gpt-4o-mini's cached input, not rounded to cents
    assert "Input, $ per 1M tokens" in html and "Cached input, $ per 1M tokens" in html
    history = signed_in.get(f"/prices/catalog/models/{mini.model_id}/").content.decode()
    assert "$0.075<" in history and "Cached input (cache read), $ per 1M tokens" in history


@pytest.mark.django_db
def test_viewers_get_the_prices_navigation_without_new_buttons(
    client: Client, organization: Organization, priced_models: dict[str, Any]
) -> None:
    viewer = get_user_model().objects.create_user("vic", password="pw")
    Membership.objects.create(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    for url in ("/prices/catalog/", "/prices/sheets/", "/prices/self-hosted/"):
        html = client.get(url).content.decode()
        assert 'aria-label="Prices"' in html and 'href="/prices/self-hosted/"' in html, url
        assert "New price sheet" not in html and "New deployment" not in html, url
