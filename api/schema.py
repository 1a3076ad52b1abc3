"""OpenAPI additions: the ``Api-Key`` security scheme and the error responses every operation
can give (one shape, see ``api.exceptions``). Imported by ``ApiConfig.ready``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_COMPONENT = "ErrorResponse"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx response. `field` is the path of the input at fault (null for the "
    "request as a whole), `code` a stable reason, `message` for people.",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True, "example": "tiers[0].monthly_fee"},
                    "code": {"type": "string", "example": "invalid"},
                    "message": {"type": "string"},
                    "line": {
                        "type": "integer",
                        "description": "File imports only: the line at fault (CSV: the header is "
                        "line 1; JSON: the entry's position, from 1; 0: the file as a whole).",
                    },
                },
                "required": ["field", "code", "message"],
            },
        }
    },
    "required": ["errors"],
}
ERROR_RESPONSES = {
    "400": "Invalid input: each error names the field and the reason.",
    "401": "No credentials, or an invalid or revoked API key.",
    "403": "The API key lacks the scope, or the user's role cannot do this.",
    "404": "No such object in the caller's organisation.",
    "405": "Method not allowed.",
    "406": "Only application/json responses are available.",
    "413": "The request body is too large.",
    "415": "Send JSON (Content-Type: application/json).",
    "429": "Too many requests for this key; retry after the Retry-After header's seconds.",
}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; create keys with `manage.py create_api_key`.",
        }


def add_error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: document the shared error responses on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path in ("/api/v1/schema/", "/api/v1/docs/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    return result
