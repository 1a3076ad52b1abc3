"""Stripe v1 meter events through the real ``stripe`` SDK against a live server, and the v1 form
parser (``api.compat.stripe``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from django.http import QueryDict

from api.compat.stripe import stripe_param
from planner.actuals.compat.models import IngestionError
from planner.actuals.compat.wire_stripe_metronome_orb import stripe_v1_event
from planner.actuals.models import Customer, UsageRecord
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, token_totals
from tests.compat.http_log import requests_to

pytestmark = pytest.mark.django_db(transaction=True)

STAMP = int(WHEN.timestamp())
PATH = "/compat/stripe/v1/billing/meter_events"


@pytest.fixture
def client_for(live_server: Any) -> Iterator[Callable[[str], stripe.StripeClient]]:
    """Clients of the live server sharing one HTTP client, closed after the test (a kept-alive
    connection holds a server thread, and its database connection, open)."""
    http_client = stripe.RequestsClient()

    def build(key: str) -> stripe.StripeClient:
        # Two retries, as the SDK's default: the tests prove that a refusal is not retried.
        base: Any = {"api": f"{live_server.url}/compat/stripe"}
        return stripe.StripeClient(key, base_addresses=base, max_network_retries=2, http_client=http_client)

    yield build
    http_client.close()


@pytest.fixture
def client(client_for: Callable[[str], stripe.StripeClient], compat: CompatSetup) -> stripe.StripeClient:
    return client_for(compat.key)


def send(
    client: stripe.StripeClient,
    identifier: str,
    token_type: str,
    value: int,
    *,
    customer: str = "cus_A",
    model: str = "gpt-4o",
    **extra: str,
) -> Any:
    payload = {"stripe_customer_id": customer, "value": str(value), "model": model, "token_type": token_type}
    return client.v1.billing.meter_events.create(
        {
            "event_name": "llm_tokens",
            "identifier": identifier,
            "timestamp": STAMP,
            "payload": {**payload, **extra},
        }
    )


def test_sdk_events_become_records_priced_like_the_same_usage_sent_natively(
    client: stripe.StripeClient, compat: CompatSetup, native_twin: NativeTwin
) -> None:
    event = send(client, "call-1-in", "input", 1200, tier="Pro")
    send(client, "call-1-out", "output", 300)
    send(client, "call-2-in", "input", 50, customer="cus_B", tier="Free", model="openai/gpt-4o-mini")

    assert event.object == "billing.meter_event"
    assert (event.identifier, event.event_name, event.timestamp) == ("call-1-in", "llm_tokens", STAMP)
    assert event.payload["value"] == "1200" and event.livemode is False
    totals = token_totals(compat.organization)
    assert totals["cus_A"]["input_tokens"] == 1200 and totals["cus_A"]["output_tokens"] == 300
    assert totals["cus_A"]["requests"] == 1 and totals["cus_B"]["requests"] == 1
    assert (
        Customer.objects.get(organization=compat.organization, external_id="cus_A").tier_periods.count() == 1
    )
    native_twin.send(
        [
            {"event_id": "n1", "customer": "cus_A", "tier": "Pro", "timestamp": WHEN.isoformat(),
             "model": "openai/gpt-4o", "input_tokens": 1200, "output_tokens": 300},
            {"event_id": "n2", "customer": "cus_B", "tier": "Free", "timestamp": WHEN.isoformat(),
             "model": "openai/gpt-4o-mini", "input_tokens": 50},
        ]
    )  # fmt: skip
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)
    assert margins(compat.organization)["cus_A"][0] == "Pro"


def test_the_one_line_setup_of_the_module_level_api_works(live_server: Any, compat: CompatSetup) -> None:
    previous, previous_client = stripe.api_base, stripe.default_http_client
    stripe.api_base = f"{live_server.url}/compat/stripe"
    stripe.default_http_client = http_client = stripe.RequestsClient()
    try:
        event = stripe.billing.MeterEvent.create(
            api_key=compat.key,
            event_name="llm_tokens",
            payload={"stripe_customer_id": "cus_A", "value": "10", "model": "gpt-4o", "token_type": "input",
                     "tier": "Pro"},
        )  # fmt: skip
    finally:
        stripe.api_base, stripe.default_http_client = previous, previous_client
        http_client.close()
    assert event.identifier.startswith("mp_")  # generated, as Stripe does
    assert UsageRecord.objects.get(organization=compat.organization).input_tokens == 10


def test_an_exact_resend_succeeds_and_counts_once(client: stripe.StripeClient, compat: CompatSetup) -> None:
    first = send(client, "call-1-in", "input", 1200, tier="Pro")
    again = send(client, "call-1-in", "input", 1200, tier="Pro")
    assert again.identifier == first.identifier
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 1


def test_a_conflicting_resend_is_refused_without_retry_and_the_first_version_stands(
    client: stripe.StripeClient, compat: CompatSetup
) -> None:
    send(client, "call-1-in", "input", 1200, tier="Pro")
    with requests_to(PATH) as seen, pytest.raises(stripe.InvalidRequestError) as raised:
        send(client, "call-1-in", "input", 9999, tier="Pro")
    assert len(seen) == 1
    error = raised.value
    assert (error.http_status, error.code, error.param) == (400, "resource_already_exists", "identifier")
    assert "already exists with identifier call-1-in" in str(error.user_message)
    assert (error.headers or {})["Stripe-Should-Retry"] == "false"
    assert UsageRecord.objects.get(organization=compat.organization).input_tokens == 1200


def test_an_unknown_model_is_refused_in_stripes_shape_and_nothing_is_stored(
    client: stripe.StripeClient, compat: CompatSetup
) -> None:
    with requests_to(PATH) as seen, pytest.raises(stripe.InvalidRequestError) as raised:
        send(client, "call-1-in", "input", 1200, tier="Pro", model="acme/unheard-of")
    assert len(seen) == 1
    assert raised.value.http_status == 400 and raised.value.param == "payload[model]"
    body: Any = raised.value.json_body
    assert body["error"]["type"] == "invalid_request_error"
    assert not UsageRecord.objects.filter(organization=compat.organization).exists()
    assert not IngestionError.objects.exists()  # refused at call time: the caller was told


def test_a_new_customer_without_a_tier_is_refused_naming_it(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        send(client, "call-1-in", "input", 1200, customer="cus_new")
    assert "cus_new" in str(raised.value.user_message)
    assert raised.value.param == "payload[stripe_customer_id]"


def test_revoked_and_foreign_keys_are_refused_without_retry(
    client_for: Callable[[str], stripe.StripeClient], revoked_key: str, foreign_key: str
) -> None:
    revoked = client_for(revoked_key)
    with requests_to(PATH) as seen, pytest.raises(stripe.AuthenticationError) as raised:
        send(revoked, "call-1-in", "input", 1200, tier="Pro")
    assert len(seen) == 1 and raised.value.http_status == 401
    foreign = client_for(foreign_key)
    with requests_to(PATH) as seen, pytest.raises(stripe.InvalidRequestError):
        send(foreign, "call-1-in", "input", 1200, tier="Pro")  # the other organisation has no tier Pro
    assert len(seen) == 1
    assert not UsageRecord.objects.exists()


def test_a_key_without_the_ingest_scope_gets_a_permission_error(
    client_for: Callable[[str], stripe.StripeClient], read_only_key: str
) -> None:
    reader = client_for(read_only_key)
    with pytest.raises(stripe.PermissionError):
        send(reader, "call-1-in", "input", 1200, tier="Pro")


def test_the_idempotency_key_replays_a_call_whose_timestamp_stripe_fills_in(
    client: stripe.StripeClient, compat: CompatSetup
) -> None:
    params: Any = {
        "event_name": "llm_tokens",
        "payload": {"stripe_customer_id": "cus_A", "value": "7", "model": "gpt-4o", "token_type": "input",
                    "tier": "Pro"},
    }  # fmt: skip
    first = client.v1.billing.meter_events.create(params, {"idempotency_key": "retry-1"})
    replay = client.v1.billing.meter_events.create(params, {"idempotency_key": "retry-1"})
    assert replay.identifier == first.identifier and replay.timestamp == first.timestamp
    assert replay.last_response is not None and replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert UsageRecord.objects.filter(organization=compat.organization).count() == 1
    other: Any = {**params, "payload": {**params["payload"], "value": "8"}}
    with pytest.raises(stripe.IdempotencyError):
        client.v1.billing.meter_events.create(other, {"idempotency_key": "retry-1"})


# --- The form parser --------------------------------------------------------------------------

NOW = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)


@pytest.fixture
def form() -> Iterator[QueryDict]:
    yield QueryDict(
        "event_name=llm_tokens&identifier=id-1&timestamp=1749722400"
        "&payload[stripe_customer_id]=cus_A&payload[value]=25&payload[model]=gpt-4o&expand[0]=x"
    )


def test_the_form_parser_reads_nested_payload_keys(form: QueryDict) -> None:
    event, problem = stripe_v1_event(form.lists(), now=NOW)
    assert problem is None and event is not None
    assert (event.key, event.name, event.customer, event.value) == ("id-1", "llm_tokens", "cus_A", "25")
    assert event.properties == {"stripe_customer_id": "cus_A", "value": "25", "model": "gpt-4o"}
    assert event.timestamp == datetime(2025, 6, 12, 10, 0, tzinfo=UTC)


def test_a_missing_timestamp_is_now_and_a_missing_identifier_is_generated() -> None:
    event, _ = stripe_v1_event(QueryDict("event_name=x&payload[value]=1").lists(), now=NOW)
    assert event is not None and event.timestamp == NOW and event.key.startswith("mp_")


@pytest.mark.parametrize(
    ("query", "param", "reason"),
    [
        ("payload[value]=1", "event_name", "Missing required param: event_name."),
        ("event_name=x", "payload", "Missing required param: payload."),
        ("event_name=x&payload[value]=1&colour=red", "colour", "Received unknown parameter: colour"),
        ("event_name=x&payload[value]=1&timestamp=soon", "timestamp", "Invalid integer: soon"),
        ("event_name=x&payload[a][b]=1", "payload[a][b]", "Received unknown parameter: payload[a][b]"),
        ("event_name=x&event_name=y&payload[value]=1", "event_name", "Send event_name once."),
        (
            f"event_name={'n' * 101}&payload[value]=1",
            "event_name",
            "At most 100 characters (this one has 101).",
        ),
        ("event_name=x&payload[value]=1&identifier=%00", "identifier", "Control characters"),
    ],
)
def test_the_form_parser_names_stripes_parameter_at_fault(query: str, param: str, reason: str) -> None:
    event, problem = stripe_v1_event(QueryDict(query).lists(), now=NOW)
    assert event is None and problem is not None
    assert problem.field == param and problem.reason.startswith(reason)


def test_core_fields_are_named_as_stripe_parameters() -> None:
    assert stripe_param("payload.model") == "payload[model]"
    assert stripe_param("identifier") == "identifier"
