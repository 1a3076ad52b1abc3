"""A month's customers, searched and paged by keyset (issue #15, item 4): the list of the
actuals pages that stays fast at 100k customers. Read only (a selector module).

- **Which customers.** Those of the organisation with usage in the month (a rollup row), like
  the month's report (``customer_margins_for_period``): a customer without records is not known
  to be subscribed.
- **Order.** By external id. It is unique per organisation (the constraint
  ``planner_customer_unique_external_id``), so it is a total order on its own, and the index of
  that constraint, (organization_id, external_id), delivers it: a page walks that index from
  the cursor and looks up each customer's row of the month through the rollup's unique
  (customer_id, period) index, stopping after ``size + 1`` customers. No OFFSET: the 2,000th
  page costs what the first costs.
- **Search.** A case-insensitive substring of the external id (``icontains``: ``UPPER(...)
  LIKE UPPER('%q%')`` on PostgreSQL, ``LIKE`` on SQLite, which folds ASCII letters only), with
  ``%`` and ``_`` taken literally. Substring rather than prefix because billing systems put
  prefixes on ids (``cus_``, ``org-``): a founder searches for the part they remember. No index
  serves a substring: the search filters the same ordered walk, so a search that matches many
  customers stops after a page of them, and one that matches few reads the organisation's
  customers once (docs/BENCHMARKS.md, "Actuals customer list (issue 15)").
- **Cursor.** ``a`` (after) or ``b`` (before) and the external id of the row it starts from,
  UTF-8, in unpadded URL-safe base64: opaque to the page, checked strictly on the way in
  (``cursor_decode`` raises ``InvalidCursor``). A cursor names a position in the order only, so
  it stays valid when customers are added or the search changes.
- **Figures.** Each page's customers are billed by the report's one rule
  (``customer_margins_for_customers``), so a row equals the month's report row of that customer.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import date

from planner.accounts.models import Organization
from planner.actuals.models import Customer
from planner.actuals.rollup import customer_months_fold
from planner.actuals.selectors import CustomerMargin, customer_margins_for_customers, month_start

PAGE_SIZE = 50
#: Longest search accepted (characters); external ids are at most 255.
SEARCH_MAX_LENGTH = 100
#: Longest external id (``Customer.external_id``) and so the longest cursor key.
KEY_MAX_LENGTH = 255
AFTER, BEFORE = "a", "b"
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,1400}")


class InvalidCursor(ValueError):
    """A cursor this list did not write."""

    def __init__(self) -> None:
        super().__init__("Not a page link of this list: follow the Next and Previous links as given.")


@dataclass(frozen=True)
class Cursor:
    """Rows after (``AFTER``) or before (``BEFORE``) the customer whose external id is ``key``."""

    direction: str
    key: str


def cursor_encode(cursor: Cursor) -> str:
    raw = (cursor.direction + cursor.key).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def cursor_decode(text: str) -> Cursor:
    """The cursor ``cursor_encode`` wrote as ``text``; ``InvalidCursor`` for anything else."""
    if not _CURSOR_TEXT.fullmatch(text):
        raise InvalidCursor
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor from None
    direction, key = raw[:1], raw[1:]
    if direction not in (AFTER, BEFORE) or not key or len(key) > KEY_MAX_LENGTH or "\x00" in key:
        raise InvalidCursor
    return Cursor(direction, key)


def search_problem(search: str) -> str | None:
    """Why ``search`` cannot be searched for (None when it can)."""
    if len(search) > SEARCH_MAX_LENGTH:
        return f"Search for at most {SEARCH_MAX_LENGTH} characters (this has {len(search)})."
    if "\x00" in search:
        return "Search must not contain NUL characters."
    return None


@dataclass(frozen=True)
class CustomerPage:
    """One page of the list: its customers in order, and the cursors of the pages either side
    (None at either end)."""

    customers: list[CustomerMargin]
    next_cursor: str | None
    previous_cursor: str | None


def customer_page(
    *,
    organization: Organization,
    period: date,
    search: str = "",
    cursor: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> CustomerPage:
    """A page of at most ``size`` of the organisation's customers with usage in the month
    ``period`` whose external id contains ``search`` (case-insensitively; "" for all), by
    external id, starting from ``cursor`` (None: the first page), billed by the report's rule.

    Five queries whatever the number of customers: the rollup fold's check
    (``planner.actuals.rollup``; more when it has something to fold), the page's customers
    (``size + 1`` to know whether another page follows) and ``customer_margins_for_customers``'s
    three. As with
    every keyset list, a page reached by a cursor offers a way back without checking that
    anything is there. Raises ValueError for a ``search`` that ``search_problem`` refuses.
    """
    problem = search_problem(search)
    if problem is not None:
        raise ValueError(problem)
    if size < 1:
        raise ValueError("size must be at least 1")
    customer_months_fold(organization_id=organization.pk)
    customers = Customer.objects.filter(organization=organization, months__period=month_start(period))
    if search:
        customers = customers.filter(external_id__icontains=search)
    backwards = cursor is not None and cursor.direction == BEFORE
    if cursor is None:
        customers = customers.order_by("external_id")
    elif backwards:
        customers = customers.filter(external_id__lt=cursor.key).order_by("-external_id")
    else:
        customers = customers.filter(external_id__gt=cursor.key).order_by("external_id")
    found = list(customers.values_list("pk", "external_id")[: size + 1])
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    rows = customer_margins_for_customers(
        organization=organization, period=period, customer_ids=[pk for pk, _ in found], folded=True
    )
    first, last = (found[0][1], found[-1][1]) if found else (None, None)
    # Forwards, more rows mean a next page and a cursor means a previous one; backwards, the
    # other way round.
    has_next, has_previous = (cursor is not None, more) if backwards else (more, cursor is not None)
    return CustomerPage(
        customers=rows,
        next_cursor=cursor_encode(Cursor(AFTER, last)) if has_next and last is not None else None,
        previous_cursor=cursor_encode(Cursor(BEFORE, first)) if has_previous and first is not None else None,
    )
