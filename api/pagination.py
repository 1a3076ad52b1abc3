"""Pagination: page numbers for resources (``?page=2&page_size=100``), a cursor for lists that
grow without bound (runs: ``?cursor=...``), stable under inserts."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination
from rest_framework.request import Request


class StrictPageSizeMixin:
    """A ``page_size`` that is not an integer in 1..``max_page_size`` is a 400, not ignored."""

    page_size_query_param: str | None = "page_size"
    max_page_size: int | None = 500

    def get_page_size(self, request: Request) -> Any:
        name, largest = self.page_size_query_param or "page_size", self.max_page_size or 500
        raw = request.query_params.get(name)
        if raw is None:
            return super().get_page_size(request)  # type: ignore[misc]
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= largest:
            raise exceptions.ValidationError({name: [f"Enter a whole number from 1 to {largest}."]})
        return int(raw)


class PageNumberPagination(StrictPageSizeMixin, pagination.PageNumberPagination):
    page_size = 50


class CursorPagination(StrictPageSizeMixin, pagination.CursorPagination):
    """Newest first; ``-id`` breaks ties between rows created in the same instant."""

    page_size = 50
    ordering = ("-created_at", "-id")
