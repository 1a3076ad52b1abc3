"""Orb's event ingestion as the ``orb-billing`` SDK (4.x) sends it, under ``/compat/orb/``
(docs/INTEGRATIONS.md, "Orb"). The user builds ``Orb(api_key=<Margin Planner API key>,
base_url=<site>/compat/orb)``; ``/compat/orb/v1/ingest`` (the real API's path) works too.

``POST ingest`` takes ``{"events": [...]}`` (``event_name``, ``idempotency_key``,
``external_customer_id`` or ``customer_id``, ``timestamp`` in ISO 8601, UTC when it has no
offset, flat ``properties``) and answers 200 ``{"validation_failed": [...], "debug": null}``:
the valid events are stored and each refused one is listed with its reasons (and on the
ingestion errors page); it may be sent again, fixed, with the same key. ``?debug=true`` adds
``{"debug": {"duplicate": [...], "ingested": [...]}}``.

A resent event (same ``idempotency_key``, same event) is counted once and listed as a
duplicate. An ``idempotency_key`` already stored with a different event rejects the whole
batch, as Orb documents ("the entire batch will be rejected"), with Orb's 409
``resource-conflict`` error naming the keys; nothing of the batch is stored. The request's
``Idempotency-Key`` header is honoured as Orb does (``api.compat.idempotency``: a replay answers
``Idempotent-Replayed: true``; the key reused for another request is the same 409).

Errors are Orb's problem bodies ``{"status", "type", "title", "detail"}`` with the ``type`` URL
the SDK maps to its exception (``RequestValidationError``, ``OrbAuthenticationError``,
``ResourceConflict``...) and ``x-should-retry: false`` on every 4xx but a 429.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.urls import path
from django.utils import timezone
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.compat import idempotency
from api.compat.auth import CompatAPIView
from api.parsers import BoundedJSONParser
from api.tenancy import request_organization
from planner.accounts.models import Organization
from planner.actuals.compat.ingest import EventOutcome, compat_ingest, record_ingestion_errors
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire_stripe_metronome_orb import orb_events
from planner.actuals.parse import MAX_BATCH

_TYPES = "https://docs.withorb.com/reference/error-responses#"
_TITLES = {
    400: ("400-request-validation-errors", "Request validation error"),
    401: ("401-authentication-error", "Authentication error"),
    404: ("404-url-not-found", "URL not found"),
    409: ("409-resource-conflict", "Resource conflict"),
    413: ("413-request-too-large", "Request too large"),
    429: ("429-too-many-requests", "Too many requests"),
}


def error_response(status: int, detail: str, **extra: Any) -> Response:
    """Orb's problem body; no retry of a 4xx but a 429."""
    slug, title = _TITLES.get(status, (f"{status}", "Error"))
    body = {"status": status, "type": _TYPES + slug, "title": title, "detail": detail, **extra}
    headers = {"x-should-retry": "false"} if 400 <= status < 500 and status != 429 else {}
    return Response(body, status=status, headers=headers)


class IngestView(CompatAPIView):
    """``POST ingest``: valid events stored, refused ones listed in ``validation_failed``."""

    vendor: ClassVar[str] = Vendor.ORB
    parser_classes: ClassVar[list[type[BaseParser]]] = [BoundedJSONParser]  # type: ignore[misc]

    def vendor_error(
        self, *, status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
    ) -> Response:
        extra = {"validation_errors": [message]} if status == 400 else {}
        response = error_response(status, message, **extra)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def post(self, request: Request) -> Response:
        body = request.data
        events = body.get("events") if isinstance(body, Mapping) else None
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
            detail = f"Send {{'events': [...]}} with 1 to {MAX_BATCH:,} events."
            return error_response(400, detail, validation_errors=[detail])
        unknown = sorted(set(body) - {"events"})
        if unknown:
            detail = f"Unknown field {unknown[0][:100]!r}."
            return error_response(400, detail, validation_errors=[detail])
        problem = idempotency.header_problem(request, vendor=self.vendor)
        if problem:
            return error_response(400, problem, validation_errors=[problem])
        organization = request_organization(request)
        debug = request.query_params.get("debug", "").lower() == "true"
        return idempotency.idempotent_response(
            request,
            vendor=self.vendor,
            organization=organization,
            body=body,
            perform=lambda: self._ingest(events, organization, debug=debug),
            on_reused=self._reused,
        )

    def _reused(self, key: str) -> Response:
        return error_response(
            409, f"The Idempotency-Key {key[:100]!r} was already used for a different request."
        )

    def _ingest(self, raw_events: list[Any], organization: Organization, *, debug: bool) -> Response:
        parsed, problems = orb_events(raw_events, now=timezone.now())
        refused = [(problem.index, event, problem.field, problem.reason) for problem, event in problems]
        events = [event for _, event in parsed]
        outcomes = (
            compat_ingest(organization=organization, vendor=self.vendor, events=events, partial=True)
            if events
            else []
        )
        statuses: dict[str, list[str]] = {"created": [], "duplicate": [], "conflict": []}
        for (index, event), outcome in zip(parsed, outcomes, strict=True):
            if outcome.status == "invalid":
                refused.append((index, event, outcome.field, outcome.reason))
            else:
                statuses[outcome.status].append(event.key)
        if statuses["conflict"]:
            listed = ", ".join(repr(key) for key in statuses["conflict"][:20])
            raise idempotency.Rejected(
                error_response(
                    409,
                    "Events with these idempotency keys were already ingested with different bodies: "
                    f"{listed}. The whole batch was rejected; nothing was ingested.",
                )
            )
        refused.sort(key=lambda item: item[0])
        if refused:
            record_ingestion_errors(
                organization,
                self.vendor,
                [event for _, event, _, _ in refused],
                [
                    EventOutcome(i, "invalid", field, reason)
                    for i, (_, _, field, reason) in enumerate(refused)
                ],
            )
        response: dict[str, Any] = {
            "validation_failed": [
                {
                    "idempotency_key": event.key,
                    "validation_errors": [f"{field}: {reason}" if field else reason],
                }
                for _, event, field, reason in refused
            ],
            "debug": None,
        }
        if debug:
            response["debug"] = {"duplicate": statuses["duplicate"], "ingested": statuses["created"]}
        return Response(response)


urlpatterns = [
    path("ingest", IngestView.as_view(), name="compat-orb-ingest"),
    path("v1/ingest", IngestView.as_view(), name="compat-orb-v1-ingest"),
]
