"""The ``Idempotency-Key`` header of the Stripe and Orb endpoints, with those vendors' meaning:
the SDK sends one key per call and the same key on its retries.

The first request with a key runs; its 2xx response is stored for 24 hours
(``planner.accounts.idempotency``) and a retry with the same key and the same body gets it
again (header ``Idempotent-Replayed: true``, as both vendors answer) without ingesting anything.
An error response is not stored, so a retry after a failure runs again. The same key with a
different body is the vendor's idempotency error (``on_reused``). Keys are namespaced per vendor
inside the organisation, so they never collide with the native API's keys.

Event keys (Stripe ``identifier``, Orb ``idempotency_key``) already make a resent event count
once; the request key adds what they cannot: a Stripe event sent without ``identifier`` or
``timestamp`` (Stripe fills both in) is recognised when the SDK retries it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.db import transaction
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.idempotency import REPLAYED_HEADER
from planner.accounts.idempotency import IdempotencyKeyReused, StoredResponse, data_hash, idempotent_call
from planner.accounts.models import IdempotencyKey, Organization

HEADER = "Idempotency-Key"


class Rejected(Exception):
    """Raised by ``perform`` to answer ``response`` and undo everything it wrote."""

    def __init__(self, response: Response) -> None:
        self.response = response


def header_problem(request: Request, *, vendor: str) -> str:
    """Why the request's ``Idempotency-Key`` is refused, ``""`` when it is fine or absent."""
    key = request.headers.get(HEADER)
    if key is None:
        return ""
    longest = IdempotencyKey.MAX_LENGTH - len(vendor) - 1
    if not key or len(key) > longest:
        return f"The {HEADER} header must have 1 to {longest} characters."
    if any(character < " " or character == "\x7f" for character in key):
        return f"The {HEADER} header may not contain control characters."
    return ""


def idempotent_response(
    request: Request,
    *,
    vendor: str,
    organization: Organization,
    body: object,
    perform: Callable[[], Response],
    on_reused: Callable[[str], Response],
) -> Response:
    """``perform()``'s response, run in one transaction, honouring the request's
    ``Idempotency-Key`` (module docstring). ``body`` is the parsed request (its hash tells a
    retry from another request). ``perform`` may raise ``Rejected`` to answer an error and roll
    back what it wrote. Check ``header_problem`` first."""
    key = request.headers.get(HEADER)
    if key is None:
        try:
            with transaction.atomic():
                return perform()
        except Rejected as rejected:
            return rejected.response

    def stored() -> StoredResponse:
        response = perform()
        if not 200 <= response.status_code < 300:
            raise Rejected(response)
        return StoredResponse(status=response.status_code, body=json.dumps(response.data, cls=JSONEncoder))

    try:
        result = idempotent_call(
            organization=organization,
            key=f"{vendor}:{key}",
            request_hash=data_hash(data={"query": request.query_params.urlencode(), "body": body}),
            perform=stored,
        )
    except Rejected as rejected:
        return rejected.response
    except IdempotencyKeyReused:
        return on_reused(key)
    response = Response(json.loads(result.body), status=result.status)
    if result.replayed:
        response[REPLAYED_HEADER] = "true"
    return response
