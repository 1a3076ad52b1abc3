"""Schemathesis's stateful tests in the suite (issue 17): sequences of calls that create, read,
change and delete what earlier calls made (links inferred from the schema), in process through
the WSGI app, with every check, as a seeded organisation (``planner.devtools.fuzz``; the long
run is ``manage.py fuzz_api``, docs/RELIABILITY.md). Bounded by calls, with a fixed seed, and by
time as a backstop, so the test stays under a minute; CI runs it on PostgreSQL (``.ci/run``).
Then a regression test for each defect the stateful runs found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator

from planner.actuals.services import customer_tier_change
from planner.devtools.fuzz import fuzz_run, fuzz_schema, fuzz_seed
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from tests.api.conftest import KeyClient

CASES = 600
SECONDS = 25


@contextmanager
def keeping_the_test_connection() -> Iterator[None]:
    """Like Django's test client: the WSGI app must not close the test transaction's connection
    (the test client connects the signal again after each of its own requests)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_stateful_sequences_pass_every_check(
    priced_models: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    organization, _ = fuzz_seed(slug="stateful")
    with keeping_the_test_connection():
        schema = fuzz_schema()
        tally, seconds = fuzz_run(schema, organization=organization, cases=CASES, seconds=SECONDS, seed=17)
    with capsys.disabled():
        print(f"\nstateful schemathesis: {tally.cases} cases in {seconds:.0f} s; failures: {tally.failures}")
    assert tally.cases >= min(CASES, 100), "the state machine made too few calls to mean anything"
    assert not tally.failures, json.dumps(list(tally.examples.values()), indent=2)[:20_000]


# --- Defects the stateful runs found (regressions) ---------------------------------------------


def test_deleting_what_customers_tier_history_points_at_is_a_400_that_deletes_nothing(
    seeded: dict[str, Any], key_client: KeyClient
) -> None:
    """A live tier with customers, and so its product, was a 500 (``ProtectedError``)."""
    product = seeded["product"]
    pro = live_tiers(product).get(name="Pro")
    customer_tier_change(customer=seeded["customer"], tier=pro, effective_from=date(2026, 1, 1))
    message = "It cannot be deleted while other records refer to it (1 customer tier period)."
    for path in (f"tiers/{pro.pk}/", f"products/{product.pk}/"):
        response = key_client().delete(f"/api/v1/{path}")
        assert response.status_code == 400, response.content
        assert response.json()["errors"] == [{"field": None, "code": "protected", "message": message}]
    assert Tier.objects.filter(pk=pro.pk).exists() and Product.objects.filter(pk=product.pk).exists()


@pytest.mark.parametrize(
    ("path", "parameter"), [("runs", "status"), ("segments", "scenario"), ("tiers", "product")]
)
def test_a_filter_with_an_empty_value_is_a_400_on_it(
    key_client: KeyClient, organization: Any, path: str, parameter: str
) -> None:
    """``?status=`` was read as no filter, and ``?scenario=`` then listed every plan's segments."""
    response = key_client().get(f"/api/v1/{path}/", {parameter: ""})
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(parameter, "invalid")]


def test_the_schema_reads_an_empty_page_and_bounds_integers_as_postgresql_does() -> None:
    """``?page=`` is the first page (the schema said an integer); on SQLite a tier's subscribers
    of 2**31 passed validation and broke the column's range constraint (a 500)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = schema["paths"]["/api/v1/products/"]["get"]["parameters"]
    assert next(p for p in parameters if p["name"] == "page")["allowEmptyValue"] is True
    subscribers = schema["components"]["schemas"]["TierRequest"]["properties"]["subscribers"]
    assert (subscribers["minimum"], subscribers["maximum"]) == (0, 2**31 - 1)


def test_a_text_longer_than_its_limit_is_a_400_even_when_trimming_would_shorten_it(
    key_client: KeyClient, organization: Any
) -> None:
    """201 characters starting with U+001E (whitespace to Python) were trimmed to 200 and taken."""
    body = {"name": "\x1e" + "x" * 200, "effective_from": "2027-01-01"}
    response = key_client().post("/api/v1/price-sheets/", body, format="json")
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("name", "max_length")]
