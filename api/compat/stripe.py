"""Stripe's meter events as the ``stripe`` SDK (16.x) sends them, under ``/compat/stripe/``
(docs/INTEGRATIONS.md, "Stripe"). The user sets ``stripe.api_base`` (v1) or the client's
``base_addresses`` "api" and "meter_events" (v2) to ``<site>/compat/stripe`` and a Margin
Planner API key (``ingest`` scope) as the Stripe key.

- ``POST v1/billing/meter_events``: one event, form-encoded (``event_name``, ``identifier``,
  ``timestamp`` in Unix seconds, ``payload[...]``), ingested all or nothing. Success is Stripe's
  ``billing.meter_event`` object. An identifier already stored with the same event answers that
  object again; with another event, Stripe's 400 "An event already exists with identifier ..."
  (``resource_already_exists``); the first version stands.
- ``POST v2/billing/meter_event_session``: a 15-minute token for the stream
  (``planner.actuals.compat.sessions``).
- ``POST v2/billing/meter_event_stream``: up to 100 events as JSON, authenticated by that token.
  Stripe validates the stream's events asynchronously: here each event is checked at once, the
  valid ones are stored and the others (malformed, unknown model, unknown customer without a
  tier, a reused identifier) are listed on the ingestion errors page and endpoint; the answer
  is ``200 {}`` either way. An expired token is Stripe's 401 ``temporary_session_expired``
  (the SDK raises ``TemporarySessionExpiredError``); an unknown one a 401.

Errors are Stripe's ``{"error": {"type", "code", "message", "param"}}`` with
``Stripe-Should-Retry: false`` on every 4xx, which the SDK obeys (it would otherwise retry a 409).
The ``Idempotency-Key`` header is honoured as Stripe does (``api.compat.idempotency``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any, ClassVar
from urllib.parse import parse_qsl

from django.http import QueryDict
from django.urls import path
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.authentication import ApiKeyUser
from api.compat import idempotency
from api.compat.auth import CompatAPIView
from api.parsers import BoundedJSONParser, read_body
from api.tenancy import request_api_key, request_organization
from planner.accounts.models import ApiKey, Organization
from planner.actuals.compat.ingest import (
    CompatBatchInvalid,
    EventOutcome,
    VendorEvent,
    compat_ingest,
    record_ingestion_errors,
)
from planner.actuals.compat.sessions import (
    SESSION_LIFETIME,
    MeterEventSessionExpired,
    meter_event_session_create,
    meter_event_session_verify,
)
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire_stripe_metronome_orb import (
    STRIPE_CUSTOMER_KEY,
    STRIPE_MAX_STREAM_EVENTS,
    WireProblem,
    stripe_stream_events,
    stripe_v1_event,
)

SESSION_EXPIRED = "billing_meter_event_session_expired"


# --- Answers ---------------------------------------------------------------------------------


def stripe_param(field: str) -> str:
    """Stripe's name for a field the core names (``payload.model`` -> ``payload[model]``)."""
    head, _, rest = field.partition(".")
    return f"{head}[{rest}]" if rest else head


def error_response(
    status: int, *, message: str, code: str = "", param: str = "", error_type: str = "invalid_request_error"
) -> Response:
    """Stripe's error body; 4xx carry ``Stripe-Should-Retry: false`` so the SDK does not retry."""
    error: dict[str, str] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    headers = {"Stripe-Should-Retry": "false"} if 400 <= status < 500 else {}
    return Response({"error": error}, status=status, headers=headers)


def meter_event_body(event: VendorEvent, *, created: datetime) -> dict[str, Any]:
    """Stripe's ``billing.meter_event`` object for ``event``."""
    return {
        "object": "billing.meter_event",
        "created": int(created.timestamp()),
        "event_name": event.name,
        "identifier": event.key,
        "livemode": False,
        "payload": dict(event.properties),
        "timestamp": int(event.timestamp.timestamp()),
    }


def _refusal(outcome: EventOutcome) -> Response:
    param = stripe_param(outcome.field)
    code = (
        "resource_missing" if outcome.field.endswith(("model", STRIPE_CUSTOMER_KEY)) else "parameter_invalid"
    )
    return error_response(400, message=outcome.reason, code=code, param=param)


def _wire_code(problem: WireProblem) -> str:
    """Stripe's code for a problem of the form: the parser words those messages as Stripe does
    ("Missing required param: ...", "Received unknown parameter: ...")."""
    for start, code in (("Missing required", "parameter_missing"), ("Received unknown", "parameter_unknown")):
        if problem.reason.startswith(start):
            return code
    return "parameter_invalid"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- Views -----------------------------------------------------------------------------------


class FormParser(BaseParser):
    """``application/x-www-form-urlencoded`` bodies up to the API's limit, read from the stream,
    percent-encoded UTF-8 only."""

    media_type = "application/x-www-form-urlencoded"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> QueryDict:
        raw = read_body(stream)
        form = QueryDict(mutable=True)
        try:
            # Strictly: Django's QueryDict turns an invalid percent-encoded byte into U+FFFD.
            for key, value in parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict"):
                form.appendlist(key, value)
        except UnicodeDecodeError as error:
            raise exceptions.ParseError("The request body is not a valid UTF-8 form.") from error
        return form


class StripeView(CompatAPIView):
    vendor: ClassVar[str] = Vendor.STRIPE

    def vendor_error(
        self, *, status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
    ) -> Response:
        if code == SESSION_EXPIRED:
            response = error_response(
                status, message=message, code=code, error_type="temporary_session_expired"
            )
        elif status == 401:
            response = error_response(401, message=f"Invalid API Key provided. {message}")
        elif status == 429:
            response = error_response(429, message=message, code="rate_limit")
        else:
            response = error_response(status, message=message, param=field)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def _key_problem(self, request: Request) -> Response | None:
        problem = idempotency.header_problem(request, vendor=self.vendor)
        return error_response(400, message=problem, param=idempotency.HEADER) if problem else None

    def _reused(self, key: str) -> Response:
        message = (
            "Keys for idempotent requests can only be used with the same parameters they were first "
            f"used with. Try using a key other than '{key[:100]}' if you meant to execute a different "
            "request."
        )
        return error_response(400, message=message, error_type="idempotency_error")


class MeterEventView(StripeView):
    """v1: one meter event, form-encoded."""

    parser_classes: ClassVar[list[type[BaseParser]]] = [FormParser]  # type: ignore[misc]

    def post(self, request: Request) -> Response:
        form = request.data if isinstance(request.data, QueryDict) else QueryDict()
        organization = request_organization(request)
        problem = self._key_problem(request)
        if problem is not None:
            return problem
        return idempotency.idempotent_response(
            request,
            vendor=self.vendor,
            organization=organization,
            body=dict(form.lists()),
            perform=lambda: self._create(form, organization),
            on_reused=self._reused,
        )

    def _create(self, form: QueryDict, organization: Organization) -> Response:
        now = timezone.now()
        event, problem = stripe_v1_event(form.lists(), now=now)
        if event is None:
            assert problem is not None
            return error_response(400, message=problem.reason, code=_wire_code(problem), param=problem.field)
        try:
            (outcome,) = compat_ingest(
                organization=organization, vendor=self.vendor, events=[event], partial=False
            )
        except CompatBatchInvalid as invalid:
            return _refusal(invalid.outcomes[0])
        if outcome.status == "conflict":
            return error_response(
                400,
                message=f"An event already exists with identifier {event.key}.",
                code="resource_already_exists",
                param="identifier",
            )
        return Response(meter_event_body(event, created=now))


class MeterEventSessionView(StripeView):
    """v2: a session token for the stream (body ``{}``)."""

    parser_classes: ClassVar[list[type[BaseParser]]] = [BoundedJSONParser]  # type: ignore[misc]

    def post(self, request: Request) -> Response:
        api_key = request_api_key(request)
        assert api_key is not None  # CompatBearerAuthentication
        session, token = meter_event_session_create(api_key=api_key)
        return Response(
            {
                "id": f"mes_{session.pk}",
                "object": "v2.billing.meter_event_session",
                "authentication_token": token,
                "created": _iso(session.expires_at - SESSION_LIFETIME),
                "expires_at": _iso(session.expires_at),
                "livemode": False,
            }
        )


class SessionTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <meter event session token>``: the session's API key."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != b"bearer" or len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the session's token as 'Authorization: Bearer <token>'."
            )
        try:
            session = meter_event_session_verify(token=parts[1].decode("ascii"))
        except UnicodeDecodeError:
            session = None
        except MeterEventSessionExpired:
            raise exceptions.AuthenticationFailed(
                "The temporary session token has expired; create a new meter event session.",
                code=SESSION_EXPIRED,
            ) from None
        if session is None:
            raise exceptions.AuthenticationFailed("Unknown meter event session token.")
        return ApiKeyUser(session.api_key), session.api_key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class MeterEventStreamView(StripeView):
    """v2: up to 100 events, checked at once, the valid ones stored, the others listed as
    ingestion errors (Stripe validates the stream asynchronously)."""

    authentication_classes: ClassVar[list[type[BaseAuthentication]]] = [SessionTokenAuthentication]  # type: ignore[misc]
    parser_classes: ClassVar[list[type[BaseParser]]] = [BoundedJSONParser]  # type: ignore[misc]

    def post(self, request: Request) -> Response:
        body = request.data
        events = body.get("events") if isinstance(body, Mapping) else None
        if not isinstance(events, list) or not 1 <= len(events) <= STRIPE_MAX_STREAM_EVENTS:
            return error_response(
                400,
                message=f"Send 'events': a list of 1 to {STRIPE_MAX_STREAM_EVENTS} meter events.",
                param="events",
            )
        unknown = sorted(set(body) - {"events"})
        if unknown:
            return error_response(
                400, message=f"Received unknown parameter: {unknown[0][:100]}", param=unknown[0]
            )
        organization = request_organization(request)
        problem = self._key_problem(request)
        if problem is not None:
            return problem
        return idempotency.idempotent_response(
            request,
            vendor=self.vendor,
            organization=organization,
            body=body,
            perform=lambda: self._ingest(events, organization),
            on_reused=self._reused,
        )

    def _ingest(self, raw_events: list[Any], organization: Organization) -> Response:
        parsed, problems = stripe_stream_events(raw_events, now=timezone.now())
        rejected_events = [event for _, event in problems]
        rejected = [EventOutcome(p.index, "invalid", field=p.field, reason=p.reason) for p, _ in problems]
        if parsed:
            events = [event for _, event in parsed]
            outcomes = compat_ingest(
                organization=organization, vendor=self.vendor, events=events, partial=True
            )
            for (index, event), outcome in zip(parsed, outcomes, strict=True):
                if outcome.status == "invalid":
                    rejected_events.append(event)
                    rejected.append(EventOutcome(index, "invalid", outcome.field, outcome.reason))
                elif outcome.status == "conflict":
                    rejected_events.append(event)
                    reason = f"An event already exists with identifier {event.key}; the first one stands."
                    rejected.append(EventOutcome(index, "invalid", field="identifier", reason=reason))
        if rejected:
            record_ingestion_errors(
                organization=organization,
                vendor=self.vendor,
                events=rejected_events,
                outcomes=[
                    EventOutcome(i, o.status, stripe_param(o.field), o.reason) for i, o in enumerate(rejected)
                ],
            )
        return Response({})


urlpatterns = [
    path("v1/billing/meter_events", MeterEventView.as_view(), name="compat-stripe-meter-events"),
    path(
        "v2/billing/meter_event_session",
        MeterEventSessionView.as_view(),
        name="compat-stripe-meter-event-session",
    ),
    path(
        "v2/billing/meter_event_stream",
        MeterEventStreamView.as_view(),
        name="compat-stripe-meter-event-stream",
    ),
]
