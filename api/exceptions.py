"""One error shape for every 4xx of the API.

Every client error answers::

    {"errors": [{"field": "tiers[0].monthly_fee", "code": "max_value", "message": "..."}]}

``field`` is the path of the offending input (``name``, ``models[1].share``, dotted for nested
objects, ``[i]`` for list items) or ``null`` for an error about the request as a whole
(authentication, permission, not found, throttling, a body that is not JSON). ``code`` is a
stable machine-readable reason (DRF's and Django's codes: ``required``, ``invalid``,
``does_not_exist``, ``not_found``, ``not_authenticated``, ``throttled``...); ``message`` is for
people. Django ``ValidationError``s raised by the planner services are reported the same way
as serializer errors, under the field they name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.settings import api_settings

_WHOLE_REQUEST = frozenset({NON_FIELD_ERRORS, api_settings.NON_FIELD_ERRORS_KEY})


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key in _WHOLE_REQUEST:
        return path
    return f"{path}.{key}" if path else key


def _flatten(detail: Any, path: str = "") -> Iterator[dict[str, Any]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, _join(path, key if isinstance(key, int) else str(key)))
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            for item in detail:
                yield from _flatten(item, path)
        else:
            for index, item in enumerate(detail):
                yield from _flatten(item, _join(path, index))
    else:
        yield {
            "field": path or None,
            "code": getattr(detail, "code", None) or "invalid",
            "message": str(detail),
        }


def error_body(detail: Any) -> dict[str, list[dict[str, Any]]]:
    """The ``{"errors": [...]}`` body for a DRF error ``detail`` (string, list or dict)."""
    return {"errors": list(_flatten(detail))}


def _still_referred_to(objects: Iterable[Model]) -> exceptions.ValidationError:
    """The 400 for a delete that ``objects`` (rows with a protecting foreign key) refuse."""
    counts = Counter(obj._meta for obj in objects)
    referrers = ", ".join(
        f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural}"
        for meta, count in sorted(counts.items(), key=lambda item: item[0].label)
    )
    message = f"It cannot be deleted while other records refer to it ({referrers})."
    return exceptions.ValidationError(
        {api_settings.NON_FIELD_ERRORS_KEY: [exceptions.ErrorDetail(message, code="protected")]}
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with service ValidationErrors as 400s and every body in one shape."""
    # Imported here, not at the top: rest_framework.views loads the parser classes as it is
    # imported, and api.parsers imports this module (for the 413), so a top-level import fails
    # in whichever of the two modules is imported first.
    from rest_framework.views import exception_handler

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, ProtectedError):
        exc = _still_referred_to(exc.protected_objects)
    elif isinstance(exc, RestrictedError):
        exc = _still_referred_to(exc.restricted_objects)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = error_body(exc.detail)
    return response


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under ``/api/v1/``: a JSON 404 in the same shape, not an HTML page."""
    return JsonResponse(error_body(exceptions.ErrorDetail("No such endpoint.", code="not_found")), status=404)
