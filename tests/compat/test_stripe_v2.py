"""Stripe v2 meter-event sessions and the meter-event stream through the real ``stripe`` SDK
against a live server (``api.compat.stripe``, ``planner.actuals.compat.sessions``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from django.utils import timezone

from planner.actuals.compat.models import IngestionError, MeterEventSession
from planner.actuals.compat.sessions import (
    EXPIRED_KEPT,
    MeterEventSessionExpired,
    meter_event_session_create,
    meter_event_session_verify,
)
from planner.actuals.compat.wire_stripe_metronome_orb import stripe_stream_events
from planner.actuals.models import UsageRecord
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, token_totals
from tests.compat.http_log import requests_to

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "/compat/stripe/v2/billing/meter_event_stream"


ClientFor = Callable[[str], stripe.StripeClient]


@pytest.fixture
def client_for(live_server: Any) -> Iterator[ClientFor]:
    """Clients of the live server (``api`` and ``meter_events`` addresses) sharing one HTTP client,
    closed after the test (a kept-alive connection holds a server thread and its database
    connection open). Two retries, as the SDK's default: the tests prove none happens."""
    http_client = stripe.RequestsClient()
    base = f"{live_server.url}/compat/stripe"
    addresses: Any = {"api": base, "meter_events": base}

    def build(key: str) -> stripe.StripeClient:
        return stripe.StripeClient(
            key, base_addresses=addresses, max_network_retries=2, http_client=http_client
        )

    yield build
    http_client.close()


@pytest.fixture
def client(client_for: ClientFor, compat: CompatSetup) -> stripe.StripeClient:
    return client_for(compat.key)


@pytest.fixture
def stream(client_for: ClientFor, client: stripe.StripeClient) -> stripe.StripeClient:
    """A client authenticated by a fresh session's token, as Stripe's docs build it."""
    return client_for(client.v2.billing.meter_event_session.create().authentication_token)


def event(identifier: str, token_type: str, value: int, *, customer: str = "cus_A", **extra: str) -> Any:
    payload = {
        "stripe_customer_id": customer,
        "value": str(value),
        "model": "gpt-4o",
        "token_type": token_type,
    }
    return {
        "event_name": "llm_tokens",
        "identifier": identifier,
        "timestamp": WHEN.isoformat().replace("+00:00", "Z"),
        "payload": {**payload, **extra},
    }


def test_a_session_answers_stripes_object_and_stores_only_the_tokens_hash(
    client: stripe.StripeClient, compat: CompatSetup
) -> None:
    session = client.v2.billing.meter_event_session.create()
    assert session.object == "v2.billing.meter_event_session" and session.livemode is False
    assert session.id.startswith("mes_") and session.authentication_token.startswith("mpmes_")
    created = datetime.fromisoformat(session.created)
    expires = datetime.fromisoformat(session.expires_at)
    assert expires - created == timedelta(minutes=15)
    stored = MeterEventSession.objects.get()
    assert stored.token_hash == hashlib.sha256(session.authentication_token.encode()).hexdigest()
    assert stored.organization == compat.organization and stored.api_key == compat.api_key
    assert session.authentication_token not in str(MeterEventSession.objects.values_list())


def test_stream_events_become_records_priced_like_the_same_usage_sent_natively(
    stream: stripe.StripeClient, compat: CompatSetup, native_twin: NativeTwin
) -> None:
    stream.v2.billing.meter_event_stream.create(
        {
            "events": [
                event("c1-in", "input", 1200, tier="Pro"),
                event("c1-out", "output", 300, tier="Pro"),
                event("c1-cached", "cached", 200, tier="Pro"),
                event("c2-in", "input", 80, customer="cus_B", tier="Free"),
            ]
        }
    )
    totals = token_totals(compat.organization)
    assert totals["cus_A"]["input_tokens"] == 1400 and totals["cus_A"]["cached_tokens"] == 200
    native_twin.send(
        [
            {"event_id": "n1", "customer": "cus_A", "tier": "Pro", "timestamp": WHEN.isoformat(),
             "model": "openai/gpt-4o", "input_tokens": 1400, "cached_tokens": 200, "output_tokens": 300},
            {"event_id": "n2", "customer": "cus_B", "tier": "Free", "timestamp": WHEN.isoformat(),
             "model": "openai/gpt-4o", "input_tokens": 80},
        ]
    )  # fmt: skip
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)


def test_invalid_stream_events_are_listed_as_ingestion_errors_and_the_valid_ones_stored(
    stream: stripe.StripeClient, compat: CompatSetup
) -> None:
    stream.v2.billing.meter_event_stream.create(
        {
            "events": [
                event("ok", "input", 10, tier="Pro"),
                event("bad-model", "input", 10, tier="Pro", model="acme/unheard-of"),
                event("new-customer", "input", 10, customer="cus_new"),
                event("no-payload", "input", 1) | {"payload": None},
            ]
        }
    )
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 1
    errors = {
        error.event_key: error for error in IngestionError.objects.filter(organization=compat.organization)
    }
    assert set(errors) == {"bad-model", "new-customer", "no-payload"}
    assert errors["bad-model"].field == "payload[model]" and errors["bad-model"].vendor == "stripe"
    assert "cus_new" in errors["new-customer"].reason and errors["new-customer"].customer == "cus_new"
    assert errors["no-payload"].field == "payload"
    assert errors["bad-model"].payload["properties"]["model"] == "acme/unheard-of"


def test_a_resent_batch_counts_once_and_a_conflicting_identifier_is_listed(
    stream: stripe.StripeClient, compat: CompatSetup
) -> None:
    batch: Any = {"events": [event("c1-in", "input", 1200, tier="Pro")]}
    stream.v2.billing.meter_event_stream.create(batch)
    stream.v2.billing.meter_event_stream.create(batch)
    stream.v2.billing.meter_event_stream.create({"events": [event("c1-in", "input", 5, tier="Pro")]})
    assert UsageRecord.objects.get(organization=compat.organization).input_tokens == 1200
    (error,) = IngestionError.objects.all()
    assert (error.event_key, error.field) == ("c1-in", "identifier")
    assert "already exists" in error.reason


def test_an_expired_session_is_stripes_temporary_session_expired_without_retry(
    stream: stripe.StripeClient,
) -> None:
    MeterEventSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with requests_to(STREAM) as seen, pytest.raises(stripe.TemporarySessionExpiredError) as raised:
        stream.v2.billing.meter_event_stream.create({"events": [event("c1-in", "input", 1, tier="Pro")]})
    assert len(seen) == 1
    assert raised.value.http_status == 401 and raised.value.code == "billing_meter_event_session_expired"
    assert not UsageRecord.objects.exists()


def test_unknown_tokens_api_keys_and_revoked_keys_are_refused_on_the_stream(
    client_for: ClientFor, compat: CompatSetup, stream: stripe.StripeClient
) -> None:
    batch: Any = {"events": [event("c1-in", "input", 1, tier="Pro")]}
    for token in ("mpmes_never-issued", compat.key):  # an API key is not a session token
        guest = client_for(token)
        with requests_to(STREAM) as seen, pytest.raises(stripe.AuthenticationError):
            guest.v2.billing.meter_event_stream.create(batch)
        assert len(seen) == 1
    compat.api_key.revoked_at = timezone.now()
    compat.api_key.save()
    with pytest.raises(stripe.AuthenticationError):
        stream.v2.billing.meter_event_stream.create(batch)
    assert not UsageRecord.objects.exists()


def test_a_foreign_organisations_session_writes_only_there(
    client_for: ClientFor, compat: CompatSetup, foreign_key: str
) -> None:
    foreign = client_for(foreign_key)
    token = foreign.v2.billing.meter_event_session.create().authentication_token
    guest = client_for(token)
    guest.v2.billing.meter_event_stream.create({"events": [event("c1-in", "input", 1, tier="Pro")]})
    assert not UsageRecord.objects.exists()
    assert not IngestionError.objects.filter(organization=compat.organization).exists()
    assert IngestionError.objects.get().organization.slug == "other-co"  # no tier Pro there


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {"events": [{}] * 101}, {"events": "x"}, {"events": [{}], "colour": "red"}],
    ids=["empty", "101 events", "not a list", "unknown field"],
)
def test_a_malformed_stream_request_is_an_invalid_request_error(
    stream: stripe.StripeClient, body: Any
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stream.v2.billing.meter_event_stream.create(body)
    assert raised.value.http_status == 400 and (raised.value.headers or {})["Stripe-Should-Retry"] == "false"


# --- Sessions and the stream parser -----------------------------------------------------------


def test_a_session_expires_after_15_minutes_and_is_kept_a_day_to_say_so(compat: CompatSetup) -> None:
    now = timezone.now()
    session, token = meter_event_session_create(api_key=compat.api_key, now=now)
    assert meter_event_session_verify(token=token, now=now + timedelta(minutes=14)) == session
    with pytest.raises(MeterEventSessionExpired):
        meter_event_session_verify(token=token, now=now + timedelta(minutes=15))
    meter_event_session_create(api_key=compat.api_key, now=now + EXPIRED_KEPT + timedelta(minutes=16))
    assert not MeterEventSession.objects.filter(pk=session.pk).exists()
    assert meter_event_session_verify(token="not-a-token") is None


def test_the_stream_parser_reads_rfc3339_timestamps_and_defaults_missing_ones() -> None:
    now = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)
    parsed, problems = stripe_stream_events(
        [
            {"event_name": "e", "timestamp": "2025-06-12T10:00:00.000Z", "payload": {"value": "1"}},
            {"event_name": "e", "payload": {"value": 2}},
            {"event_name": "e", "timestamp": "2025-06-12", "payload": {"value": "1"}},
            {"event_name": "e", "payload": {"value": "1"}, "extra": 1},
            "nope",
        ],
        now=now,
    )
    assert [index for index, _ in parsed] == [0, 1]
    assert parsed[0][1].timestamp == WHEN and parsed[1][1].timestamp == now
    assert parsed[1][1].value == "2" and parsed[1][1].key.startswith("mp_")
    assert [(p.index, p.field) for p, _ in problems] == [(2, "timestamp"), (3, "extra"), (4, "event")]
