"""Metronome's usage ingestion as the ``metronome-sdk`` (4.x) sends it, under
``/compat/metronome/`` (docs/INTEGRATIONS.md, "Metronome"). The user builds
``Metronome(bearer_token=<Margin Planner API key>, base_url=<site>/compat/metronome)``.

``POST v1/ingest`` takes a bare JSON array of usage events (``transaction_id``, ``customer_id``,
``event_type``, ``timestamp`` in RFC 3339, ``properties``), ingested all or nothing; Metronome
takes 1 to 100 per call, this endpoint up to the native batch limit (10,000). Success is an
empty 200 (the SDK ignores the body). Metronome drops a resent ``transaction_id`` silently, for
34 days: so does this endpoint, whether the resend is identical or not (the first version
stands), and it keeps the keys for good.

Errors are ``{"message": ..., "errors": [{"index", "field", "message"}]}`` with the status the
SDK maps to its exception (400 ``BadRequestError``, 401 ``AuthenticationError``, 403
``PermissionDeniedError``) and ``x-should-retry: false`` on every 4xx but a 429, which the
Stainless-built SDK obeys (it would otherwise retry a 408 or 409).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.urls import path
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.compat.auth import CompatAPIView
from api.parsers import BoundedJSONParser
from api.tenancy import request_organization
from planner.actuals.compat.ingest import CompatBatchInvalid, compat_ingest
from planner.actuals.compat.vendors import Vendor
from planner.actuals.compat.wire_stripe_metronome_orb import WireProblem, metronome_events

#: At most this many problems are listed in an error body.
MAX_LISTED = 100


def error_response(status: int, message: str, problems: Sequence[WireProblem] = ()) -> Response:
    """Metronome's error: a message (and the events at fault); no retry of a 4xx but a 429."""
    body: dict[str, Any] = {"message": message}
    if problems:
        body["errors"] = [
            {"index": problem.index, "field": problem.field, "message": problem.reason}
            for problem in problems[:MAX_LISTED]
        ]
    headers = {"x-should-retry": "false"} if 400 <= status < 500 and status != 429 else {}
    return Response(body, status=status, headers=headers)


def _summary(problems: Sequence[WireProblem]) -> str:
    first = problems[0]
    where = f"usage[{first.index}].{first.field}" if first.field else f"usage[{first.index}]"
    more = f" ({len(problems):,} events refused; nothing was ingested)" if len(problems) > 1 else ""
    return f"{where}: {first.reason}{more}"


class IngestView(CompatAPIView):
    """``POST v1/ingest``: a JSON array of usage events, all or nothing."""

    vendor: ClassVar[str] = Vendor.METRONOME
    parser_classes: ClassVar[list[type[BaseParser]]] = [BoundedJSONParser]  # type: ignore[misc]

    def vendor_error(
        self, *, status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
    ) -> Response:
        response = error_response(status, message)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def post(self, request: Request) -> Response:
        events, problems = metronome_events(request.data)
        if problems:
            return error_response(400, _summary(problems), problems)
        try:
            compat_ingest(
                organization=request_organization(request), vendor=self.vendor, events=events, partial=False
            )
        except CompatBatchInvalid as invalid:
            refused = [WireProblem(o.index, o.field, o.reason) for o in invalid.outcomes]
            return error_response(400, _summary(refused), refused)
        return Response(status=200)


urlpatterns = [path("v1/ingest", IngestView.as_view(), name="compat-metronome-ingest")]
