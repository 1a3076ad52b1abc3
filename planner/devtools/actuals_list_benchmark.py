"""Benchmark of the actuals customer list (``manage.py bench_actuals_list``, issue #15 item 4).

Generates, with SQL on PostgreSQL, ``customers`` customers (``cus-0000001``...), their tier
periods (Pro, one in five Free, one in ten moving mid-month) and ``months`` months of the
customer-month rollup: every customer has usage in the last month, about half in the months
before, one in a hundred in the first of three or more (a sparse month). The list reads
customers, tier periods and the rollup, never the usage records, so none are written: its cost
depends on customers, not on records.

Then times, ``repeat`` times each, ``customer_page`` (the selector) and the whole page through
Django's test client (session, view, template): the first page, a page in the middle reached by
a cursor, the page before it, a search matching every customer, one matching a hundred, one
matching a single customer and one matching none (the worst case: the organisation's customers
are read once), and the sparse month's first page; and ``usage_periods`` (the month picker)
against the DISTINCT it replaced. Reports the medians and the query plans. Benchmark data lives
in an organisation whose slug starts with ``bench-``; use a scratch database.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from planner.accounts.models import Membership, Organization
from planner.actuals.customer_list import BEFORE, Cursor, CustomerPage, cursor_encode, customer_page
from planner.actuals.models import Customer, CustomerMonth
from planner.actuals.selectors import usage_periods
from planner.products.models import Tier
from planner.products.services import product_create, tier_create

#: The searches timed: (label, text, customers it matches out of 100,000).
SEARCHES = (
    ("search_all", "CUS-", "every customer (case-insensitive)"),
    ("search_hundred", "cus-00123", "100 customers"),
    ("search_one", "77777", "1 customer"),
    ("search_none", "nobody", "no customer: the organisation's customers read once"),
)


def _organization() -> tuple[Organization, Tier]:
    slug = f"bench-list-{int(time.time() * 1000)}"
    organization = Organization.objects.create(name=slug, slug=slug, time_zone="Europe/Berlin")
    product = product_create(organization=organization, name="Bench")
    pro = tier_create(
        product=product, name="Pro", monthly_fee=Decimal("20"), payment_fee_pct=Decimal("0.029")
    )
    return organization, pro


def _generate(customers: int, months: int) -> tuple[Organization, date]:
    organization, pro = _organization()
    free = tier_create(product=pro.product, name="Free", included_credits=100.0, hard_cap_credits=100.0)
    last = date(2025, 6, 1)
    periods = [date(2025, 6 - back, 1) for back in range(months - 1, -1, -1)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO planner_customer (organization_id, external_id, created_at) "
            "SELECT %s, 'cus-' || lpad(g::text, 7, '0'), now() FROM generate_series(1, %s) g",
            [organization.pk, customers],
        )
        cursor.execute(
            """INSERT INTO planner_customertierperiod (customer_id, tier_id, effective_from)
            SELECT id, CASE WHEN id %% 5 = 0 THEN %s ELSE %s END, %s
            FROM planner_customer WHERE organization_id = %s""",
            [free.pk, pro.pk, periods[0], organization.pk],
        )
        cursor.execute(
            """INSERT INTO planner_customertierperiod (customer_id, tier_id, effective_from)
            SELECT id, CASE WHEN id %% 5 = 0 THEN %s ELSE %s END, %s
            FROM planner_customer WHERE organization_id = %s AND id %% 10 = 3""",
            [pro.pk, free.pk, last + timedelta(days=16), organization.pk],
        )
        for position, period in enumerate(periods):
            # Heavy-tailed credits and cost (u**3). Every customer has usage in the last month,
            # about half in the months before, one in a hundred in the first (a sparse month).
            share = 1 if period == last else (100 if position == 0 and months > 2 else 2)
            cursor.execute(
                """INSERT INTO planner_customermonth (organization_id, customer_id, period, records,
                    requests, credits, input_tokens, output_tokens, cached_tokens,
                    cache_write_tokens, reasoning_tokens, cost)
                SELECT %s, id, %s, n, n, n, n * 5000, n * 500, 0, 0, 0, n * 0.0175
                FROM (SELECT id, 1 + floor(power((abs(hashint8(id + %s)) %% 1000003) / 1000003.0, 3)
                        * 2000)::bigint AS n
                      FROM planner_customer WHERE organization_id = %s
                        AND abs(hashint8(id * 7 + %s)) %% %s = 0) s""",
                [organization.pk, period, period.month, organization.pk, period.month, share],
            )
        for table in ("planner_customer", "planner_customertierperiod", "planner_customermonth"):
            cursor.execute(f"ANALYZE {table}")
    return organization, last


def _median_ms(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings) * 1000, 1), result


def _plan(sql: str, params: tuple[Any, ...]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return [line for (line,) in cursor.fetchall()]


def _page_sql(
    organization: Organization, period: date, search: str, after: str = ""
) -> tuple[str, tuple[Any, ...]]:
    """The SQL of ``customer_page``'s page query (forwards)."""
    customers = Customer.objects.filter(organization=organization, months__period=period)
    if search:
        customers = customers.filter(external_id__icontains=search)
    if after:
        customers = customers.filter(external_id__gt=after)
    query = customers.order_by("external_id").values_list("pk", "external_id")[:51].query
    sql, params = query.sql_with_params()
    return sql, tuple(params)


def actuals_list_benchmark(*, customers: int, months: int = 3, repeat: int = 7) -> dict[str, Any]:
    """Generate the data, then time the list's pages (selector and HTTP); medians in ms."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench_actuals_list generates data with PostgreSQL SQL; set DATABASE_URL.")
    started = time.perf_counter()
    organization, period = _generate(customers, months)
    setup = time.perf_counter() - started
    user = get_user_model().objects.create_user(f"{organization.slug}-user")
    Membership.objects.create(user=user, organization=organization, role="owner")
    client = Client()
    client.force_login(user)
    url = reverse("actuals:customers")
    month = f"{period:%Y-%m}"
    middle = Customer.objects.filter(organization=organization).order_by("external_id")[customers // 2]
    middle_cursor = cursor_encode(Cursor("a", middle.external_id))

    def page(**options: Any) -> Callable[[], CustomerPage]:
        return lambda: customer_page(organization=organization, period=period, **options)

    def http(**query: str) -> Callable[[], Any]:
        def get() -> Any:
            response = client.get(url, {"period": month, **query})
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            return response

        return get

    report: dict[str, Any] = {
        "customers": customers,
        "months": months,
        "customer_months": CustomerMonth.objects.filter(organization=organization).count(),
        "setup_seconds": round(setup, 1),
        "repeat": repeat,
    }
    ms, first = _median_ms(page(), repeat)
    report["first_page_ms"] = ms
    report["first_page_http_ms"] = _median_ms(http(), repeat)[0]
    ms, later = _median_ms(page(cursor=Cursor("a", middle.external_id)), repeat)
    report["middle_page_by_cursor_ms"] = ms
    report["middle_page_by_cursor_http_ms"] = _median_ms(http(cursor=middle_cursor), repeat)[0]
    assert later.previous_cursor is not None and later.customers[0].external_id > middle.external_id
    before = Cursor(BEFORE, later.customers[0].external_id)
    report["previous_page_ms"] = _median_ms(page(cursor=before), repeat)[0]
    report["previous_page_http_ms"] = _median_ms(http(cursor=cursor_encode(before)), repeat)[0]
    for label, text, matches in SEARCHES:
        ms, found = _median_ms(page(search=text), repeat)
        report[f"{label}_ms"] = ms
        report[f"{label}_http_ms"] = _median_ms(http(q=text), repeat)[0]
        report[f"{label}_rows"] = f"{len(found.customers)} shown ({matches})"
    sparse = min(usage_periods(organization=organization))
    ms, found = _median_ms(lambda: customer_page(organization=organization, period=sparse), repeat)
    report["sparse_month_first_page_ms"] = ms
    report["sparse_month_customers"] = CustomerMonth.objects.filter(
        organization=organization, period=sparse
    ).count()
    report["usage_periods_ms"] = _median_ms(lambda: usage_periods(organization=organization), repeat)[0]
    distinct = CustomerMonth.objects.filter(organization=organization).values_list("period", flat=True)
    report["usage_periods_by_distinct_ms"] = _median_ms(
        lambda: list(distinct.distinct().order_by("-period")), repeat
    )[0]
    report["first_page_rows"] = len(first.customers)
    report["plan_first_page"] = _plan(*_page_sql(organization, period, ""))
    report["plan_middle_page"] = _plan(*_page_sql(organization, period, "", after=middle.external_id))
    report["plan_search_none"] = _plan(*_page_sql(organization, period, "nobody"))
    report["plan_sparse_month"] = _plan(*_page_sql(organization, sparse, ""))
    return report
