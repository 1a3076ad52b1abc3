"""The real ``lago-python-client`` SDK against a live server: ``Client(api_key=KEY,
api_url=BASE + "/compat/lago/")``, one event per token type (codes llm_input_tokens...)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.event import BatchEvent, Event

from planner.actuals.models import Customer, UsageRecord
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, total_cost
from tests.compat.http_log import requests_to

pytestmark = pytest.mark.django_db(transaction=True)
PREFIX = "/compat/lago/"
SECONDS = str(int(WHEN.timestamp()))


@pytest.fixture
def base(live_server: Any) -> str:
    return f"{live_server.url}{PREFIX}"


@pytest.fixture
def client(base: str, compat: CompatSetup) -> Client:
    return Client(api_key=compat.key, api_url=base, max_retries=0)


def event(transaction_id: str, code: str, value: int, *, customer: str = "sub-1", **properties: Any) -> Event:
    return Event(
        transaction_id=transaction_id,
        external_subscription_id=customer,
        code=code,
        timestamp=SECONDS,
        precise_total_amount_cents=None,
        properties={
            "value": str(value),
            "model": "gpt-4o",
            "provider": "openai",
            "tier": "Pro",
            **properties,
        },
    )


def test_events_are_stored_and_priced_like_the_native_records(
    client: Client, compat: CompatSetup, native_twin: NativeTwin
) -> None:
    echoed = client.events.create(event("c1-in", "llm_input_tokens", 1000))
    assert echoed is not None
    assert (echoed.transaction_id, echoed.code, echoed.external_subscription_id) == (
        "c1-in",
        "llm_input_tokens",
        "sub-1",
    )
    assert echoed.timestamp == "2025-06-12T10:00:00Z" and (echoed.properties or {})["value"] == "1000"
    batch = BatchEvent(
        events=[
            event("c1-cached", "llm_cached_input_tokens", 400),
            event("c1-out", "llm_output_tokens", 200),
            event("c1-reason", "llm_reasoning_tokens", 50),
        ]
    )
    client.events.batch_create(batch)
    records = UsageRecord.objects.filter(organization=compat.organization)
    assert sorted(
        (r.event_id, r.input_tokens, r.cached_tokens, r.output_tokens, r.requests) for r in records
    ) == [
        ("lago::c1-cached", 400, 400, 0, 0),
        ("lago::c1-in", 1000, 0, 0, 1),
        ("lago::c1-out", 0, 0, 200, 0),
        ("lago::c1-reason", 0, 0, 50, 0),
    ]
    customer = Customer.objects.get(organization=compat.organization)
    assert (customer.external_id, customer.tier_periods.get().tier.name) == ("sub-1", "Pro")
    native_twin.send(
        [
            {
                "event_id": "c1",
                "customer": "sub-1",
                "tier": "Pro",
                "timestamp": WHEN.isoformat(),
                "model": "openai/gpt-4o",
                "input_tokens": 1400,
                "cached_tokens": 400,
                "output_tokens": 250,
                "reasoning_tokens": 50,
            }
        ]
    )
    assert total_cost(compat.organization) == total_cost(native_twin.organization)
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)


def test_a_repeated_send_is_counted_once(client: Client, compat: CompatSetup) -> None:
    first = event("t1", "llm_input_tokens", 10)
    client.events.create(first)
    assert client.events.create(first) is not None
    client.events.batch_create(BatchEvent(events=[first, event("t2", "llm_output_tokens", 3)]))
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 2


def test_a_reused_transaction_id_is_lagos_value_already_exist(client: Client, compat: CompatSetup) -> None:
    client.events.create(event("t1", "llm_input_tokens", 10))
    with pytest.raises(LagoApiError) as single:
        client.events.create(event("t1", "llm_input_tokens", 11))
    assert single.value.status_code == 422
    assert single.value.response == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"transaction_id": ["value_already_exist"]},
    }
    with pytest.raises(LagoApiError) as batch:
        client.events.batch_create(
            BatchEvent(events=[event("t2", "llm_input_tokens", 5), event("t1", "llm_input_tokens", 12)])
        )
    assert batch.value.response["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}
    assert list(UsageRecord.objects.values_list("event_id", "input_tokens")) == [("lago::t1", 10)]


def test_an_unknown_model_is_a_422_not_retried(base: str, compat: CompatSetup) -> None:
    sdk = Client(api_key=compat.key, api_url=base)  # default: 3 retries on 429
    with requests_to(PREFIX) as seen, pytest.raises(LagoApiError) as raised:
        sdk.events.batch_create(
            BatchEvent(
                events=[event("a", "llm_input_tokens", 5), event("b", "llm_input_tokens", 5, model="gpt-9")]
            )
        )
    assert (raised.value.status_code, len(seen)) == (422, 1)
    details = raised.value.response["error_details"]
    assert list(details) == ["1"] and "gpt-9" in details["1"]["properties.model"][0]
    assert raised.value.response["code"] == "validation_errors"
    assert not UsageRecord.objects.exists()


def test_a_new_customer_without_a_tier_is_refused_naming_it(client: Client) -> None:
    with pytest.raises(LagoApiError) as raised:
        client.events.create(event("t1", "llm_input_tokens", 10, customer="sub-new", tier=None))
    (reason,) = raised.value.response["error_details"]["external_subscription_id"]
    assert "'sub-new'" in reason


def test_another_organisations_key_writes_only_there(base: str, foreign_key: str) -> None:
    with pytest.raises(LagoApiError) as raised:
        Client(api_key=foreign_key, api_url=base, max_retries=0).events.create(
            event("t1", "llm_input_tokens", 1)
        )
    assert raised.value.status_code == 422
    assert not UsageRecord.objects.exists()


def test_invalid_revoked_and_unscoped_keys_are_refused(
    base: str, revoked_key: str, read_only_key: str
) -> None:
    for key, status in ((revoked_key, 401), ("nope", 401), (read_only_key, 403)):
        with pytest.raises(LagoApiError) as raised:
            Client(api_key=key, api_url=base, max_retries=0).events.create(event("t1", "llm_input_tokens", 1))
        assert raised.value.status_code == status
        assert raised.value.response["status"] == status
    assert not UsageRecord.objects.exists()


def test_wire_details(base: str, compat: CompatSetup) -> None:
    headers = {"Authorization": f"Bearer {compat.key}", "Content-Type": "application/json"}
    url = f"{base}api/v1/events"
    too_many = {"events": [event(f"t{n}", "llm_input_tokens", 1).dict() for n in range(101)]}
    answer = httpx.post(f"{url}/batch", content=json.dumps(too_many), headers=headers)
    assert answer.status_code == 422 and "events" in answer.json()["error_details"]
    missing = httpx.post(url, content=json.dumps({"event": {"code": "llm_input_tokens"}}), headers=headers)
    assert missing.json()["error_details"]["transaction_id"] == ["value_is_mandatory"]
    bad_time = event("t", "llm_input_tokens", 1).dict() | {"timestamp": "yesterday"}
    assert (
        "timestamp"
        in httpx.post(url, content=json.dumps({"event": bad_time}), headers=headers).json()["error_details"]
    )
    malformed = httpx.post(url, content="{", headers=headers)
    assert (malformed.status_code, malformed.json()["code"], malformed.json()["status"]) == (
        400,
        "bad_request",
        400,
    )
    assert httpx.get(f"{base}api/v1/plans", headers=headers).json()["status"] == 404
    rfc3339 = event("t-iso", "llm_input_tokens", 1).dict() | {"timestamp": WHEN.isoformat()}
    assert httpx.post(url, content=json.dumps({"event": rfc3339}), headers=headers).status_code == 200
