"""Lago's event ingestion, for the ``lago-python-client`` SDK: ``Client(api_key=KEY,
api_url=BASE + "/compat/lago/")`` (trailing slash).

- ``POST /compat/lago/api/v1/events`` with ``{"event": {transaction_id, external_subscription_id,
  code, timestamp, precise_total_amount_cents, properties}}`` answers 200 echoing ``{"event":
  {...}}`` (``client.events.create`` parses it into an ``EventResponse``);
- ``POST /compat/lago/api/v1/events/batch`` with ``{"events": [...]}`` (at most 100) answers 200
  ``{"events": [...]}``.

``timestamp`` is Unix seconds (an integer, or a number sent as a string; an RFC 3339 string is
accepted too), the request time when absent. Errors have Lago's shape, ``{"status", "error",
"code", "error_details"}``: 422 ``validation_errors`` naming each field (by event index for a
batch, as Lago does). A ``transaction_id`` stored with another payload is Lago's answer to a
reused one: 422 ``{"transaction_id": ["value_already_exist"]}``, nothing of the request stored;
an exact resend succeeds and is counted once. The SDK retries only 429 (which carries
``Retry-After`` and ``x-ratelimit-reset``), so refusals are never retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import URLPattern, URLResolver, re_path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request

from api.compat.auth import CompatAPIView
from api.compat.parsers import JSON_PARSERS
from api.tenancy import request_organization
from planner.actuals.compat.events import namespaced_key
from planner.actuals.compat.ingest import CompatBatchInvalid, VendorEvent, compat_ingest_unless_conflict
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire import LagoEventsInvalid, lago_events

_NAMESPACE = uuid.UUID("6f1c3c2e-4d55-4bde-9a0b-5b1f0e7d2a10")  # lago_id = uuid5 of the record key


def lago_error(
    status: int,
    *,
    code: str = "",
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    error: str = "",
) -> JsonResponse:
    """Lago's error body: ``{"status", "error", "code", "error_details"}``."""
    body: dict[str, Any] = {"status": status, "error": error or HTTPStatus(status).phrase}
    if code:
        body["code"] = code
    if details is not None:
        body["error_details"] = dict(details)
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def validation_error(details: Mapping[str, Any]) -> JsonResponse:
    return lago_error(422, code="validation_errors", details=details)


def _echo(event: VendorEvent, item: Mapping[str, Any], received: datetime) -> dict[str, Any]:
    """The event as Lago answers it (``EventResponse``)."""
    return {
        "lago_id": str(uuid.uuid5(_NAMESPACE, namespaced_key(Vendor.LAGO, "", event.key))),
        "transaction_id": event.key,
        "lago_customer_id": None,
        "lago_subscription_id": None,
        "external_subscription_id": event.customer,
        "code": event.name,
        "timestamp": event.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "precise_total_amount_cents": item.get("precise_total_amount_cents"),
        "properties": dict(event.properties),
        "created_at": received.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def _field(field: str) -> str:
    """An outcome's field as Lago names it (``properties.value`` stays dotted)."""
    return field or "event"


class _LagoView(CompatAPIView):
    vendor = Vendor.LAGO
    parser_classes = JSON_PARSERS
    batch = False

    def vendor_error(
        self, *, status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
    ) -> HttpResponseBase:
        headers = dict(headers or {})
        if status == 429 and "Retry-After" in headers:
            headers["x-ratelimit-reset"] = headers["Retry-After"]
        if status == 400:
            return lago_error(400, code="bad_request", error=f"Bad Request: {message}", headers=headers)
        return lago_error(status, code=code, error=f"{HTTPStatus(status).phrase}: {message}", headers=headers)

    def _details(self, pairs: Sequence[tuple[int, str, str]]) -> dict[str, Any]:
        details: dict[str, Any] = {}
        for index, field, reason in pairs:
            target = details.setdefault(str(index), {}) if self.batch else details
            target.setdefault(_field(field), []).append(reason)
        return details

    def post(self, request: Request) -> HttpResponseBase:
        received = timezone.now()
        try:
            events, items = lago_events(request.data, batch=self.batch, now=received)
            outcomes = compat_ingest_unless_conflict(
                organization=request_organization(request), vendor=self.vendor, events=events, now=received
            )
        except LagoEventsInvalid as invalid:
            return validation_error(invalid.details)
        except CompatBatchInvalid as refused:
            return validation_error(self._details([(o.index, o.field, o.reason) for o in refused.outcomes]))
        conflicts = [
            (o.index, "transaction_id", "value_already_exist") for o in outcomes if o.status == "conflict"
        ]
        if conflicts:
            return validation_error(self._details(conflicts))
        echoed = [_echo(event, item, received) for event, item in zip(events, items, strict=True)]
        if self.batch:
            return JsonResponse({"events": echoed})
        return JsonResponse({"event": echoed[0]})


class EventView(_LagoView):
    """``POST /compat/lago/api/v1/events``."""


class BatchView(_LagoView):
    """``POST /compat/lago/api/v1/events/batch`` (at most 100 events)."""

    batch = True


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return lago_error(
        404, code="not_found", error="Not Found: events go to POST /api/v1/events or /api/v1/events/batch"
    )


urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^api/v1/events/?$", EventView.as_view(), name="compat-lago-events"),
    re_path(r"^api/v1/events/batch/?$", BatchView.as_view(), name="compat-lago-events-batch"),
    re_path(r"^[\s\S]*$", not_found, name="compat-lago-not-found"),
]
