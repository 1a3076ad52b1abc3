"""The customer-month rollup journal (planner.actuals.rollup): batches ingested concurrently are
folded exactly once, a fold leaves an uncommitted batch for the next one, every reader sees the
totals of the records, and a reprice stays exact while batches land during its recount.

On PostgreSQL only (SQLite has no journal: its ingest upserts the rollup itself)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count, Sum

from planner.accounts.models import Organization
from planner.actuals import reprice
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.insights import customer_history
from planner.actuals.models import Customer, CustomerMonth, UsageRecord
from planner.actuals.rollup import JOURNAL_TABLE, ROLLUP_SUMS, customer_months_fold, customer_months_fold_all
from planner.actuals.selectors import MONEY, customer_margins_for_period, usage_periods
from planner.actuals.tasks import usage_rollup_fold_task
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from pricing.models import AIModel
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the journal exists on PostgreSQL only"
)

NOW = datetime(2025, 7, 15, 12, tzinfo=UTC)


@pytest.fixture
def pro(product: Product, priced_models: dict[str, AIModel]) -> Tier:
    return live_tiers(product).get(name="Pro")


def batch(tier: Tier, first: int, count: int, customers: int = 5, **fields: Any) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"evt-{index}",
            "customer": f"cus-{index % customers}",
            "tier": tier.pk,
            "timestamp": f"2025-0{4 + index % 3}-1{index % 10}T10:00:00Z",
            "model": ("openai/o3", "openai/gpt-4o", "openai/gpt-4o-mini")[index % 3],
            "input_tokens": 1_000 + index,
            "cached_tokens": index % 500,
            "output_tokens": 200 + index % 300,
            "requests": 1 + index % 2,
        }
        | fields
        for index in range(first, first + count)
    ]


def journal_rows(organization: Organization) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {JOURNAL_TABLE} WHERE organization_id = %s", [organization.pk])
        (count,) = cursor.fetchone()
    return int(count)


def record_sums(organization: Organization) -> dict[tuple[int, date], tuple[Any, ...]]:
    rows = (
        UsageRecord.objects.filter(organization=organization)
        .values("customer_id", "period")
        .annotate(n=Count("pk"), **{name: Sum(name) for name in ROLLUP_SUMS[1:]})
        .values_list("customer_id", "period", "n", *ROLLUP_SUMS[1:])
    )
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def rollup_rows(organization: Organization) -> dict[tuple[int, date], tuple[Any, ...]]:
    """The model's rows as stored (no fold: the caller decides)."""
    rows = CustomerMonth.objects.filter(organization=organization).values_list(
        "customer_id", "period", *ROLLUP_SUMS
    )
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def in_thread(target: Callable[[], object], failures: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_ingest_journals_instead_of_touching_the_rollup(organization: Organization, pro: Tier) -> None:
    usage_records_ingest(organization=organization, records=batch(pro, 0, 30), now=NOW)
    assert journal_rows(organization) == 30
    assert not CustomerMonth.objects.filter(organization=organization).exists()
    assert customer_months_fold(organization_id=organization.pk) == len(record_sums(organization))
    assert journal_rows(organization) == 0
    assert rollup_rows(organization) == record_sums(organization)
    assert customer_months_fold(organization_id=organization.pk) == 0  # nothing left


def test_every_reader_sees_the_totals_of_the_records(organization: Organization, pro: Tier) -> None:
    for first in (0, 40, 80):
        usage_records_ingest(organization=organization, records=batch(pro, first, 40), now=NOW)
    # A retry and a conflict change nothing.
    usage_records_ingest(organization=organization, records=batch(pro, 0, 10), now=NOW)
    usage_records_ingest(organization=organization, records=batch(pro, 5, 2, input_tokens=7), now=NOW)
    assert journal_rows(organization) == 120
    june = date(2025, 6, 1)
    margins = customer_margins_for_period(organization=organization, period=june)
    assert journal_rows(organization) == 0
    requests, credits, cost = (ROLLUP_SUMS.index(name) for name in ("requests", "credits", "cost"))
    assert {m.customer_id: (m.requests, m.credits, m.cogs) for m in margins} == {
        customer: (values[requests], values[credits], values[cost].quantize(MONEY))
        for (customer, period), values in record_sums(organization).items()
        if period == june
    }
    usage_records_ingest(organization=organization, records=batch(pro, 200, 5, customers=1), now=NOW)
    assert usage_periods(organization=organization) == [june, date(2025, 5, 1), date(2025, 4, 1)]
    customer = Customer.objects.get(organization=organization, external_id="cus-0")
    history = customer_history(organization=organization, customer=customer)
    assert [(h.period, h.requests) for h in history] == [
        (period, values[ROLLUP_SUMS.index("requests")])
        for (customer_id, period), values in sorted(record_sums(organization).items(), key=lambda i: i[0][1])
        if customer_id == customer.pk
    ]
    assert rollup_rows(organization) == record_sums(organization)


def test_the_periodic_task_folds_every_organisation(
    organization: Organization, pro: Tier, product_factory: Callable[..., Product]
) -> None:
    other = OrganizationFactory.create(slug="other")
    other_pro = live_tiers(product_factory(organization=other)).get(name="Pro")
    usage_records_ingest(organization=organization, records=batch(pro, 0, 20), now=NOW)
    usage_records_ingest(organization=other, records=batch(other_pro, 0, 30), now=NOW)
    usage_rollup_fold_task()
    for each in (organization, other):
        assert journal_rows(each) == 0
        assert rollup_rows(each) == record_sums(each)
    assert customer_months_fold_all() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_are_each_folded_exactly_once(organization: Organization, pro: Tier) -> None:
    """Two batches in two connections, one held open while folds run in a third: a fold never
    takes an uncommitted batch's rows, and every batch is in the rollup exactly once."""
    # The customers exist already: a batch creating a customer would make the other wait for it.
    usage_records_ingest(organization=organization, records=batch(pro, 1_000, 40, customers=40), now=NOW)
    customer_months_fold(organization_id=organization.pk)
    failures: list[BaseException] = []
    holding, release = threading.Event(), threading.Event()

    def held_batch() -> None:
        with transaction.atomic():
            usage_records_ingest(organization=organization, records=batch(pro, 0, 300, customers=40), now=NOW)
            holding.set()
            assert release.wait(30)

    def other_batch() -> None:
        usage_records_ingest(organization=organization, records=batch(pro, 300, 300, customers=40), now=NOW)

    held = in_thread(held_batch, failures)
    assert holding.wait(30)
    other = in_thread(other_batch, failures)
    other.join(30)
    folds: list[int] = []
    folder = in_thread(lambda: folds.append(customer_months_fold(organization_id=organization.pk)), failures)
    folder.join(30)
    assert failures == []
    # The open batch is invisible here: the rollup holds exactly the other batch.
    committed = record_sums(organization)
    assert sum(values[0] for values in committed.values()) == 340
    assert rollup_rows(organization) == committed
    release.set()
    held.join(30)
    assert failures == []
    assert journal_rows(organization) == 300
    concurrent = [in_thread(lambda: folds.append(customer_months_fold_all()), failures) for _ in range(3)]
    for thread in concurrent:
        thread.join(30)
    assert failures == []
    assert journal_rows(organization) == 0
    totals = record_sums(organization)
    assert sum(values[0] for values in totals.values()) == 640
    assert rollup_rows(organization) == totals


@pytest.mark.django_db(transaction=True)
def test_a_recount_stays_exact_when_a_batch_lands_between_its_fold_and_its_sums(
    organization: Organization, pro: Tier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """customer_months_recompute folds, then sums the records; a batch committed in between is
    in those sums and still in the journal: the recount subtracts it, the next fold adds it."""
    usage_records_ingest(organization=organization, records=batch(pro, 0, 50), now=NOW)
    failures: list[BaseException] = []
    fold = reprice.fold_under_lock

    def fold_then_land(organization_id: int) -> int:
        folded = fold(organization_id)
        late = in_thread(
            lambda: usage_records_ingest(organization=organization, records=batch(pro, 50, 50), now=NOW),
            failures,
        )
        late.join(30)
        return folded

    monkeypatch.setattr(reprice, "fold_under_lock", fold_then_land)
    pairs = [(organization.pk, customer, period) for customer, period in record_sums(organization)]
    reprice.customer_months_recompute(organization_pairs=pairs)
    assert failures == []
    assert journal_rows(organization) == 50  # the late batch, not folded by the recount
    customer_months_fold(organization_id=organization.pk)
    totals = record_sums(organization)
    assert sum(values[0] for values in totals.values()) == 100
    assert rollup_rows(organization) == totals


def test_a_fold_drops_the_deltas_of_a_deleted_customer(organization: Organization, pro: Tier) -> None:
    usage_records_ingest(organization=organization, records=batch(pro, 0, 10, customers=2), now=NOW)
    Customer.objects.filter(organization=organization, external_id="cus-1").delete()
    customer_months_fold(organization_id=organization.pk)
    assert journal_rows(organization) == 0
    assert rollup_rows(organization) == record_sums(organization)


def test_only_the_rollup_module_queries_customer_months() -> None:
    """Readers go through ``rollup.customer_months`` (which folds first), so none can read a stale
    rollup by forgetting the fold; the reprice writes under the fold lock (``reprice.py``), and
    benchmarks generate their data in scratch databases (``devtools``)."""
    root = Path(__file__).resolve().parents[2]
    allowed = {Path("planner/actuals/rollup.py"), Path("planner/actuals/reprice.py")}
    querying = sorted(
        path.relative_to(root)
        for package in ("planner", "api", "pricing")
        for path in (root / package).rglob("*.py")
        if "CustomerMonth.objects" in path.read_text()
        and "devtools" not in path.parts
        and "migrations" not in path.parts
    )
    assert set(querying) <= allowed, querying
    assert Path("planner/actuals/rollup.py") in querying  # the scan finds what it looks for
