"""Orb event ingestion through the real ``orb-billing`` SDK against a live server, and its wire
parser (``api.compat.orb``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orb
import pytest

from planner.actuals.compat.models import IngestionError
from planner.actuals.compat.wire_stripe_metronome_orb import orb_events
from planner.actuals.models import UsageRecord
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, token_totals
from tests.compat.http_log import requests_to

pytestmark = pytest.mark.django_db(transaction=True)

NAIVE = WHEN.replace(tzinfo=None).isoformat()  # Orb's timestamps: UTC without an offset


ClientFor = Callable[..., orb.Orb]


@pytest.fixture
def client_for(live_server: Any) -> Iterator[ClientFor]:
    """``client_for(key, path="/compat/orb")``: clients of the live server, closed after the test
    (a kept-alive connection holds a server thread, and its database connection, open)."""
    made: list[orb.Orb] = []

    def build(key: str, path: str = "/compat/orb") -> orb.Orb:
        # Two retries, as the SDK's default: the tests prove that a refusal is not retried.
        made.append(orb.Orb(api_key=key, base_url=f"{live_server.url}{path}", max_retries=2))
        return made[-1]

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(client_for: ClientFor, compat: CompatSetup) -> orb.Orb:
    return client_for(compat.key)


def event(key: str, customer: str = "cus_A", **properties: Any) -> Any:
    defaults = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300, "tier": "Pro"}
    return {
        "event_name": "llm_usage",
        "idempotency_key": key,
        "external_customer_id": customer,
        "timestamp": NAIVE,
        "properties": {k: v for k, v in {**defaults, **properties}.items() if v is not None},
    }


def test_sdk_events_become_records_priced_like_the_same_usage_sent_natively(
    client: orb.Orb, compat: CompatSetup, native_twin: NativeTwin
) -> None:
    result = client.events.ingest(
        events=[
            event("e1", cached_tokens=200),
            event("e2", input_tokens=100, output_tokens=20) | {"timestamp": WHEN},  # a datetime
            event("e3", customer="cus_B", tier="Free", model="openai/gpt-4o-mini"),
        ]
    )
    assert result.validation_failed == []
    totals = token_totals(compat.organization)
    assert totals["cus_A"]["input_tokens"] == 1300 and totals["cus_A"]["requests"] == 2
    at = WHEN.isoformat()
    native_twin.send(
        [
            {"event_id": "n1", "customer": "cus_A", "tier": "Pro", "timestamp": at, "model": "openai/gpt-4o",
             "input_tokens": 1200, "cached_tokens": 200, "output_tokens": 300},
            {"event_id": "n2", "customer": "cus_A", "tier": "Pro", "timestamp": at, "model": "openai/gpt-4o",
             "input_tokens": 100, "output_tokens": 20},
            {"event_id": "n3", "customer": "cus_B", "tier": "Free", "timestamp": at,
             "model": "openai/gpt-4o-mini", "input_tokens": 1200, "output_tokens": 300},
        ]
    )  # fmt: skip
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)


def test_the_real_apis_v1_path_works_too(client_for: ClientFor, compat: CompatSetup) -> None:
    client_for(compat.key, "/compat/orb/v1").events.ingest(events=[event("e1")])
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 1


def test_refused_events_are_listed_in_validation_failed_and_the_others_stored(
    client: orb.Orb, compat: CompatSetup
) -> None:
    result = client.events.ingest(
        events=[
            event("ok"),
            event("bad-model", model="acme/unheard-of"),
            event("new-customer", customer="cus_new", tier=None),
            event("no-properties") | {"properties": "tokens"},
        ]
    )
    failed = {item.idempotency_key: item.validation_errors for item in result.validation_failed}
    assert list(failed) == ["bad-model", "new-customer", "no-properties"]
    assert failed["bad-model"][0].startswith("properties.model: ")
    assert "cus_new" in failed["new-customer"][0]
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 1
    listed = set(
        IngestionError.objects.filter(organization=compat.organization).values_list("event_key", "vendor")
    )
    assert listed == {("bad-model", "orb"), ("new-customer", "orb"), ("no-properties", "orb")}
    again = client.events.ingest(events=[event("new-customer", customer="cus_new")])  # fixed, same key
    assert again.validation_failed == []


def test_a_resend_counts_once_and_debug_lists_it_as_a_duplicate(client: orb.Orb, compat: CompatSetup) -> None:
    client.events.ingest(events=[event("e1")])
    result = client.events.ingest(events=[event("e1"), event("e2")], extra_query={"debug": "true"})
    debug: Any = result.to_dict()["debug"]  # not a declared field of this SDK version's response model
    assert (debug["duplicate"], debug["ingested"]) == (["e1"], ["e2"])
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 2


def test_a_reused_key_with_another_body_rejects_the_whole_batch_without_retry(
    client: orb.Orb, compat: CompatSetup
) -> None:
    client.events.ingest(events=[event("e1")])
    with requests_to("/compat/orb/") as seen, pytest.raises(orb.ResourceConflict) as raised:
        client.events.ingest(events=[event("e2"), event("e1", input_tokens=5)])
    assert len(seen) == 1
    assert raised.value.status_code == 409 and "'e1'" in str(raised.value.detail)
    assert list(UsageRecord.objects.values_list("input_tokens", flat=True)) == [1200]  # e2 was not kept


def test_the_idempotency_key_header_replays_and_refuses_reuse(client: orb.Orb, compat: CompatSetup) -> None:
    first = client.events.ingest(events=[event("e1")], idempotency_key="req-1")
    replay = client.events.with_raw_response.ingest(events=[event("e1")], idempotency_key="req-1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.parse() == first
    with requests_to("/compat/orb/") as seen, pytest.raises(orb.ResourceConflict):
        client.events.ingest(events=[event("e2")], idempotency_key="req-1")
    assert len(seen) == 1
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 1


def test_revoked_foreign_and_unscoped_keys_are_refused_without_retry(
    client_for: ClientFor, compat: CompatSetup, revoked_key: str, foreign_key: str, read_only_key: str
) -> None:
    for key, error in [(revoked_key, orb.OrbAuthenticationError), (read_only_key, orb.PermissionDeniedError)]:
        with requests_to("/compat/orb/") as seen, pytest.raises(error):
            client_for(key).events.ingest(events=[event("e1")])
        assert len(seen) == 1
    foreign = client_for(foreign_key).events.ingest(events=[event("e1")])
    assert [item.idempotency_key for item in foreign.validation_failed] == ["e1"]  # no tier "Pro" there
    assert not UsageRecord.objects.exists()
    assert not IngestionError.objects.filter(organization=compat.organization).exists()


def test_a_malformed_request_is_orbs_request_validation_error(client: orb.Orb) -> None:
    with requests_to("/compat/orb/") as seen, pytest.raises(orb.RequestValidationError) as raised:
        client.events.ingest(events=[])
    assert len(seen) == 1 and raised.value.validation_errors


# --- The wire parser --------------------------------------------------------------------------


def test_the_parser_reads_orbs_events_and_names_its_fields() -> None:
    now = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)
    parsed, problems = orb_events(
        [
            event("e1"),
            {**event("e2"), "external_customer_id": None, "customer_id": "orb_cus_1",
             "timestamp": "2025-06-12T12:00:00+02:00"},
            {**event("e3"), "customer_id": "orb_cus_1"},
            {**event("e4"), "properties": {"a": [1]}},
            {**event("e5"), "timestamp": "yesterday"},
            {**event("e6"), "idempotency_key": ""},
            {**event("e7"), "colour": "red"},
        ],
        now=now,
    )  # fmt: skip
    assert [(index, e.key, e.customer) for index, e in parsed] == [(0, "e1", "cus_A"), (1, "e2", "orb_cus_1")]
    assert parsed[0][1].timestamp == WHEN and parsed[1][1].timestamp == datetime(2025, 6, 12, 10, tzinfo=UTC)
    assert [(p.index, p.field, e.key) for p, e in problems] == [
        (2, "external_customer_id", "e3"),
        (3, "properties", "e4"),
        (4, "timestamp", "e5"),
        (5, "idempotency_key", ""),
        (6, "colour", "e7"),
    ]
