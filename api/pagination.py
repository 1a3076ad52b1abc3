"""Pagination: page numbers for resources (``?page=2&page_size=100``), a cursor for lists that
grow without bound (runs: ``?cursor=...``), stable under inserts.

Query parameters are checked like any input: a ``page`` that is not a whole number from 1 (an
empty one is the first page, and the schema says so with ``allowEmptyValue``), a
``page_size`` outside 1..``max_page_size`` and a ``cursor`` this API did not write (or whose
position is not a value of the ordering column) answer 400 on that parameter. A page number past
the last page is a 404, as in DRF. The schema states the bounds.
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Page, Paginator
from django.db import connection, models
from django.utils import timezone
from rest_framework import exceptions, pagination
from rest_framework.request import Request


def _invalid(name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({name: [message]})


class StrictPageSizeMixin:
    """A ``page_size`` that is not an integer in 1..``max_page_size`` is a 400, not ignored."""

    page_size_query_param: str | None = "page_size"
    max_page_size: int | None = 500

    def get_page_size(self, request: Request) -> Any:
        name, largest = self.page_size_query_param or "page_size", self.max_page_size or 500
        raw = request.query_params.get(name)
        if raw is None:
            return super().get_page_size(request)  # type: ignore[misc]
        # The length first: int() of thousands of digits is slow, and refused past 4,300.
        digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(largest))
        if not digits or not 1 <= int(raw) <= largest:
            raise _invalid(name, f"Enter a whole number from 1 to {largest}.")
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)  # type: ignore[misc]
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size or 500}
        return parameters


class CountOnDemandPaginator(Paginator):
    """A paginator that skips the ``COUNT(*)`` query when the first page holds every row.

    Most organisations have fewer scenarios, products or tiers than a page: for them the
    first page is one query instead of two. Other pages, and a full first page, count as usual.
    """

    def page(self, number: Any) -> Page:
        if "count" in self.__dict__ or number not in (1, "1"):
            return super().page(number)
        rows: Sequence[Any] = list(self.object_list[: self.per_page])
        if len(rows) < self.per_page:
            self.__dict__["count"] = len(rows)  # the cached_property ``count``, known exactly
        elif self.count > self.per_page and self.count <= self.per_page + self.orphans:
            return super().page(number)  # orphans join the first page: let Django slice it
        return self._get_page(rows, 1, self)  # type: ignore[attr-defined]  # Paginator's page factory


class PageNumberPagination(StrictPageSizeMixin, pagination.PageNumberPagination):
    page_size = 50
    django_paginator_class = CountOnDemandPaginator

    def get_page_number(self, request: Request, paginator: Paginator) -> Any:
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            return paginator.num_pages
        digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
        if not digits:
            raise _invalid(self.page_query_param, "Enter a page number: a whole number from 1.")
        # More than 18 digits is past any last page (a 404, like every page past the last).
        return int(digits) if len(digits) <= 18 else sys.maxsize

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["allowEmptyValue"] = True  # read as the first page
        return parameters


class CursorPagination(StrictPageSizeMixin, pagination.CursorPagination):
    """Newest first; ``-id`` breaks ties between rows created in the same instant."""

    page_size = 50
    ordering = ("-created_at", "-id")
    invalid_cursor_message = "Not a cursor of this list: follow the `next` and `previous` links as given."
    _position_field: models.Field[Any, Any] | None = None

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        ordering = self.get_ordering(request, queryset, view)
        self._position_field = queryset.model._meta.get_field(ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """DRF's cursor, with a 400 on ``cursor`` (not a 404) for one that is not strictly base64
        or does not decode, and for a position the ordering column cannot hold (``p=abc`` for an
        id, a NUL character, an id beyond 64 bits): those reached the database and answered 500."""
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            if encoded is not None:
                # DRF's decoder skips characters outside base64 (``%%%`` read as no cursor at all).
                base64.b64decode(encoded.encode("ascii"), validate=True)
            cursor = super().decode_cursor(request)
        except (exceptions.NotFound, ValueError):  # binascii.Error and UnicodeError are ValueErrors
            raise _invalid(self.cursor_query_param, self.invalid_cursor_message) from None
        if cursor is None or cursor.position is None or self._position_field is None:
            return cursor
        field = self._position_field
        try:
            value = field.clean(cursor.position, None)
            if isinstance(value, dt.datetime) and timezone.is_naive(value):
                raise ValueError("a naive date-time")
            field.get_db_prep_value(value, connection)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise _invalid(self.cursor_query_param, self.invalid_cursor_message) from None
        return cursor
