"""OpenMeter's event ingestion, for the ``openmeter`` SDK: ``Client(endpoint=BASE +
"/compat/openmeter", token=KEY)``.

``POST /compat/openmeter/api/v1/events`` takes one CloudEvent (``application/cloudevents+json``
or ``application/json``) or a JSON array of them (``application/cloudevents-batch+json`` or
``application/json``), structured mode. Success is exactly **204** with no body (the SDK raises on
anything else). Errors are RFC 7807 problems (``application/problem+json``: ``type``, ``title``,
``status``, ``detail``, ``instance``, and ``extensions.validationErrors`` naming each event's
field); no ``Retry-After`` on a 4xx other than 429 (the SDK's retry policy retries any status
carrying one, a 400 included). A batch is all or nothing: an invalid event refuses it (400), and
an event whose (source, id) is stored with another payload refuses it too (409: the SDK raises
``ResourceExistsError``), with nothing stored; an exact resend is a success counted once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request

from api.compat.auth import CompatAPIView
from api.compat.parsers import JSON_PARSERS
from api.tenancy import request_organization
from planner.actuals.compat.ingest import (
    CompatBatchInvalid,
    EventOutcome,
    compat_ingest_unless_conflict,
)
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire import OpenMeterEventsInvalid, openmeter_events

PROBLEM_TYPE = "application/problem+json"
EVENTS_PATH = "/api/v1/events"


def problem(
    status: int,
    detail: str,
    *,
    instance: str = "",
    errors: Sequence[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """An RFC 7807 problem response, as OpenMeter answers errors."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["extensions"] = {"validationErrors": list(errors)}
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _validation_errors(errors: Sequence[tuple[int, str, str]], single: bool) -> list[dict[str, Any]]:
    def where(index: int, field: str) -> str:
        if single:
            return field
        return f"[{index}].{field}" if field else f"[{index}]"

    return [{"field": where(index, field), "message": message} for index, field, message in errors]


class EventsView(CompatAPIView):
    """``POST /compat/openmeter/api/v1/events`` (see the module docstring)."""

    vendor = Vendor.OPENMETER
    parser_classes = JSON_PARSERS

    def vendor_error(
        self, *, status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
    ) -> HttpResponseBase:
        return problem(status, message, instance=self.request.path, headers=headers)

    def post(self, request: Request) -> HttpResponseBase:
        body = request.data
        single = isinstance(body, Mapping)
        try:
            events, single = openmeter_events(body)
            outcomes = compat_ingest_unless_conflict(
                organization=request_organization(request), vendor=self.vendor, events=events
            )
        except OpenMeterEventsInvalid as invalid:
            detail = "; ".join(
                f"{item['field'] or 'event'}: {item['message']}"
                for item in _validation_errors(invalid.errors[:3], single)
            )
            return problem(
                400,
                f"Invalid event(s): {detail}",
                instance=request.path,
                errors=_validation_errors(invalid.errors, single),
            )
        except CompatBatchInvalid as refused:
            return self._refused(refused.outcomes, single)
        conflicts = [outcome for outcome in outcomes if outcome.status == "conflict"]
        if conflicts:
            ids = ", ".join(repr(events[outcome.index].key) for outcome in conflicts[:5])
            return problem(
                409,
                f"Event(s) {ids} already stored with a different payload (same source and id); "
                "nothing was stored.",
                instance=request.path,
                errors=_validation_errors(
                    [(o.index, "id", "Already stored with a different payload.") for o in conflicts], single
                ),
            )
        return HttpResponse(status=204)

    def _refused(self, outcomes: Sequence[EventOutcome], single: bool) -> HttpResponse:
        errors = [(outcome.index, outcome.field, outcome.reason) for outcome in outcomes]
        first = _validation_errors(errors[:1], single)[0]
        more = f" ({len(errors)} errors in all)" if len(errors) > 1 else ""
        return problem(
            400,
            f"{first['field'] or 'event'}: {first['message']}{more}",
            instance=self.request.path,
            errors=_validation_errors(errors, single),
        )


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return problem(
        404, "No such OpenMeter endpoint here; events go to POST /api/v1/events.", instance=request.path
    )


urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^api/v1/events/?$", EventsView.as_view(), name="compat-openmeter-events"),
    re_path(r"^[\s\S]*$", not_found, name="compat-openmeter-not-found"),
]
