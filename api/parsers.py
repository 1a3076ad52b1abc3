"""A JSON parser with a size limit (``settings.API_MAX_BODY_BYTES``: larger bodies get a 413).

DRF hands the parser the raw request stream, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does
not apply to JSON bodies; this parser reads at most one byte past the limit. Like DRF's parser
it refuses ``NaN`` and ``Infinity`` literals; numbers too large for a float (``1e400``) parse as
infinity, which every numeric field of the API refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from api.exceptions import RequestTooLarge


class BoundedJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit: int = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit:,} bytes.")
        try:
            text = raw.decode((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
            return json.loads(text)
        except (UnicodeDecodeError, LookupError) as error:
            raise ParseError("The request body is not valid UTF-8.") from error
        except ValueError as error:
            raise ParseError(f"The request body is not valid JSON: {error}") from error
        except RecursionError as error:
            raise ParseError("The request body is nested too deeply.") from error
