"""Usage ingestion through the service: validation, dedup, conflicts, pricing at ingest, rollup,
repricing after a backdated price change, and concurrent duplicates on PostgreSQL."""

from __future__ import annotations

import dataclasses
import random
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.models import Count, Sum
from genai_prices import data as genai_data
from genai_prices import types as genai

from planner.accounts.models import Organization
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.models import (
    USAGE_TOKEN_FIELDS,
    Customer,
    CustomerMonth,
    CustomerTierPeriod,
    UsageRecord,
)
from planner.actuals.parse import MAX_BATCH, UsageRecordsInvalid
from planner.actuals.reprice import customer_months_recompute, usage_records_reprice
from planner.actuals.rollup import customer_months_fold_all
from planner.actuals.selectors import models_to_reprice
from planner.actuals.tasks import usage_reprice_task
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from planner.products.services import workload_create
from pricing.calculator import request_cost, schedule_for
from pricing.catalog import catalog_import
from pricing.models import AIModel, ModelPrice
from pricing.selectors import model_price_at
from tests.conftest import PRICED_MODELS
from tests.factories import OrganizationFactory

NOW = datetime(2025, 7, 15, 12, tzinfo=UTC)
QUANTUM = Decimal("1e-10")


@pytest.fixture
def pro(product: Product, priced_models: dict[str, AIModel]) -> Tier:
    return live_tiers(product).get(name="Pro")


def record(tier: Tier | None, index: int = 1, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_id": f"evt-{index}",
        "customer": "cus-1",
        "timestamp": "2025-06-12T10:00:00Z",
        "model": "openai/o3",
        "input_tokens": 12_000,
        "cached_tokens": 2_000,
        "output_tokens": 3_000,
        "reasoning_tokens": 1_000,
    }
    if tier is not None:
        values["tier"] = tier.pk
    values.update(fields)
    return values


def ingest(organization: Organization, records: list[dict[str, Any]]) -> Any:
    return usage_records_ingest(organization=organization, records=records, now=NOW)


#: The usage of ``record``'s defaults in ``request_cost``'s convention.
O3_USAGE = {
    "input_tokens": 12_000,
    "cache_read_tokens": 2_000,
    "output_tokens": 3_000,
    "reasoning_tokens": 1_000,
}


def expected_cost(model: str, at: datetime, **usage: Any) -> Decimal:
    row = model_price_at(provider_slug="openai", model_slug=model, at=at)
    return request_cost(schedule_for(row), **usage).quantize(QUANTUM)


def test_records_are_priced_with_the_price_in_force_at_their_timestamp(
    organization: Organization, pro: Tier
) -> None:
    # o3 cost 10/40 $/Mtok until 2025-06-10 and 2/8 since: one record either side of the change.
    before = record(pro, 1, timestamp="2025-06-09T23:59:59Z")
    after = record(pro, 2, timestamp="2025-06-10T00:00:00Z")
    result = ingest(organization, [before, after])
    assert (result.created, result.duplicates, result.conflicts) == (2, 0, [])
    usage = {
        "input_tokens": 12_000,
        "cache_read_tokens": 2_000,
        "output_tokens": 3_000,
        "reasoning_tokens": 1_000,
    }
    stored = {r.event_id: r for r in UsageRecord.objects.select_related("price")}
    for event_id, moment in (
        ("evt-1", datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC)),
        ("evt-2", datetime(2025, 6, 10, tzinfo=UTC)),
    ):
        assert stored[event_id].cost == expected_cost("o3", moment, **usage)
        assert stored[event_id].price == model_price_at(provider_slug="openai", model_slug="o3", at=moment)
    assert stored["evt-1"].cost == Decimal("0.2210000000")  # 10k x $10 + 2k x $0.5 + 3k x $40 per Mtok
    assert stored["evt-2"].cost > 0 and stored["evt-2"].cost < stored["evt-1"].cost


def test_vectorised_pricing_equals_request_cost_on_random_records(
    organization: Organization, pro: Tier
) -> None:
    rng = random.Random(5)
    records, usages = [], []
    for index in range(300):
        cached, written = rng.randrange(0, 5_000), 0
        uncached = rng.randrange(0, 300_000)
        reasoning = rng.randrange(0, 20_000)
        output = reasoning + rng.randrange(0, 30_000)
        model = rng.choice(["gpt-4o", "gpt-4o-mini", "o3"])
        day = date(2025, 5, 1) + timedelta(days=rng.randrange(0, 70))
        moment = datetime(day.year, day.month, day.day, rng.randrange(24), tzinfo=UTC)
        records.append(
            record(
                pro,
                index,
                model=f"openai/{model}",
                timestamp=moment.isoformat(),
                input_tokens=uncached + cached + written,
                cached_tokens=cached,
                output_tokens=output,
                reasoning_tokens=reasoning,
            )
        )
        usage = {
            "input_tokens": uncached + cached,
            "cache_read_tokens": cached,
            "output_tokens": output,
            "reasoning_tokens": reasoning,
        }
        usages.append((model, moment, usage))
    ingest(organization, records)
    costs = dict(UsageRecord.objects.values_list("event_id", "cost"))
    mismatches = [
        index
        for index, (model, moment, usage) in enumerate(usages)
        if costs[f"evt-{index}"] != expected_cost(model, moment, **usage)
    ]
    assert mismatches == []


def test_a_retry_with_the_same_payload_is_a_duplicate_counted_once(
    organization: Organization, pro: Tier
) -> None:
    batch = [record(pro, 1), record(pro, 2), record(pro, 3, customer="cus-2")]
    assert ingest(organization, batch).created == 3
    # Key order and the spelling of the offset do not change the payload.
    retry = [dict(reversed(list(r.items())), timestamp="2025-06-12T12:00:00+02:00") for r in batch]
    result = ingest(organization, retry)
    assert (result.created, result.duplicates, result.conflicts) == (0, 3, [])
    assert UsageRecord.objects.count() == 3
    customer_months_fold_all()
    month = CustomerMonth.objects.get(customer__external_id="cus-1")
    assert (month.records, month.requests) == (2, 2)


def test_the_same_event_id_with_another_payload_is_a_conflict(organization: Organization, pro: Tier) -> None:
    ingest(organization, [record(pro, 1)])
    result = ingest(organization, [record(pro, 2), record(pro, 1, output_tokens=9_999)])
    assert result.created == 1 and result.duplicates == 0
    assert [(c.index, c.event_id) for c in result.conflicts] == [(1, "evt-1")]
    assert UsageRecord.objects.get(event_id="evt-1").output_tokens == 3_000


def test_repeats_inside_one_batch_are_duplicates_or_conflicts(organization: Organization, pro: Tier) -> None:
    result = ingest(organization, [record(pro, 1), record(pro, 1), record(pro, 1, requests=2)])
    assert (result.created, result.duplicates) == (1, 1)
    assert [c.index for c in result.conflicts] == [2]
    customer_months_fold_all()
    assert CustomerMonth.objects.get().records == 1


def test_a_repeat_of_a_conflicting_record_conflicts_too(organization: Organization, pro: Tier) -> None:
    ingest(organization, [record(pro, 1)])
    changed = record(pro, 1, requests=5)
    result = ingest(organization, [changed, dict(changed)])
    assert (result.created, result.duplicates) == (0, 0)
    assert [c.index for c in result.conflicts] == [0, 1]


def test_event_ids_are_per_organisation(organization: Organization, pro: Tier, product_factory: Any) -> None:
    other = OrganizationFactory.create()
    other_tier = live_tiers(product_factory(organization=other)).get(name="Pro")
    ingest(organization, [record(pro, 1)])
    assert ingest(other, [record(other_tier, 1)]).created == 1


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("input_tokens", float("nan"), "finite"),
        ("input_tokens", float("inf"), "finite"),  # what JSON's 1e400 parses to
        ("output_tokens", 10**30, "at most"),
        ("output_tokens", -1, "at least 0"),
        ("output_tokens", True, "integer"),
        ("output_tokens", 1.5, "integer"),
        ("requests", -1, "at least 0"),
        ("credits", float("nan"), "finite"),
        ("credits", "1e400", "at most"),
        ("credits", "Infinity", "finite"),
        ("credits", -2, "at least 0"),
        ("event_id", "a\x00b", "NUL"),
        ("event_id", "", "empty"),
        ("event_id", "x" * 256, "255"),
        ("customer", 42, "string"),
        ("timestamp", "2025-07-16T12:00:01Z", "future"),
        ("timestamp", "2025-06-12T10:00:00", "offset"),
        ("timestamp", "yesterday", "ISO 8601"),
        ("timestamp", "1999-12-31T23:00:00Z", "2000"),
        ("model", "o3", "provider/model"),
        ("model", "openai/nope", "No model"),
        ("variant", "processing=nope", "variant"),
        ("tier", 10**9, "No tier"),
        ("tier", "Pro", "integer"),
        ("workload", 10**9, "No workload"),
        ("colour", "blue", "Unknown field"),
        ("cached_tokens", 20_000, "exceed input_tokens"),
        ("reasoning_tokens", 4_000, "exceed output_tokens"),
    ],
)
def test_one_invalid_record_refuses_the_whole_batch(
    organization: Organization, pro: Tier, field: str, value: Any, reason: str
) -> None:
    bad = record(pro, 2)
    bad[field] = value
    batch = [record(pro, 1), bad, record(pro, 3)]
    with pytest.raises(UsageRecordsInvalid) as caught:
        ingest(organization, batch)
    errors = caught.value.errors
    assert [(e.index, e.field) for e in errors] == [(1, field)]
    assert reason.lower() in errors[0].reason.lower()
    assert not UsageRecord.objects.exists() and not Customer.objects.exists()


def test_a_part_record_must_carry_tokens(organization: Organization, pro: Tier) -> None:
    empty = record(pro, 1, requests=0, input_tokens=0, cached_tokens=0, output_tokens=0, reasoning_tokens=0)
    with pytest.raises(UsageRecordsInvalid) as caught:
        ingest(organization, [empty])
    assert [(e.index, e.field) for e in caught.value.errors] == [(0, "requests")]
    assert "must carry tokens" in caught.value.errors[0].reason


def test_part_records_add_up_to_the_combined_record(organization: Organization, pro: Tier) -> None:
    """One call sent whole, and the same call sent as an input part (counting the request) and an
    output part (requests = 0): same requests, tokens, credits and cost per customer-month."""
    parts = [
        record(pro, 2, customer="parts", output_tokens=0, reasoning_tokens=0),
        record(pro, 3, customer="parts", requests=0, input_tokens=0, cached_tokens=0),
    ]
    ingest(organization, [record(pro, 1, customer="whole"), *parts])
    customer_months_fold_all()
    months = {m.customer.external_id: m for m in CustomerMonth.objects.select_related("customer")}
    whole_month, parts_month = months["whole"], months["parts"]
    assert (whole_month.records, parts_month.records) == (1, 2)
    for name in ("requests", "credits", "cost", *USAGE_TOKEN_FIELDS):
        assert getattr(parts_month, name) == getattr(whole_month, name), name
    assert parts_month.requests == 1
    assert parts_month.cost == expected_cost(
        "o3",
        datetime(2025, 6, 12, 10, tzinfo=UTC),
        input_tokens=12_000,
        cache_read_tokens=2_000,
        output_tokens=3_000,
        reasoning_tokens=1_000,
    )


def test_tiers_and_workloads_of_another_organisation_are_unknown(
    organization: Organization, pro: Tier, product_factory: Any
) -> None:
    other = product_factory(organization=OrganizationFactory.create())
    foreign_workload = other.workloads.get(name="Chat")
    batch = [record(live_tiers(other).get(name="Pro"), 1), record(pro, 2, workload=foreign_workload.pk)]
    with pytest.raises(UsageRecordsInvalid) as caught:
        ingest(organization, batch)
    assert [(e.index, e.field) for e in caught.value.errors] == [(0, "tier"), (1, "workload")]


def test_a_new_customer_needs_a_tier_and_a_known_one_does_not(organization: Organization, pro: Tier) -> None:
    with pytest.raises(UsageRecordsInvalid, match="is new"):
        ingest(organization, [record(None, 1)])
    ingest(organization, [record(pro, 1)])
    assert ingest(organization, [record(None, 2)]).created == 1
    period = CustomerTierPeriod.objects.get()
    assert (period.tier, period.effective_from) == (pro, date(2025, 6, 1))


def test_batch_size_is_limited(organization: Organization, pro: Tier) -> None:
    with pytest.raises(UsageRecordsInvalid, match="At most 10,000"):
        ingest(organization, [record(pro, i) for i in range(MAX_BATCH + 1)])
    with pytest.raises(UsageRecordsInvalid, match="at least one"):
        ingest(organization, [])


def test_a_workload_with_one_model_prices_its_records_and_sets_credits(
    organization: Organization, product: Product, pro: Tier, priced_models: dict[str, AIModel]
) -> None:
    search = workload_create(
        product=product,
        name="Search",
        credits_per_request=2.5,
        input_tokens_median=500.0,
        input_tokens_p90=900.0,
        output_tokens_median=100.0,
        output_tokens_p90=200.0,
        models=[(priced_models["small"], 1.0)],
    )
    result = ingest(
        organization,
        [record(pro, 1, model=None, workload=search.pk, requests=4, reasoning_tokens=0, cached_tokens=0)],
    )
    assert result.created == 1
    stored = UsageRecord.objects.get()
    assert (stored.model, stored.credits) == (priced_models["small"], Decimal("10"))
    # Four equal requests of 3,000 input and 750 output tokens each.
    one = expected_cost(
        "gpt-4o-mini", datetime(2025, 6, 12, 10, tzinfo=UTC), input_tokens=3_000, output_tokens=750
    )
    assert stored.cost == one * 4
    chat = product.workloads.get(name="Chat")
    with pytest.raises(UsageRecordsInvalid, match="mixes 2 models"):
        ingest(organization, [record(pro, 2, model=None, workload=chat.pk)])


@pytest.mark.parametrize(
    ("zone", "last_june", "first_july"),
    [
        ("Europe/Berlin", "2025-06-30T21:59:59Z", "2025-06-30T22:00:00Z"),  # summer time, UTC+2
        ("Asia/Kolkata", "2025-06-30T18:29:59.999999Z", "2025-06-30T18:30:00Z"),  # UTC+5:30
        ("America/New_York", "2025-07-01T03:59:59Z", "2025-07-01T04:00:00Z"),  # UTC-4
    ],
)
def test_periods_follow_the_organisation_time_zone(
    organization: Organization, pro: Tier, zone: str, last_june: str, first_july: str
) -> None:
    organization.time_zone = zone
    organization.save()
    ingest(organization, [record(pro, 1, timestamp=last_june), record(pro, 2, timestamp=first_july)])
    assert dict(UsageRecord.objects.values_list("event_id", "period")) == {
        "evt-1": date(2025, 6, 1),
        "evt-2": date(2025, 7, 1),
    }


def rollup_matches_records() -> None:
    customer_months_fold_all()  # the model's rows, read directly: fold first, as every reader does
    sums = {
        (row["customer_id"], row["period"]): row
        for row in UsageRecord.objects.values("customer_id", "period").annotate(
            n=Count("pk"), requests_sum=Sum("requests"), cost_sum=Sum("cost"), input_sum=Sum("input_tokens")
        )
    }
    months = {(m.customer_id, m.period): m for m in CustomerMonth.objects.all()}
    assert months.keys() == sums.keys()
    for key, month in months.items():
        row = sums[key]
        assert (month.records, month.requests, month.cost, month.input_tokens) == (
            row["n"],
            row["requests_sum"],
            row["cost_sum"],
            row["input_sum"],
        )


def test_the_rollup_matches_the_records_after_mixed_batches(organization: Organization, pro: Tier) -> None:
    rng = random.Random(11)
    for batch in range(5):
        records = [
            record(
                pro,
                rng.randrange(60),
                customer=f"cus-{rng.randrange(4)}",
                timestamp=f"2025-0{rng.choice([5, 6, 7])}-0{rng.randrange(1, 10)}T0{rng.randrange(10)}:00Z",
                requests=1 + rng.randrange(3),
            )
            for _ in range(20 + batch)
        ]
        result = ingest(organization, records)
        assert result.created + result.duplicates + len(result.conflicts) == len(records)
    rollup_matches_records()
    assert (
        customer_months_recompute(
            organization_pairs=[
                (organization.pk, m.customer_id, m.period) for m in CustomerMonth.objects.all()
            ]
        )
        == CustomerMonth.objects.count()
    )
    rollup_matches_records()


def test_a_backdated_price_change_reprices_records_and_rollups(
    organization: Organization, pro: Tier, priced_models: dict[str, AIModel]
) -> None:
    ingest(
        organization,
        [record(pro, 1, timestamp="2025-06-07T00:00:00Z"), record(pro, 2, timestamp="2025-06-12T00:00:00Z")],
    )
    old = UsageRecord.objects.get(event_id="evt-1")
    # The cut to 2/8 $/Mtok turns out to have applied from 2025-06-05, not 2025-06-10.
    o3 = priced_models["reasoning"]
    cheap = ModelPrice.objects.get(model=o3, variant="", effective_from=datetime(2025, 6, 10, tzinfo=UTC))
    dear = ModelPrice.objects.get(model=o3, variant="", effective_to=datetime(2025, 6, 10, tzinfo=UTC))
    dear.effective_to = cheap.effective_from = datetime(2025, 6, 5, tzinfo=UTC)
    dear.save()
    cheap.save()
    result = usage_records_reprice(model=o3, since=datetime(2025, 6, 5, tzinfo=UTC))
    assert (result.records, result.changed, result.customer_months) == (2, 1, 1)
    out = StringIO()
    call_command("reprice_usage", "--model", "openai/o3", "--since", "2025-06-01", stdout=out)
    assert out.getvalue().strip() == "2 records checked, 0 repriced, 0 customer months recomputed."
    repriced = UsageRecord.objects.get(event_id="evt-1")
    assert repriced.price_id == cheap.pk
    assert repriced.cost == UsageRecord.objects.get(event_id="evt-2").cost < old.cost
    rollup_matches_records()


def test_a_price_row_changed_after_a_batch_prices_the_next_batch(
    organization: Organization, pro: Tier, priced_models: dict[str, AIModel]
) -> None:
    """Ingestion reuses the price rows it loaded while they are unchanged
    (``PriceResolver.load_reusing``): moving a row's end between two batches must reach the
    second batch."""
    ingest(organization, [record(pro, 1, timestamp="2025-06-07T00:00:00Z")])
    o3 = priced_models["reasoning"]
    cheap = ModelPrice.objects.get(model=o3, variant="", effective_from=datetime(2025, 6, 10, tzinfo=UTC))
    dear = ModelPrice.objects.get(model=o3, variant="", effective_to=datetime(2025, 6, 10, tzinfo=UTC))
    assert UsageRecord.objects.get(event_id="evt-1").price_id == dear.pk
    dear.effective_to = cheap.effective_from = datetime(2025, 6, 5, tzinfo=UTC)
    dear.save()
    cheap.save()
    ingest(organization, [record(pro, 2, timestamp="2025-06-07T00:00:00Z")])
    second = UsageRecord.objects.get(event_id="evt-2")
    assert second.price_id == cheap.pk
    assert second.cost == expected_cost("o3", datetime(2025, 6, 7, tzinfo=UTC), **O3_USAGE)


def _openai_with_o3_cut_on(day: date) -> Any:
    """The fixture models' OpenAI catalog with o3's price cut moved to ``day``."""
    openai = next(p for p in genai_data.providers if p.id == "openai")
    models = []
    for model in openai.models:
        if model.id not in PRICED_MODELS:
            continue
        if model.id == "o3":
            assert isinstance(model.prices, list)
            base, cut = model.prices
            moved = dataclasses.replace(cut, constraint=genai.StartDateConstraint(start_date=day))
            model = dataclasses.replace(model, prices=[base, moved])
        models.append(model)
    return dataclasses.replace(openai, models=models)


def test_a_catalog_import_with_a_backdated_cut_reprices_without_a_command(
    organization: Organization,
    pro: Tier,
    priced_models: dict[str, AIModel],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ingest(
        organization,
        [record(pro, 1, timestamp="2025-06-07T00:00:00Z"), record(pro, 2, timestamp="2025-06-12T00:00:00Z")],
    )
    before = UsageRecord.objects.get(event_id="evt-1")
    queued: list[tuple[int, str | None]] = []

    def run_now(model_id: int, since: str | None) -> None:  # the worker's part, inline
        queued.append((model_id, since))
        usage_reprice_task(model_id, since)

    monkeypatch.setattr(usage_reprice_task, "delay", run_now)
    with django_capture_on_commit_callbacks(execute=True):
        report = catalog_import(providers=[_openai_with_o3_cut_on(date(2025, 6, 5))])
    o3 = priced_models["reasoning"]
    june_5 = datetime(2025, 6, 5, tzinfo=UTC)
    assert report.price_changes == {o3.pk: june_5}  # only o3's history changed, from June 5
    assert queued == [(o3.pk, june_5.isoformat())]
    after = UsageRecord.objects.get(event_id="evt-1")
    assert after.price_id != before.price_id and after.price.effective_from == june_5
    assert after.cost == UsageRecord.objects.get(event_id="evt-2").cost < before.cost
    rollup_matches_records()
    # The same catalog again changes nothing and queues nothing; moving the cut to 2030
    # reprices from the old cut on (the records after it are dear again).
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert not catalog_import(providers=[_openai_with_o3_cut_on(date(2025, 6, 5))]).changed
        moved = catalog_import(providers=[_openai_with_o3_cut_on(date(2030, 1, 1))])
    assert moved.price_changes == {o3.pk: june_5} and queued == [(o3.pk, june_5.isoformat())]
    assert UsageRecord.objects.get(event_id="evt-1").cost == before.cost
    rollup_matches_records()


def test_models_to_reprice_keeps_models_with_usage_from_the_change_on(
    organization: Organization, pro: Tier, priced_models: dict[str, AIModel]
) -> None:
    ingest(organization, [record(pro, 1, timestamp="2025-06-07T00:00:00Z")])
    o3, mini = priced_models["reasoning"], priced_models["small"]
    june = datetime(2025, 6, 1, tzinfo=UTC)
    changes = {o3.pk: june, mini.pk: None}
    assert models_to_reprice(changes=changes) == {o3.pk: june}  # mini has no usage at all
    assert models_to_reprice(changes={o3.pk: datetime(2025, 7, 1, tzinfo=UTC)}) == {}
    assert models_to_reprice(changes={o3.pk: None}) == {o3.pk: None}


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_batches_insert_each_event_once(organization: Organization, pro: Tier) -> None:
    batch = [record(pro, i, customer=f"cus-{i % 7}") for i in range(200)]
    workers, barrier, results, failures = 4, threading.Barrier(4), [], []

    def post(offset: int) -> None:
        try:
            barrier.wait()
            rotated = batch[offset * 50 :] + batch[: offset * 50]
            results.append(usage_records_ingest(organization=organization, records=rotated, now=NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(r.created for r in results) == 200
    assert sum(r.duplicates for r in results) == 200 * (workers - 1)
    assert UsageRecord.objects.count() == 200 and Customer.objects.count() == 7
    assert CustomerTierPeriod.objects.count() == 7
    rollup_matches_records()
