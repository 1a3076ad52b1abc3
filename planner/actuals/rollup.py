"""The customer-month rollup (``CustomerMonth``): how ingestion adds to it, and how every reader
gets it current.

On PostgreSQL an ingest does not touch ``CustomerMonth``: in the statement that inserts its
records it appends one row per inserted record (the record's customer, month and sums: no id, no
index, no foreign key) to the journal table ``JOURNAL_TABLE``, committed with the records or not
at all. ``customer_months_fold`` moves an organisation's journal rows into ``CustomerMonth`` in
one statement (``DELETE ... RETURNING`` feeding a grouped ``INSERT ... ON CONFLICT DO UPDATE``).
Under READ COMMITTED that statement takes exactly the journal rows of the batches committed
before it starts; rows of batches still in flight are invisible to it and stay for the next fold,
so every batch is added exactly once. **Every reader of the rollup folds first**
(fold-before-read: a report sees every batch committed before it was asked for, as when ingestion
updated the rollup itself), and the periodic task ``planner.usage_rollup_fold`` folds every
organisation so the journal stays small (docs/ACTUALS.md, "The rollup journal").

Locks, always in this order, so nothing deadlocks: an ingest takes customers, then records (it
takes no lock a fold or a reprice takes); a fold takes the organisation's fold lock (a
transaction-level advisory lock, so folds of one organisation take turns), then journal rows,
then ``CustomerMonth`` rows in (customer, period) order; a reprice takes record rows, then the
fold locks of its organisations in id order, then their ``CustomerMonth`` rows. A fold only ever
waits for the holder of its fold lock, which never waits for a fold.

On SQLite (one writer at a time) there is no journal: the ingest upserts ``CustomerMonth`` in
its own transaction (``rollup_write``) and folding does nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from planner.actuals.models import USAGE_TOKEN_FIELDS, Customer, CustomerMonth

#: The columns a ``CustomerMonth`` row sums (``records`` counts the records).
ROLLUP_SUMS = ("records", "requests", "credits", *USAGE_TOKEN_FIELDS, "cost")
#: The journal (PostgreSQL only; created by migration 0019): one row per inserted record, the
#: record's rollup columns, appended by the ingest statement and deleted by the fold.
JOURNAL_TABLE = "planner_customermonth_journal"
JOURNAL_COLUMNS = ("organization_id", "customer_id", "period", *ROLLUP_SUMS[1:])
#: First key of the fold's advisory lock ("roll" in ASCII); the second is the organisation's id
#: modulo 2**31 - 1 (the keys are 32-bit: two organisations sharing a key only take turns).
FOLD_LOCK = 0x726F6C6C


def journal_enabled() -> bool:
    """Whether ingestion appends to the journal (PostgreSQL) rather than upserting the rollup."""
    return connection.vendor == "postgresql"


def _assignments(*, replace: bool) -> str:
    table = CustomerMonth._meta.db_table
    return ", ".join(
        f"{name} = EXCLUDED.{name}" if replace else f"{name} = {table}.{name} + EXCLUDED.{name}"
        for name in ROLLUP_SUMS
    )


def rollup_write(organization_id: int, totals: dict[tuple[int, date], list[Any]], *, replace: bool) -> None:
    """Upsert customer-month rows: add ``totals`` (``ROLLUP_SUMS`` per (customer, period)) to
    them, or set them (``replace``), in (customer, period) order."""
    if not totals:
        return
    table = CustomerMonth._meta.db_table
    columns = ("organization_id", "customer_id", "period", *ROLLUP_SUMS)
    assignments = _assignments(replace=replace)
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    items = sorted(totals.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            params: list[Any] = []
            for (customer_id, period), sums in chunk:
                params.extend((organization_id, customer_id, period, *sums))
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                + ", ".join([placeholders] * len(chunk))
                + f" ON CONFLICT (customer_id, period) DO UPDATE SET {assignments}",
                params,
            )


def fold_under_lock(organization_id: int) -> int:
    """Fold the organisation's committed journal rows; the caller holds its fold lock
    (``fold_lock``). The number of customer-months changed."""
    rollup, customers = CustomerMonth._meta.db_table, Customer._meta.db_table
    sums = ROLLUP_SUMS[1:]
    with connection.cursor() as cursor:
        # Deltas of a customer deleted meanwhile (its records and months went with it) are dropped.
        cursor.execute(
            f"WITH taken AS (DELETE FROM {JOURNAL_TABLE} WHERE organization_id = %s "
            f"RETURNING customer_id, period, {', '.join(sums)}) "
            f"INSERT INTO {rollup} (organization_id, customer_id, period, {', '.join(ROLLUP_SUMS)}) "
            "SELECT %s, taken.customer_id, taken.period, count(*), "
            + ", ".join(f"sum(taken.{name})" for name in sums)
            + f" FROM taken JOIN {customers} c ON c.id = taken.customer_id AND c.organization_id = %s "
            "GROUP BY taken.customer_id, taken.period ORDER BY taken.customer_id, taken.period "
            f"ON CONFLICT (customer_id, period) DO UPDATE SET {_assignments(replace=False)}",
            [organization_id, organization_id, organization_id],
        )
        return cursor.rowcount


def fold_lock(organization_id: int) -> None:
    """Take the organisation's fold lock until the end of the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (%s::bigint %% 2147483647)::int)", [FOLD_LOCK, organization_id]
        )


def customer_months_fold(*, organization_id: int) -> int:
    """Bring the organisation's ``CustomerMonth`` rows up to date with every committed ingest
    (the module docstring); the number of customer-months changed. Call it before reading the
    rollup. One cheap query when there is nothing to fold; nothing at all on SQLite."""
    if not journal_enabled():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {JOURNAL_TABLE} WHERE organization_id = %s)", [organization_id]
        )
        (pending,) = cursor.fetchone()
    if not pending:
        # Nothing committed is waiting. A fold in flight still shows its rows until it commits
        # (its delete is not visible yet), so a reader never skips a fold that is under way.
        return 0
    with transaction.atomic():
        fold_lock(organization_id)
        return fold_under_lock(organization_id)


def customer_months(*, organization_id: int, folded: bool = False) -> QuerySet[CustomerMonth]:
    """The organisation's ``CustomerMonth`` rows, current: the journal folded first (unless the
    caller has just ``folded`` it). Every reader of the rollup reads through this (a test checks
    that no other module queries ``CustomerMonth`` for reading)."""
    if not folded:
        customer_months_fold(organization_id=organization_id)
    return CustomerMonth.objects.filter(organization_id=organization_id)


def customer_months_fold_all() -> int:
    """Fold every organisation's journal (the periodic task); the customer-months changed."""
    if not journal_enabled():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT organization_id FROM {JOURNAL_TABLE} ORDER BY organization_id")
        organizations = [pk for (pk,) in cursor.fetchall()]
    return sum(customer_months_fold(organization_id=pk) for pk in organizations)
