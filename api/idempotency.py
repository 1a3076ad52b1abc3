"""The ``Idempotency-Key`` request header of the endpoints that start a job (docs/API.md,
"Idempotency").

Decorate the view method with :func:`idempotent` (under ``@action``) and document it with
``parameters=[IDEMPOTENCY_KEY_PARAMETER]`` and ``**IDEMPOTENCY_RESPONSES`` in its
``extend_schema``. Without the header nothing changes. With it, the request is identified by its
method, path and parsed body (``request.data`` as canonical JSON: the body stream belongs to the
parsers, see ``api.parsers``) and handed to ``planner.accounts.idempotency.idempotent_call``:

- the first request runs the view; a 2xx response (status and JSON body) is stored for 24 hours;
  an error stores nothing, so the request may be retried with the same key;
- the same key with the same request answers the stored response again, with the header
  ``Idempotent-Replayed: true``, and runs nothing;
- the same key with another request is a 422 ``idempotency_key_reused``;
- an empty key, one longer than 255 characters or one with control characters is a 400 naming
  the header.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.schema import ERROR_COMPONENT
from api.tenancy import request_organization
from planner.accounts.idempotency import (
    IdempotencyKeyReused,
    StoredResponse,
    data_hash,
    idempotent_call,
)
from planner.accounts.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type={
        "type": "string",
        "minLength": 1,
        "maxLength": IdempotencyKey.MAX_LENGTH,
        "pattern": "^[^\\x00-\\x1f\\x7f]+$",
    },
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"Optional, 1 to {IdempotencyKey.MAX_LENGTH} characters, unique per request (a UUID). "
        "Sending the same request again with the same key within 24 hours answers the first "
        "response again (header `Idempotent-Replayed: true`) and starts nothing; the same key "
        "with a different request is a 422 `idempotency_key_reused`."
    ),
)
IDEMPOTENCY_RESPONSES = {
    422: OpenApiResponse(
        {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"},
        description="`idempotency_key_reused`: the Idempotency-Key was used for a different request.",
    )
}

View = TypeVar("View")
P = ParamSpec("P")


class IdempotencyKeyReusedError(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"

    def __init__(self) -> None:
        message = (
            f"This {HEADER} was used within the last 24 hours for a different request; "
            "send a new key for a new request."
        )
        super().__init__({HEADER: [exceptions.ErrorDetail(message, code=self.default_code)]})


class _NotKept(Exception):
    """A response that is not stored (not a 2xx): it leaves the transaction, key and all."""

    def __init__(self, response: Response) -> None:
        self.response = response


def request_idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, None without one; a 400 naming the header if invalid."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key:
        raise exceptions.ValidationError(
            {HEADER: [exceptions.ErrorDetail("May not be empty.", code="blank")]}
        )
    if len(key) > IdempotencyKey.MAX_LENGTH:
        message = f"At most {IdempotencyKey.MAX_LENGTH} characters (this one has {len(key)})."
        raise exceptions.ValidationError({HEADER: [exceptions.ErrorDetail(message, code="max_length")]})
    if any(character < " " or character == "\x7f" for character in key):
        message = "Control characters (NUL, tab, newline...) are not allowed."
        raise exceptions.ValidationError({HEADER: [exceptions.ErrorDetail(message, code="invalid")]})
    return key


def _request_hash(request: Request) -> str:
    data = request.data
    if isinstance(data, QueryDict):
        data = dict(data.lists())
    return data_hash(data={"method": request.method, "path": request.path, "data": data})


def idempotent(
    view_method: Callable[Concatenate[View, Request, P], Response],
) -> Callable[Concatenate[View, Request, P], Response]:
    """Honour the ``Idempotency-Key`` header on ``view_method`` (see the module docstring)."""

    @functools.wraps(view_method)
    def wrapper(view: View, request: Request, *args: P.args, **kwargs: P.kwargs) -> Response:
        key = request_idempotency_key(request)
        if key is None:
            return view_method(view, request, *args, **kwargs)

        def perform() -> StoredResponse:
            response = view_method(view, request, *args, **kwargs)
            if not status.is_success(response.status_code):
                raise _NotKept(response)
            return StoredResponse(
                status=response.status_code, body=json.dumps(response.data, cls=JSONEncoder)
            )

        try:
            stored = idempotent_call(
                organization=request_organization(request),
                key=key,
                request_hash=_request_hash(request),
                perform=perform,
            )
        except _NotKept as not_kept:
            return not_kept.response
        except IdempotencyKeyReused:
            raise IdempotencyKeyReusedError() from None
        # The first response too is rendered from the stored text, so a replay is the same bytes.
        response = Response(json.loads(stored.body), status=stored.status)
        if stored.replayed:
            response[REPLAYED_HEADER] = "true"
        return response

    return wrapper
