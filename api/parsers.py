"""The API's request bodies: one size limit for every API route (``settings.API_MAX_BODY_BYTES``,
16 MiB: larger bodies get a JSON 413 ``request_too_large`` in the API's error shape) and the
strict JSON parser.

Django's own limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``, 2.5 MiB) stays in force for the web's
forms; in the API, Django never reads the body:

- :class:`BodyLimitMiddleware` refuses a body whose declared ``Content-Length`` is over the
  limit on any path under ``/api/``, before a view runs, so every route answers the same 413
  whether or not it reads its body.
- The parsers read the stream themselves through :func:`read_body`, at most one byte past the
  limit (the backstop for a body without a trustworthy length). :class:`BoundedJSONParser` is
  deliberately not a subclass of DRF's ``JSONParser``: DRF reads ``request.body`` for that class
  (and ``FormParser``) before parsing, which applies Django's limit and turned a valid
  10,000-record ingestion batch of 3.4 MB into an HTML 400. Other parsers get the stream.
  In an API view, read ``request.data``: ``request.body`` is gone once the stream is parsed.

Like DRF's parser, :class:`BoundedJSONParser` refuses ``NaN`` and ``Infinity`` literals;
numbers too large for a float (``1e400``) parse as infinity, which every numeric field of the
API refuses. It decodes with orjson where that gives exactly the standard decoder's result
(``planner.core.json_fast``), and with the standard decoder otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import IO, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.utils import json

from api.exceptions import RequestTooLarge, error_body
from planner.core.json_fast import UNDECIDED, json_loads_fast

#: Paths the API's body limit applies to (``planner.urls`` mounts the API at ``api/v1/``).
API_PATH_PREFIX = "/api/"


def _too_large() -> RequestTooLarge:
    return RequestTooLarge(f"The request body is larger than {settings.API_MAX_BODY_BYTES:,} bytes.")


def read_body(stream: IO[bytes]) -> bytes:
    """The request body from ``stream``; a 413 when it is over ``API_MAX_BODY_BYTES``."""
    limit: int = settings.API_MAX_BODY_BYTES
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large()
    return raw


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:  # Django reads an unparsable length as an empty body, and so do we
        return 0


class BodyLimitMiddleware:
    """A JSON 413 for an API request whose ``Content-Length`` is over ``API_MAX_BODY_BYTES``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if (
            request.path_info.startswith(API_PATH_PREFIX)
            and _declared_length(request) > settings.API_MAX_BODY_BYTES
        ):
            error = _too_large()
            return JsonResponse(error_body(error.detail), status=error.status_code)
        return self.get_response(request)


class BoundedJSONParser(BaseParser):
    """``application/json`` bodies up to ``API_MAX_BODY_BYTES``, read from the stream."""

    media_type = "application/json"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = read_body(stream)
        value = json_loads_fast(raw)
        if value is not UNDECIDED:
            return value
        try:
            text = raw.decode((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
            return json.loads(text)
        except (UnicodeDecodeError, LookupError) as error:
            raise ParseError("The request body is not valid UTF-8.") from error
        except ValueError as error:
            raise ParseError(f"The request body is not valid JSON: {error}") from error
        except RecursionError as error:
            raise ParseError("The request body is nested too deeply.") from error
