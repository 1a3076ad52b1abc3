"""Customers as ingestion meets them: ids by external id, and creating the new ones with their
first tier period. Shared by the native ingest (``planner.actuals.ingest``) and the billing-SDK
path (``planner.actuals.compat.ingest``), which both run it inside their write transaction.

Concurrency: customers are inserted in external-id order with ``ON CONFLICT DO NOTHING`` (a
batch inserting a customer that another batch is inserting waits for it and then skips it); a
customer gets a first period only if it still has none, which a later statement sees when the
other batch committed its customer and period together (READ COMMITTED).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from django.db import connection
from django.utils import timezone

from planner.accounts.models import Organization
from planner.actuals.models import Customer, CustomerTierPeriod

_SEPARATOR = "\x1f"


def names_parameter(names: Collection[str]) -> tuple[str, Any]:
    """SQL (one placeholder) and its parameter for ``= ANY(...)`` over ``names`` on PostgreSQL:
    one text split by the server when no name holds the separator (psycopg quotes each element
    of a text array with a regular expression, which costs more than the query: about 1 ms for a
    thousand names), else the array itself."""
    joined = _SEPARATOR.join(names)
    if joined.count(_SEPARATOR) == max(len(names) - 1, 0):
        return "string_to_array(%s, chr(31))", joined
    return "%s", list(names)


def customer_ids(*, organization: Organization, names: Collection[str]) -> dict[str, int]:
    """Ids of the organisation's customers among ``names`` (external ids)."""
    if connection.vendor == "postgresql":
        sql, parameter = names_parameter(names)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {Customer._meta.db_table} "
                f"WHERE organization_id = %s AND external_id = ANY({sql})",
                [organization.pk, parameter],
            )
            return dict(cursor.fetchall())
    return dict(
        Customer.objects.filter(organization=organization, external_id__in=names).values_list(
            "external_id", "pk"
        )
    )


def customers_create(
    *, organization: Organization, first_periods: Mapping[str, tuple[int, date]]
) -> dict[str, int]:
    """Create the customers named in ``first_periods`` (external id -> (tier id, first day of
    its first period)) that do not exist, each with that first tier period; the ids of all of
    them. A customer that exists already keeps its periods (see the module docstring)."""
    if not first_periods:
        return {}
    if connection.vendor == "postgresql":
        return _create_postgresql(organization, first_periods)
    new = sorted(first_periods)
    Customer.objects.bulk_create(
        [Customer(organization=organization, external_id=name) for name in new], ignore_conflicts=True
    )
    ids = customer_ids(organization=organization, names=new)
    new_ids = {ids[name]: name for name in new}
    have = set(
        CustomerTierPeriod.objects.filter(customer_id__in=new_ids).values_list("customer_id", flat=True)
    )
    CustomerTierPeriod.objects.bulk_create(
        [
            CustomerTierPeriod(
                customer_id=pk, tier_id=first_periods[name][0], effective_from=first_periods[name][1]
            )
            for pk, name in sorted(new_ids.items())
            if pk not in have
        ],
        ignore_conflicts=True,
    )
    return ids


def _create_postgresql(
    organization: Organization, first_periods: Mapping[str, tuple[int, date]]
) -> dict[str, int]:
    """``customers_create`` in two statements (the ORM's four cost about 10 ms for a thousand
    new customers): insert the customers in name order, skipping those that exist; then, in a new
    statement, give a first period to those still without one (in id order) and read every id."""
    customer, period = Customer._meta.db_table, CustomerTierPeriod._meta.db_table
    rows = json.dumps(
        [
            {"name": name, "tier": tier, "start": start.isoformat()}
            for name, (tier, start) in first_periods.items()
        ]
    )
    new = "json_to_recordset(%s::json) AS new (name text, tier bigint, start date)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {customer} (organization_id, external_id, created_at) "
            f"SELECT %s, new.name, %s FROM {new} ORDER BY new.name "
            "ON CONFLICT (organization_id, external_id) DO NOTHING",
            [organization.pk, timezone.now(), rows],
        )
        cursor.execute(
            f"WITH named AS (SELECT c.id, new.name, new.tier, new.start FROM {new} "
            f"JOIN {customer} c ON c.organization_id = %s AND c.external_id = new.name), "
            f"started AS (INSERT INTO {period} (customer_id, tier_id, effective_from) "
            "SELECT named.id, named.tier, named.start FROM named "
            f"WHERE NOT EXISTS (SELECT 1 FROM {period} p WHERE p.customer_id = named.id) ORDER BY named.id "
            "ON CONFLICT DO NOTHING) "
            "SELECT name, id FROM named",
            [rows, organization.pk],
        )
        return dict(cursor.fetchall())
