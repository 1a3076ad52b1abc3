"""The real ``openmeter`` SDK against a live server: ``Client(endpoint=BASE + "/compat/openmeter",
token=KEY)``, one CloudEvent per token type (type "prompt", data {tokens, model, type})."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from corehttp.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError
from openmeter import Client
from openmeter.models import Event

from planner.actuals.models import Customer, UsageRecord
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, token_totals, total_cost
from tests.compat.http_log import requests_to

pytestmark = pytest.mark.django_db(transaction=True)
PREFIX = "/compat/openmeter"


@pytest.fixture
def base(live_server: Any) -> str:
    return f"{live_server.url}{PREFIX}"


@pytest.fixture
def client(base: str, compat: CompatSetup) -> Iterator[Client]:
    with Client(endpoint=base, token=compat.key, retry_total=0) as sdk:
        yield sdk


def prompt(event_id: str, kind: str, tokens: int, *, subject: str = "cus-1", **data: Any) -> Any:
    """A CloudEvent as a dict (the SDK takes dicts as well as its models)."""
    return {
        "id": event_id,
        "source": "my-app",
        "specversion": "1.0",
        "type": "prompt",
        "subject": subject,
        "time": WHEN.isoformat(),
        "data": {"tokens": str(tokens), "model": "gpt-4o", "type": kind, "tier": "Pro", **data},
    }


def answer(error: HttpResponseError) -> Any:
    """The HTTP response an SDK error carries."""
    assert error.response is not None
    return error.response


def test_a_call_in_parts_is_stored_priced_like_the_native_record(
    client: Client, compat: CompatSetup, native_twin: NativeTwin
) -> None:
    client.events.ingest_event(prompt("c1-in", "input", 1200))
    assert (
        client.events.ingest_events([prompt("c1-out", "output", 300), prompt("c2-in", "input", 50)]) is None
    )
    model_event = Event(
        id="c2-out",
        source="my-app",
        specversion="1.0",
        type="prompt",
        subject="cus-1",
        time=WHEN,
        data={"tokens": "20", "model": "openai/gpt-4o", "type": "output"},
    )
    client.events.ingest_events_json(model_event)  # plain application/json
    records = UsageRecord.objects.filter(organization=compat.organization).order_by("event_id")
    assert [(r.event_id, r.input_tokens, r.output_tokens, r.requests) for r in records] == [
        ("openmeter:my-app:c1-in", 1200, 0, 1),
        ("openmeter:my-app:c1-out", 0, 300, 0),
        ("openmeter:my-app:c2-in", 50, 0, 1),
        ("openmeter:my-app:c2-out", 0, 20, 0),
    ]
    assert {str(r.model) for r in records} == {"openai/gpt-4o"}
    customer = Customer.objects.get(organization=compat.organization)
    assert (customer.external_id, customer.tier_periods.get().tier) == ("cus-1", compat.tiers["Pro"])
    native_twin.send(
        [
            {"event_id": f"c{n}", "customer": "cus-1", "tier": "Pro", "timestamp": WHEN.isoformat()}
            | {"model": "openai/gpt-4o", "input_tokens": tokens_in, "output_tokens": tokens_out}
            for n, tokens_in, tokens_out in ((1, 1200, 300), (2, 50, 20))
        ]
    )
    assert token_totals(compat.organization)["cus-1"]["requests"] == 2
    assert total_cost(compat.organization) == total_cost(native_twin.organization)
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)


def test_a_repeated_send_is_counted_once(client: Client, compat: CompatSetup) -> None:
    batch = [prompt("e1", "input", 100), prompt("e2", "output", 10)]
    client.events.ingest_events(batch)
    client.events.ingest_events(batch)
    client.events.ingest_event(batch[0])
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 2


def test_the_same_id_from_another_source_is_another_event(client: Client, compat: CompatSetup) -> None:
    client.events.ingest_event(prompt("e1", "input", 100))
    other = prompt("e1", "input", 100)
    other["source"] = "other-app"
    client.events.ingest_event(other)
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 2


def test_a_conflicting_resend_is_a_409_problem_and_stores_nothing(
    base: str, client: Client, compat: CompatSetup
) -> None:
    client.events.ingest_event(prompt("e1", "input", 100))
    with pytest.raises(ResourceExistsError) as raised:
        client.events.ingest_events([prompt("e2", "input", 5), prompt("e1", "input", 999)])
    assert raised.value.status_code == 409
    assert answer(raised.value).headers["content-type"] == "application/problem+json"
    assert "'e1'" in answer(raised.value).json()["detail"]
    assert list(UsageRecord.objects.values_list("event_id", "input_tokens")) == [("openmeter:my-app:e1", 100)]


def test_an_unknown_model_is_a_400_problem_not_retried(base: str, compat: CompatSetup) -> None:
    sdk = Client(endpoint=base, token=compat.key)  # default retries
    with requests_to(PREFIX) as seen, pytest.raises(HttpResponseError) as raised:
        sdk.events.ingest_events([prompt("e1", "input", 100), prompt("e2", "input", 1, model="gpt-9")])
    response = answer(raised.value)
    assert (raised.value.status_code, len(seen)) == (400, 1)
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers
    body = response.json()
    assert body["status"] == 400 and body["title"] == "Bad Request" and body["instance"].endswith("/events")
    assert body["extensions"]["validationErrors"][0]["field"] == "[1].data.model"
    assert "gpt-9" in body["detail"]
    assert not UsageRecord.objects.exists()


def test_a_new_customer_without_a_tier_is_refused_naming_it(client: Client) -> None:
    event = prompt("e1", "input", 100, subject="cus-new")
    del event["data"]["tier"]
    with pytest.raises(HttpResponseError) as raised:
        client.events.ingest_event(event)
    body = answer(raised.value).json()
    assert body["extensions"]["validationErrors"][0]["field"] == "subject"
    assert "'cus-new'" in body["detail"]


def test_another_organisations_key_writes_only_there(
    base: str, compat: CompatSetup, foreign_key: str
) -> None:
    """The other organisation has no tiers: its new customer is refused, ours untouched."""
    sdk = Client(endpoint=base, token=foreign_key, retry_total=0)
    with pytest.raises(HttpResponseError) as raised:
        sdk.events.ingest_event(prompt("e1", "input", 100))
    assert raised.value.status_code == 400
    assert not UsageRecord.objects.exists()


def test_invalid_revoked_and_unscoped_keys_are_refused(
    base: str, revoked_key: str, read_only_key: str
) -> None:
    for key, error, status in (
        (revoked_key, ClientAuthenticationError, 401),
        ("mp_not-a-key", ClientAuthenticationError, 401),
        (read_only_key, HttpResponseError, 403),
    ):
        with Client(endpoint=base, token=key, retry_total=0) as sdk, pytest.raises(error) as raised:
            sdk.events.ingest_event(prompt("e1", "input", 100))
        assert raised.value.status_code == status
        assert answer(raised.value).headers["content-type"] == "application/problem+json"
    assert not UsageRecord.objects.exists()


def test_wire_details(base: str, compat: CompatSetup) -> None:
    """Content types, the 204, malformed bodies and unknown paths, over plain HTTP."""
    headers = {"Authorization": f"Bearer {compat.key}"}
    url = f"{base}/api/v1/events"
    ok = httpx.post(
        url,
        content=json.dumps([prompt("w1", "input", 1)]),
        headers={**headers, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert (ok.status_code, ok.content) == (204, b"")
    for body, content_type, status in (
        ("{", "application/cloudevents+json", 400),
        ("[]", "application/json", 400),
        ('{"id": "x"}', "application/cloudevents+json", 400),
        ("x", "text/plain", 415),
    ):
        answer = httpx.post(url, content=body, headers={**headers, "Content-Type": content_type})
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "retry-after" not in answer.headers
    missing = httpx.post(
        url, content=json.dumps(prompt("w2", "input", 1)), headers={"Content-Type": "application/json"}
    )
    assert missing.status_code == 401 and missing.json()["status"] == 401
    assert httpx.get(url, headers=headers).status_code == 405
    assert httpx.get(f"{base}/api/v1/meters", headers=headers).json()["status"] == 404
