"""Metronome usage ingestion through the real ``metronome-sdk`` against a live server, and its
wire parser (``api.compat.metronome``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import metronome
import pytest

from planner.actuals.compat.wire_stripe_metronome_orb import metronome_events
from planner.actuals.models import UsageRecord
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, token_totals
from tests.compat.http_log import requests_to

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/compat/metronome/v1/ingest"
STAMP = WHEN.isoformat().replace("+00:00", "Z")


@pytest.fixture
def client_for(live_server: Any) -> Iterator[Callable[[str], metronome.Metronome]]:
    """Clients of the live server, closed after the test (a kept-alive connection holds a server
    thread, and its database connection, open)."""
    made: list[metronome.Metronome] = []

    def build(key: str) -> metronome.Metronome:
        # Two retries, as the SDK's default: the tests prove that a refusal is not retried.
        made.append(
            metronome.Metronome(
                bearer_token=key, base_url=f"{live_server.url}/compat/metronome", max_retries=2
            )
        )
        return made[-1]

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(client_for: Callable[[str], metronome.Metronome], compat: CompatSetup) -> metronome.Metronome:
    return client_for(compat.key)


def usage(transaction_id: str, customer: str = "cus_A", **properties: Any) -> Any:
    defaults = {"model": "gpt-4o", "input_tokens": "1200", "output_tokens": "300", "tier": "Pro"}
    return {
        "transaction_id": transaction_id,
        "customer_id": customer,
        "event_type": "llm_usage",
        "timestamp": STAMP,
        "properties": {**defaults, **properties},
    }


def test_sdk_usage_becomes_records_priced_like_the_same_usage_sent_natively(
    client: metronome.Metronome, compat: CompatSetup, native_twin: NativeTwin
) -> None:
    client.v1.usage.ingest(
        usage=[
            usage("t1", cached_tokens="200", reasoning_tokens=0),
            usage("t2", input_tokens=100, output_tokens=20),
            usage("t3", customer="cus_B", tier="Free", model="openai/gpt-4o-mini", output_tokens="0"),
        ]
    )
    totals = token_totals(compat.organization)
    assert totals["cus_A"]["input_tokens"] == 1300 and totals["cus_A"]["cached_tokens"] == 200
    assert totals["cus_A"]["requests"] == 2 and totals["cus_B"]["requests"] == 1
    at = WHEN.isoformat()
    native_twin.send(
        [
            {"event_id": "n1", "customer": "cus_A", "tier": "Pro", "timestamp": at, "model": "openai/gpt-4o",
             "input_tokens": 1200, "cached_tokens": 200, "output_tokens": 300},
            {"event_id": "n2", "customer": "cus_A", "tier": "Pro", "timestamp": at, "model": "openai/gpt-4o",
             "input_tokens": 100, "output_tokens": 20},
            {"event_id": "n3", "customer": "cus_B", "tier": "Free", "timestamp": at,
             "model": "openai/gpt-4o-mini", "input_tokens": 1200},
        ]
    )  # fmt: skip
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)


def test_resends_identical_or_not_are_quiet_successes_and_the_first_version_stands(
    client: metronome.Metronome, compat: CompatSetup
) -> None:
    client.v1.usage.ingest(usage=[usage("t1")])
    with requests_to(PATH) as seen:
        client.v1.usage.ingest(usage=[usage("t1")])
        client.v1.usage.ingest(usage=[usage("t1", input_tokens="99999")])
    assert len(seen) == 2
    record = UsageRecord.objects.get(organization=compat.organization)
    assert record.input_tokens == 1200


def test_an_unknown_model_refuses_the_whole_call_without_retry(
    client: metronome.Metronome, compat: CompatSetup
) -> None:
    with requests_to(PATH) as seen, pytest.raises(metronome.BadRequestError) as raised:
        client.v1.usage.ingest(usage=[usage("t1"), usage("t2", model="acme/unheard-of")])
    assert len(seen) == 1
    assert raised.value.status_code == 400 and raised.value.response.headers["x-should-retry"] == "false"
    body = raised.value.body
    assert isinstance(body, dict) and body["errors"][0] == {
        "index": 1,
        "field": "properties.model",
        "message": body["errors"][0]["message"],
    }
    assert body["message"].startswith("usage[1].properties.model: ")
    assert not UsageRecord.objects.exists()


def test_a_new_customer_without_a_tier_is_refused_naming_it(client: metronome.Metronome) -> None:
    with pytest.raises(metronome.BadRequestError) as raised:
        client.v1.usage.ingest(usage=[usage("t1", customer="cus_new", tier=None)])
    assert "cus_new" in str(raised.value)


def test_revoked_foreign_and_unscoped_keys_are_refused_without_retry(
    client_for: Callable[[str], metronome.Metronome], revoked_key: str, foreign_key: str, read_only_key: str
) -> None:
    cases = [
        (revoked_key, metronome.AuthenticationError),
        (read_only_key, metronome.PermissionDeniedError),
        (foreign_key, metronome.BadRequestError),  # the other organisation has no tier "Pro"
    ]
    for key, error in cases:
        with requests_to(PATH) as seen, pytest.raises(error):
            client_for(key).v1.usage.ingest(usage=[usage("t1")])
        assert len(seen) == 1
    assert not UsageRecord.objects.exists()


# --- The wire parser --------------------------------------------------------------------------


def test_the_parser_reads_each_event_and_names_metronomes_fields() -> None:
    events, problems = metronome_events(
        [
            usage("t1"),
            {**usage("t2"), "timestamp": "2025-06-12 10:00:00"},
            {**usage("t3"), "timestamp": 1749722400},
            {**usage("t4"), "customer": "x"},
            {**usage("t5"), "properties": {"nested": {"a": 1}}},
            {**usage("t6"), "transaction_id": "x" * 129},
            {k: v for k, v in usage("t7").items() if k != "event_type"},
            [],
        ]
    )
    assert [event.key for event in events] == ["t1"]
    assert events[0].customer == "cus_A" and events[0].timestamp == WHEN and events[0].value is None
    assert [(p.index, p.field) for p in problems] == [
        (1, "timestamp"),
        (2, "timestamp"),
        (3, "customer"),
        (4, "properties"),
        (5, "transaction_id"),
        (6, "event_type"),
        (7, ""),
    ]


@pytest.mark.parametrize("body", [{}, [], "x", None], ids=["object", "empty", "string", "null"])
def test_a_body_that_is_not_a_list_of_events_is_refused(body: Any) -> None:
    events, problems = metronome_events(body)
    assert events == [] and problems[0].reason.startswith("Send a JSON array")
