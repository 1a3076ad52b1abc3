"""Pagination: page numbers for resources (``?page=2&page_size=100``), a cursor for lists that
grow without bound (runs: ``?cursor=...``), stable under inserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
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


class CursorPagination(StrictPageSizeMixin, pagination.CursorPagination):
    """Newest first; ``-id`` breaks ties between rows created in the same instant."""

    page_size = 50
    ordering = ("-created_at", "-id")
