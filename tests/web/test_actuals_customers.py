"""The actuals customer list (issue #15, item 4): a month's customers searched by a part of their
id (case-insensitive) and paged by keyset, in both directions, billed by the report's one rule,
in a constant number of queries, only the caller's organisation's, and bad input never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Organization
from planner.actuals.customer_list import (
    AFTER,
    BEFORE,
    Cursor,
    InvalidCursor,
    cursor_decode,
    cursor_encode,
    customer_page,
)
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod
from planner.actuals.rollup import journal_enabled
from planner.actuals.selectors import customer_margins_for_customers, customer_margins_for_period
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from tests.factories import OrganizationFactory

JUNE = dt.date(2025, 6, 1)
MAY = dt.date(2025, 5, 1)
IDS = [
    *(f"Acme-{i:03d}" for i in range(1, 13)),
    *(f"acme-lab-{i}" for i in range(1, 5)),
    *(f"cus_{i:02d}" for i in range(1, 9)),
    "École-1",
]


def _month(customer: Customer, period: dt.date, number: int) -> CustomerMonth:
    """A rollup row with spread-out credits and cost: some customers lose money."""
    return CustomerMonth(
        organization_id=customer.organization_id,
        customer=customer,
        period=period,
        records=number,
        requests=number * 3,
        credits=Decimal(number * 7),
        cost=Decimal(number * number) / Decimal(7),
    )


def _customers(organization: Organization, tiers: dict[str, Tier], ids: list[str]) -> list[Customer]:
    """``ids`` as customers with June 2025 usage: the cus_* on Free, the others on Pro, every
    fifth moving from Free to Pro on June 11 (no tier at all without ``tiers``)."""
    made = Customer.objects.bulk_create([Customer(organization=organization, external_id=i) for i in ids])
    periods, months = [], []
    for number, customer in enumerate(made, start=1):
        months.append(_month(customer, JUNE, number))
        if not tiers:
            continue
        free = customer.external_id.startswith("cus_")
        first = tiers["Free"] if free or number % 5 == 0 else tiers["Pro"]
        periods.append(CustomerTierPeriod(customer=customer, tier=first, effective_from=MAY))
        if number % 5 == 0 and not free:
            periods.append(
                CustomerTierPeriod(customer=customer, tier=tiers["Pro"], effective_from=JUNE.replace(day=11))
            )
    CustomerTierPeriod.objects.bulk_create(periods)
    CustomerMonth.objects.bulk_create(months)
    return made


@pytest.fixture
def tiers(product: Product) -> dict[str, Tier]:
    return {t.name: t for t in live_tiers(product)}


@pytest.fixture
def customers(organization: Organization, tiers: dict[str, Tier]) -> list[Customer]:
    made = _customers(organization, tiers, IDS)
    # Usage in May only: not a customer of June's list.
    idle = Customer.objects.create(organization=organization, external_id="Acme-idle")
    CustomerTierPeriod.objects.create(customer=idle, tier=tiers["Pro"], effective_from=MAY)
    CustomerMonth.objects.bulk_create([_month(idle, MAY, 3)])
    return made


def _in_order(organization: Organization, search: str = "") -> list[str]:
    """June's customers whose id contains ``search``, in the database's order of external ids."""
    rows = Customer.objects.filter(organization=organization, months__period=JUNE)
    return list(
        rows.filter(external_id__icontains=search)
        .order_by("external_id")
        .values_list("external_id", flat=True)
    )


def _ids(page: Any) -> list[str]:
    return [c.external_id for c in page.customers]


def _walk(
    organization: Organization, *, size: int, search: str = ""
) -> tuple[list[list[str]], list[list[str]]]:
    """The pages forwards from the first by their next cursors, then backwards from the last by
    their previous cursors (in the forwards order)."""
    forwards, cursor = [], None
    while True:
        page = customer_page(organization=organization, period=JUNE, search=search, cursor=cursor, size=size)
        assert (page.previous_cursor is None) == (cursor is None)
        forwards.append(_ids(page))
        if page.next_cursor is None:
            break
        cursor = cursor_decode(page.next_cursor)
    backwards = [forwards[-1]]
    previous = page.previous_cursor
    while previous is not None:
        page = customer_page(
            organization=organization, period=JUNE, search=search, cursor=cursor_decode(previous), size=size
        )
        assert page.next_cursor is not None  # the page it came from
        backwards.append(_ids(page))
        previous = page.previous_cursor
    return forwards, backwards[::-1]


def test_cursors_round_trip_and_anything_else_is_refused() -> None:
    for cursor in (Cursor(AFTER, "Acme-001"), Cursor(BEFORE, "École/1 ?&=#"), Cursor(AFTER, "x" * 255)):
        text = cursor_encode(cursor)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", text)
        assert cursor_decode(text) == cursor
    b64 = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")  # noqa: E731
    for text in (
        "", "%%%", "YQ==", "a b", "Acme-001", b64(b"a"), b64(b"cAcme"), b64(b"a" + b"x" * 256),
        b64(b"a\x00x"), b64(b"a\xff\xfe"), "A" * 5_000,
    ):  # fmt: skip
        with pytest.raises(InvalidCursor):
            cursor_decode(text)


def test_search_finds_a_part_of_the_id_case_insensitively_and_wildcards_literally(
    organization: Organization, customers: list[Customer]
) -> None:
    def found(search: str) -> list[str]:
        return _ids(customer_page(organization=organization, period=JUNE, search=search))

    assert found("acme") == _in_order(organization, "acme") and len(found("acme")) == 16
    assert set(found("ACME")) == {i for i in IDS if "acme" in i.lower()}  # not Acme-idle: no June usage
    assert found("me-00") == [f"Acme-{i:03d}" for i in range(1, 10)]  # inside the id, any case
    assert found("lab-3") == ["acme-lab-3"]
    assert found("_") == [f"cus_{i:02d}" for i in range(1, 9)]  # "_" is not a wildcard
    assert found("%") == [] and found("zzz") == []
    assert found("cole") == ["École-1"]
    assert found("") == _in_order(organization) and len(found("")) == len(IDS)
    with pytest.raises(ValueError, match="at most 100 characters"):
        found("x" * 101)


@pytest.mark.parametrize(("size", "search"), [(4, ""), (1, ""), (3, "acme"), (len(IDS), ""), (50, "lab")])
def test_pages_walk_every_customer_exactly_once_in_both_directions(
    organization: Organization, customers: list[Customer], size: int, search: str
) -> None:
    forwards, backwards = _walk(organization, size=size, search=search)
    assert forwards == backwards  # the same pages, whichever way
    flat = [external_id for page in forwards for external_id in page]
    assert flat == _in_order(organization, search)  # each once, in the database's order
    assert all(len(page) == size for page in forwards[:-1]) and 0 < len(forwards[-1]) <= size


def test_rows_are_the_months_report_rows_for_the_same_customers(
    organization: Organization, customers: list[Customer]
) -> None:
    report = {
        row.customer_id: row for row in customer_margins_for_period(organization=organization, period=JUNE)
    }
    cursor, seen = None, 0
    while True:
        page = customer_page(organization=organization, period=JUNE, cursor=cursor, size=6)
        for row in page.customers:
            assert row == report[row.customer_id]  # every field: tier, revenue, COGS, margin, flags
        seen += len(page.customers)
        if page.next_cursor is None:
            break
        cursor = cursor_decode(page.next_cursor)
    assert seen == len(report) == len(IDS)
    # The cases the rule has to get right are among them: a loss, a free tier, a mid-month move.
    assert any(r.underwater for r in report.values()) and any(not r.paying for r in report.values())
    assert any(r.fee_revenue == Decimal("13.333333") for r in report.values())  # Pro from June 11
    # Ids without June usage or of another organisation are left out; the order is the caller's.
    (theirs,) = _customers(OrganizationFactory.create(slug="rival-co"), {}, ["Acme-rival"])
    idle = Customer.objects.get(external_id="Acme-idle")
    ids = [customers[3].pk, idle.pk, theirs.pk, customers[0].pk]
    rows = customer_margins_for_customers(organization=organization, period=JUNE, customer_ids=ids)
    assert rows == [report[customers[3].pk], report[customers[0].pk]]


def test_a_page_costs_the_same_queries_whatever_the_number_of_customers(
    organization: Organization,
    tiers: dict[str, Tier],
    customers: list[Customer],
    signed_in: Client,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    url = reverse("actuals:customers")
    for extra in (0, 400):
        _customers(organization, tiers, [f"Bulk-{extra}-{i:04d}" for i in range(extra)])
        # The rollup journal's check on PostgreSQL (nothing to fold here; SQLite has no
        # journal), the page's customers, tiers, tier periods, rollup rows.
        queries = 4 + journal_enabled()
        with django_assert_num_queries(queries):
            page = customer_page(organization=organization, period=JUNE, size=10)
        assert page.next_cursor is not None
        with django_assert_num_queries(queries):
            customer_page(
                organization=organization, period=JUNE, cursor=cursor_decode(page.next_cursor), size=10
            )
        with django_assert_num_queries(queries):
            customer_page(organization=organization, period=JUNE, search="acme")
        # The whole page: session, user, membership, the month picker (the rollup fold's check
        # and one query), the list's five, the header's organisation switcher, the session's save
        # (three).
        for query in ({}, {"q": "acme"}, {"cursor": page.next_cursor}):
            with django_assert_max_num_queries(14):
                assert signed_in.get(url, {"period": "2025-06", **query}).status_code == 200


def _links(html: str) -> dict[str, str]:
    """The page's Next / Previous / First page links (rel or text), unescaped."""
    nav = html.partition('id="customer-pages"')[2].partition("</nav>")[0]
    links = {}
    for href, text in re.findall(r'<a class="button secondary small" href="([^"]+)"[^>]*>([^<]+)</a>', nav):
        links[text.strip(" ←→")] = unescape(href)
    return links


def _rows(html: str) -> list[str]:
    table = html.partition('id="customer-list"')[2].partition("</table>")[0]
    return [
        unescape(name) for name in re.findall(r'<td><a href="/actuals/customers/\d+/">([^<]+)</a>', table)
    ]


def test_the_page_walks_forwards_and_back_with_links_to_each_customer(
    organization: Organization, customers: list[Customer], signed_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("planner.web.views.actuals.PAGE_SIZE", 4)
    index = signed_in.get(reverse("actuals:index"), {"period": "2025-06"}).content.decode()
    assert 'action="/actuals/customers/"' in index and 'id="all-customers"' in index
    url = f"{reverse('actuals:customers')}?period=2025-06&q=acme"
    pages: list[list[str]] = []
    while url:
        response = signed_in.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        pages.append(_rows(html))
        links = _links(html)
        assert ("Previous" in links) == (len(pages) > 1) and ("First page" in links) == (len(pages) > 1)
        url = links.get("Next", "")
    assert [i for page in pages for i in page] == _in_order(organization, "acme")
    assert len(pages) == 4 and all(len(page) == 4 for page in pages)
    back: list[list[str]] = [pages[-1]]
    url = links["Previous"]
    while url:
        html = signed_in.get(url).content.decode()
        back.append(_rows(html))
        url = _links(html).get("Previous", "")
    assert back[::-1] == pages
    # Each row opens the customer's page, whose months are billed the same way.
    first = Customer.objects.get(organization=organization, external_id=pages[0][0])
    assert f'href="/actuals/customers/{first.pk}/"' in signed_in.get(links["First page"]).content.decode()
    assert signed_in.get(reverse("actuals:customer", args=[first.pk])).status_code == 200


def test_bad_input_is_said_and_left_out_never_a_server_error(
    organization: Organization, customers: list[Customer], signed_in: Client
) -> None:
    url = reverse("actuals:customers")
    everyone = _in_order(organization)
    for cursor in ("%%%", "not-a-cursor", "A" * 5_000, base64.urlsafe_b64encode(b"zAcme").decode(), "YQ"):
        response = signed_in.get(url, {"period": "2025-06", "cursor": cursor})
        html = response.content.decode()
        assert response.status_code == 400, cursor
        assert "Not a page link of this list" in html and "Showing the first page." in html
        assert _rows(html) == everyone  # the first page (all 25 fit in one)
    response = signed_in.get(url, {"period": "2025-06", "q": "a" * 101})
    html = response.content.decode()
    assert response.status_code == 400 and "Search for at most 100 characters (this has 101)" in html
    assert _rows(html) == everyone
    response = signed_in.get(url, {"period": "2025-06", "q": "acme\x00"})
    assert response.status_code == 400 and "Null characters are not allowed." in response.content.decode()
    # A month that is not one falls back to the latest with usage; one without usage lists none.
    assert _rows(signed_in.get(url, {"period": "June", "q": "lab-1"}).content.decode()) == ["acme-lab-1"]
    empty = signed_in.get(url, {"period": "2024-01", "q": "acme"})
    assert empty.status_code == 200 and "No customer with usage in January 2024" in empty.content.decode()
    # The cursor of a row before every other just gives an empty page with the way back.
    before_all = cursor_encode(Cursor(BEFORE, "!"))
    html = signed_in.get(url, {"period": "2025-06", "cursor": before_all}).content.decode()
    assert _rows(html) == [] and "First page" in _links(html)


def test_only_the_callers_organisation(
    organization: Organization,
    customers: list[Customer],
    signed_in: Client,
    other_client: Client,
) -> None:
    (theirs,) = _customers(Organization.objects.get(slug="rival"), {}, ["Acme-rival"])
    url = reverse("actuals:customers")
    ours = _rows(signed_in.get(url, {"period": "2025-06", "q": "acme"}).content.decode())
    assert "Acme-rival" not in ours and len(ours) == 16
    assert _ids(customer_page(organization=organization, period=JUNE, search="rival")) == []
    assert _rows(other_client.get(url, {"period": "2025-06", "q": "acme"}).content.decode()) == ["Acme-rival"]
    # A cursor from one organisation's list is only a position in another's.
    page = customer_page(organization=organization, period=JUNE, size=2)
    assert page.next_cursor is not None
    html = other_client.get(url, {"period": "2025-06", "cursor": page.next_cursor}).content.decode()
    assert _rows(html) == ["Acme-rival"]
    assert other_client.get(reverse("actuals:customer", args=[customers[0].pk])).status_code == 404
    assert signed_in.get(reverse("actuals:customer", args=[theirs.pk])).status_code == 404
