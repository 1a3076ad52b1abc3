"""The API's routes, found from the URL resolver, for tests that must cover every endpoint
(tenant isolation, fast reads) without being edited when one is added."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

PREFIX = "api/v1/"
PUBLIC = {"api-schema", "api-docs", "api-not-found"}
#: Object routes over data every organisation shares (the price catalog), or named the same in
#: every organisation (a billing vendor's mapping: each caller reads and writes its own): any
#: organisation's caller gets them (200), but they must not show organisation A's data either.
SHARED = {"catalog-model-detail", "billing-mapping-detail"}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    name: str
    regex: str
    view: Any
    kwargs: tuple[str, ...]

    @property
    def methods(self) -> list[str]:
        actions = getattr(self.view, "actions", None)
        if actions:
            return [m for m in METHODS if m in actions]
        cls = getattr(self.view, "cls", None) or getattr(self.view, "view_class", None)
        return [m for m in METHODS if cls is not None and hasattr(cls, m)]


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> list[Route]:
    routes: list[Route] = []
    for pattern in patterns:
        regex = prefix + str(pattern.pattern.regex.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            routes.extend(_walk(pattern.url_patterns, regex.rstrip("$")))
        elif pattern.name:
            routes.append(
                Route(pattern.name, regex, pattern.callback, tuple(pattern.pattern.regex.groupindex))
            )
    return routes


def api_routes() -> list[Route]:
    return [
        r for r in _walk(get_resolver().url_patterns) if r.regex.startswith(PREFIX) and r.name not in PUBLIC
    ]


def route_path(route: Route, values: dict[str, Any]) -> str:
    """``route``'s URL with ``values`` for its kwargs."""
    path = route.regex.rstrip("$")
    for name in route.kwargs:
        path = re.sub(rf"\(\?P<{name}>[^)]*\)(\{{[^}}]*\}})?", str(values[name]), path)
    return "/" + path


def own_object_values(route: Route, key: str) -> dict[str, Any] | None:
    """The URL kwargs of an object organisation A can see on ``route`` (through A's own view)."""
    cls = route.view.cls
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    view = cls(request=Request(request, authenticators=[a() for a in cls.authentication_classes]))
    view.action = "retrieve"
    view.format_kwarg = None
    view.kwargs = {}
    obj = view.get_queryset().first()
    if obj is None:
        return None
    field = getattr(cls, "lookup_field", "pk")
    return {name: getattr(obj, field) for name in route.kwargs}
