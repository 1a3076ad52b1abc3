"""Hostile-input sweep over the Stripe, Metronome and Orb compatibility endpoints (the API's
sweep, ``tests/api/test_hostile_sweep.py``, covers the schema's operations; these are not in it).

Each endpoint first accepts a valid request; then each input changes one thing of it: bodies
that are not JSON (or not a form), not UTF-8, nested too deeply, over the size limit, of another
content type; fields with NaN and infinities, numbers beyond a float, NUL, lone UTF-16
surrogates, impossible and extreme dates, wrong types and long strings; bad credentials and
methods. Never a 5xx. An all-or-nothing endpoint (Stripe v1, Metronome) refuses with a 4xx in
the vendor's error shape and writes nothing. A partial one (Stripe v2's stream, Orb) refuses a
malformed request the same way, and answers a hostile *event* 200 with the event listed (an
ingestion error, Orb's ``validation_failed``) and no usage written. Each input is a subtest in a
savepoint rolled back after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from planner.accounts.models import IdempotencyKey
from planner.actuals.compat.models import IngestionError, MeterEventSession
from planner.actuals.compat.sessions import meter_event_session_create
from planner.actuals.models import Customer, CustomerMonth, UsageRecord
from tests.api.hostile import JSON, Raw, dumps, with_path
from tests.compat.conftest import WHEN, CompatSetup

FORM = "application/x-www-form-urlencoded"
STAMP = WHEN.isoformat().replace("+00:00", "Z")
OVERSIZED = b"[" + b"0," * (settings.API_MAX_BODY_BYTES // 2 + 1) + b"0]"
DEEP = b"[" * 100_000 + b"]" * 100_000

#: Hostile values of a token count, a text and a timestamp.
COUNTS = (
    "NaN",
    "Infinity",
    "-1",
    "1e400",
    Raw("1e400"),
    Raw("NaN"),
    1e308,
    2**63,
    True,
    {"v": 1},
    [1],
    "1.5",
)
TEXTS = ("a\x00b", "a\ud800b", ["x"], {"x": 1}, "x" * 100_000, "")
TIMES = ("9999-12-31T23:59:59-14:00", "2025-02-30T00:00:00Z", "NaN", 20250101, "0001-01-01T00:00:00Z", "")


@dataclass(frozen=True)
class Input:
    label: str
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] | None = None  # replaces the endpoint's credentials
    method: str = "post"
    event_level: bool = False  # a partial endpoint answers it 200, listing the event


@dataclass(frozen=True)
class VendorEndpoint:
    path: str
    base: Callable[[], Any]  # a body the endpoint accepts (a form is a str)
    events_at: str  # the path of the first event in the body ("" for a form)
    fields: dict[str, tuple[Any, ...]]  # event field path -> hostile values
    shape: Callable[[Any], None]  # asserts the vendor's error shape
    partial: bool = False
    session: bool = False  # authenticated by a Stripe meter-event session


def stripe_shape(response: Any) -> None:
    error = response.json()["error"]
    assert isinstance(error["type"], str) and isinstance(error["message"], str) and error["message"]
    assert response["Stripe-Should-Retry"] == "false"


def metronome_shape(response: Any) -> None:
    assert isinstance(response.json()["message"], str) and response.json()["message"]
    assert response.status_code == 429 or response["x-should-retry"] == "false"


def orb_shape(response: Any) -> None:
    body = response.json()
    assert body["status"] == response.status_code and body["type"].startswith("https://docs.withorb.com/")
    assert isinstance(body["detail"], str) and body["detail"]
    assert response.status_code == 429 or response["x-should-retry"] == "false"


def stripe_event() -> dict[str, Any]:
    return {
        "event_name": "llm_tokens",
        "identifier": "id-1",
        "timestamp": STAMP,
        "payload": {"stripe_customer_id": "cus_A", "value": "10", "model": "gpt-4o", "token_type": "input",
                    "tier": "Pro"},
    }  # fmt: skip


def usage_event(key: str, customer: str) -> dict[str, Any]:
    return {
        key: "t-1",
        customer: "cus_A",
        "event_type" if key == "transaction_id" else "event_name": "llm_usage",
        "timestamp": STAMP if key == "transaction_id" else STAMP.rstrip("Z"),
        "properties": {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 2, "tier": "Pro"},
    }


STRIPE_FORM = (
    "event_name=llm_tokens&identifier=id-1&timestamp=1749722400&payload[stripe_customer_id]=cus_A"
    "&payload[value]=10&payload[model]=gpt-4o&payload[token_type]=input&payload[tier]=Pro"
)
ENDPOINTS = {
    "stripe v1": VendorEndpoint(
        "/compat/stripe/v1/billing/meter_events",
        lambda: STRIPE_FORM,
        "",
        {"payload[value]": COUNTS[:4], "timestamp": ("NaN", "1e9", "99999999999999", ""),
         "identifier": ("%00", "%ED%A0%80", "x" * 101), "payload[model]": ("acme/none", "%00")},
        stripe_shape,
    ),
    "stripe v2 stream": VendorEndpoint(
        "/compat/stripe/v2/billing/meter_event_stream",
        lambda: {"events": [stripe_event()]},
        "events[0]",
        {"payload.value": COUNTS, "timestamp": TIMES, "identifier": TEXTS[:5], "payload.model": TEXTS,
         "payload": ("x", [1], {"nested": {"a": 1}})},
        stripe_shape,
        partial=True,
        session=True,
    ),
    "metronome": VendorEndpoint(
        "/compat/metronome/v1/ingest",
        lambda: [usage_event("transaction_id", "customer_id")],
        "[0]",
        {"properties.input_tokens": COUNTS, "timestamp": TIMES, "transaction_id": TEXTS,
         "customer_id": TEXTS, "properties": ("x", [1], {"nested": {"a": 1}})},
        metronome_shape,
    ),
    "orb": VendorEndpoint(
        "/compat/orb/ingest",
        lambda: {"events": [usage_event("idempotency_key", "external_customer_id")]},
        "events[0]",
        {"properties.input_tokens": COUNTS, "timestamp": TIMES, "idempotency_key": TEXTS,
         "external_customer_id": TEXTS, "properties": ("x", [1], {"nested": {"a": 1}})},
        orb_shape,
        partial=True,
    ),
}  # fmt: skip


def inputs(endpoint: VendorEndpoint) -> list[Input]:
    base = endpoint.base()
    found: list[Input] = [
        Input("not UTF-8", b'{"events": "\xff\xfe"}'),
        Input("nested 100,000 deep", DEEP),
        Input("over the size limit", OVERSIZED),
        Input("text/plain", b"{}", "text/plain"),
        Input("no credentials", b"{}", headers={}),
        Input("another scheme", b"{}", headers={"HTTP_AUTHORIZATION": "Basic eDp5"}),
        Input("a bearer of three words", b"{}", headers={"HTTP_AUTHORIZATION": "Bearer a b"}),
        Input("a bearer not ASCII", b"{}", headers={"HTTP_AUTHORIZATION": "Bearer \xe9t\xe9"}),
        Input("GET", b"", method="get"),
        Input("PUT", b"{}", method="put"),
    ]
    if isinstance(base, str):  # a form
        found += [Input("JSON", dumps({"event_name": "x"}), JSON)]
        for name, values in endpoint.fields.items():
            for value in values:
                form = "&".join(
                    f"{name}={value}" if part.startswith(f"{name}=") else part for part in base.split("&")
                )
                if f"{name}=" not in base:
                    form += f"&{name}={value}"
                found.append(Input(f"{name}={str(value)[:30]}", form.encode(), FORM))
        return found
    found += [
        Input("malformed JSON", b'{"events": '),
        Input("NaN literal", b'{"events": [NaN]}'),
        Input("form-encoded", b"events=1", FORM),
        Input("an object for the list", dumps({"x": 1})),
        Input("no events", dumps({"events": []} if isinstance(base, dict) else [])),
    ]
    for name, values in endpoint.fields.items():
        for value in values:
            body = dumps(with_path(base, f"{endpoint.events_at}.{name}".lstrip("."), value))
            label = f"{name}={value.text if isinstance(value, Raw) else repr(value)[:30]}"
            found.append(Input(label, body, event_level=True))
    return found


def with_environ(environ: dict[str, str]) -> Client:
    """A client sending ``environ`` (credentials) with each request, and nothing else."""
    client = Client()
    client.defaults.update(environ)
    return client


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (UsageRecord, CustomerMonth, Customer, IngestionError, MeterEventSession, IdempotencyKey)
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_hostile_input_is_refused_in_the_vendors_shape_without_a_server_error_or_a_write(
    name: str, compat: CompatSetup, subtests: Any
) -> None:
    endpoint = ENDPOINTS[name]
    credential = meter_event_session_create(api_key=compat.api_key)[1] if endpoint.session else compat.key
    client = Client(HTTP_AUTHORIZATION=f"Bearer {credential}")
    base = endpoint.base()
    with transaction.atomic():
        body = base.encode() if isinstance(base, str) else dumps(base)
        accepted = client.post(endpoint.path, body, content_type=FORM if isinstance(base, str) else JSON)
        assert accepted.status_code == 200, accepted.content[:2000]
        assert not (accepted.content and accepted.json().get("validation_failed"))
        assert UsageRecord.objects.count() == 1
        transaction.set_rollback(True)
    for hostile in inputs(endpoint):
        with subtests.test(msg=f"{name} <- {hostile.label}"), transaction.atomic():
            before = counts()
            sender = client if hostile.headers is None else with_environ(hostile.headers)
            try:
                response = getattr(sender, hostile.method)(
                    endpoint.path, hostile.body, content_type=hostile.content_type
                )
            except Exception as error:  # the test client re-raises what the view raised: a 500
                pytest.fail(f"server error: {error!r}"[:2000])
            status = response.status_code
            assert status < 500, response.content[:2000]
            after = counts()
            if endpoint.partial and hostile.event_level and status == 200:
                assert after["UsageRecord"] == before["UsageRecord"], "a hostile event was stored"
                assert after["IngestionError"] == before["IngestionError"] + 1, "the event was not listed"
                if name == "orb":
                    assert len(response.json()["validation_failed"]) == 1
            else:
                assert 400 <= status < 500, (status, response.content[:2000])
                endpoint.shape(response)
                assert after == before, "a refused request changed the row counts"
            transaction.set_rollback(True)
