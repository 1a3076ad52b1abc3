"""``manage.py bench_replay``: a replay job over three months of 100k customers' usage, through
real Celery workers (shared/design/BENCHMARKS.md: <= 60 s for 10M records on 2 workers).

The dataset is generated in PostgreSQL SQL, in a dedicated organisation (``BENCH_SLUG``,
re-created on each invocation), shaped like a real product's history:

- one product, live plan Free ($0, 100 credits, capped at 100), Pro ($20, capped at 20,000
  credits) and Team ($60, 5,000 credits included, $0.01 a credit beyond), 2.9% + $0.30 payment
  fees on the paying tiers; customers start 30% / 60% / 10% on them, and one in ten changes tier
  on the 16th of one of the months (Free to Pro, Pro to Team, Team to Pro);
- two workloads: chat (1 credit; gpt-4o-mini 80%, gpt-4o 20%) and agent (5 credits; gpt-4o, a
  quarter of a paying customer's records; Free customers only chat);
- a customer's usage weight is ``v ** (-2/3)`` (v uniform: the ``u ** 3`` draw of
  ``bench_margins``, a Pareto tail of index 1.5), times 0.7-1.3 per month and 1/3 (Free), 1 (Pro)
  or 3 (Team) for the tier it ends the month on; the records are shared out in proportion, a
  capped tier's month never above its cap (records of Free customers are 1-credit chats), so a
  few hundred Pro customer-months of 300,000 cost more than they pay;
- each record is priced as ingestion would: ``price`` is the catalog row of its model in force at
  its timestamp and ``cost`` that row's per-million prices times its tokens; records are inserted
  in time order (as they arrive), the customer-month rollup is built from them;
- a scenario of the product (``scenario_create``: its tiers stand for the live ones) with Pro
  capped at 1,500 credits, Team at $65 and a lever routing 30% of the agent workload to
  gpt-4o-mini.

The benchmark then starts ``workers`` worker processes and times ``replay_start`` of the scenario
over the three months, from the call until the run has finished.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from planner.accounts.models import Organization
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod, ReplayRow, UsageRecord
from planner.actuals.replay import replay_period
from planner.actuals.replay_jobs import replay_start
from planner.devtools.benchmark import wait_finished
from planner.devtools.usage_benchmark import _catalog_ready
from planner.devtools.worker_processes import celery_worker_process
from planner.products.models import Product, Tier, Workload
from planner.products.services import product_create, tier_create, tier_update, workload_create
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create
from pricing.models import AIModel, ModelPrice

BENCH_SLUG = "bench-replay"
TIME_ZONE = "Europe/Berlin"
MONTHS = (date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1))
SMALL_MODEL, FRONTIER_MODEL = "gpt-4o-mini", "gpt-4o"
FEE_PCT, FEE_FIXED = Decimal("0.029"), Decimal("0.30")

#: Live tiers: fields for ``tier_create``.
LIVE_TIERS: dict[str, dict[str, Any]] = {
    "Free": {"included_credits": 100.0, "hard_cap_credits": 100.0},
    "Pro": {
        "monthly_fee": Decimal("20"),
        "hard_cap_credits": 20_000.0,
        "payment_fee_pct": FEE_PCT,
        "payment_fee_fixed": FEE_FIXED,
    },
    "Team": {
        "monthly_fee": Decimal("60"),
        "included_credits": 5_000.0,
        "overage_price_per_credit": Decimal("0.01"),
        "payment_fee_pct": FEE_PCT,
        "payment_fee_fixed": FEE_FIXED,
    },
}
TIER_NAMES = tuple(LIVE_TIERS)
#: Share of customers starting on each tier; the tier a changing customer moves to.
START_SHARES = (0.3, 0.6, 0.1)
MOVES_TO = {"Free": "Pro", "Pro": "Team", "Team": "Pro"}
CHANGE_SHARE = 0.1
#: Usage multiplier of the tier a customer ends the month on (BENCHMARKS.md's standard scenario).
USAGE_FACTOR = {"Free": 1 / 3, "Pro": 1.0, "Team": 3.0}
CHAT_CREDITS, AGENT_CREDITS = 1, 5
#: Most records a customer-month of a capped tier may hold: cap / the costliest record's credits
#: (Free customers only chat).
RECORDS_CAP = {"Free": 100 // CHAT_CREDITS, "Pro": 20_000 // AGENT_CREDITS}
#: The scenario: Pro's cap lowered, Team's fee up $5, 30% of the agent workload to the small model.
SCENARIO_PRO_CAP = 1_500.0
SCENARIO_TEAM_FEE = Decimal("65")
ROUTING_SHARE = 0.3

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ReplayDataset:
    """What ``replay_dataset_create`` made."""

    organization: Organization
    product: Product
    scenario: Scenario
    tiers: dict[str, Tier]
    workloads: dict[str, Workload]
    customers: int
    records: int
    period_from: date
    period_to: date


def replay_dataset_delete() -> None:
    """Delete the benchmark organisation and everything in it (the big tables with plain SQL)."""
    organization = Organization.objects.filter(slug=BENCH_SLUG).first()
    if organization is None:
        return
    runs = SimulationRun.objects.filter(organization=organization)
    if ReplayRow.objects.filter(run__in=runs).exists():
        runs.delete()
        # No index of ReplayRow starts with its customer, so deleting a customer makes the
        # foreign-key check scan a whole index of replay rows: with the dead rows of these runs
        # still in it, 100,000 customers take hours. Clear them out first (not in a transaction:
        # a test never gets here, it starts no job).
        if not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM {ReplayRow._meta.db_table}")
    with transaction.atomic():
        with connection.cursor() as cursor:
            for model in (UsageRecord, CustomerMonth):
                cursor.execute(
                    f"DELETE FROM {model._meta.db_table} WHERE organization_id = %s", [organization.pk]
                )
            cursor.execute(
                f"DELETE FROM {CustomerTierPeriod._meta.db_table} WHERE customer_id IN "
                f"(SELECT id FROM {Customer._meta.db_table} WHERE organization_id = %s)",
                [organization.pk],
            )
            cursor.execute(
                f"DELETE FROM {Customer._meta.db_table} WHERE organization_id = %s", [organization.pk]
            )
        organization.delete()


def _plan(
    organization: Organization, models: dict[str, AIModel]
) -> tuple[Product, dict[str, Tier], dict[str, Workload]]:
    product = product_create(organization=organization, name="Replay Copilot")
    tiers = {name: tier_create(product=product, name=name, **fields) for name, fields in LIVE_TIERS.items()}
    chat = workload_create(
        product=product,
        name="Chat",
        credits_per_request=float(CHAT_CREDITS),
        input_tokens_median=2_250.0,
        input_tokens_p90=3_650.0,
        output_tokens_median=450.0,
        output_tokens_p90=730.0,
        models=[(models[SMALL_MODEL], 0.8), (models[FRONTIER_MODEL], 0.2)],
    )
    agent = workload_create(
        product=product,
        name="Agent",
        credits_per_request=float(AGENT_CREDITS),
        input_tokens_median=22_000.0,
        input_tokens_p90=36_400.0,
        output_tokens_median=2_200.0,
        output_tokens_p90=3_640.0,
        models=[(models[FRONTIER_MODEL], 1.0)],
    )
    return product, tiers, {"Chat": chat, "Agent": agent}


def _scenario(product: Product, workloads: dict[str, Workload], small: AIModel) -> Scenario:
    routing = {
        "key": "route-agent",
        "label": f"Route {ROUTING_SHARE:.0%} of the agent workload to {small.slug}",
        "workloads": [workloads["Agent"].pk],
        "routing_model": small.pk,
        "routing_share": ROUTING_SHARE,
    }
    scenario = scenario_create(
        product=product, name="Replay benchmark", price_date=MONTHS[-1], levers=[routing]
    )
    for tier in scenario_tiers(scenario):
        if tier.name == "Pro":
            tier_update(tier=tier, data={"hard_cap_credits": SCENARIO_PRO_CAP})
        elif tier.name == "Team":
            tier_update(tier=tier, data={"monthly_fee": SCENARIO_TEAM_FEE})
    return scenario


def _price_rows(models: dict[str, AIModel]) -> list[ModelPrice]:
    """The current standard rows of the benchmark models, refused unless linear in the tokens the
    generator writes (input, cache reads, output)."""
    rows = list(
        ModelPrice.objects.filter(
            model__in=models.values(), variant="", retired_at__isnull=True, start_time__isnull=True
        )
    )
    for row in rows:
        keys = set(row.structure) - {"web_searches_kcount", "storage_searches_kcount"}
        if row.has_tiers or keys != {"input_mtok", "output_mtok", "cache_read_mtok"}:
            raise RuntimeError(f"{row} is not a plain per-token price; the generator prices linearly.")
    return rows


def _allocation(weights: npt.NDArray[np.float64], caps: IntArray, total: int) -> IntArray:
    """``total`` records shared out in proportion to ``weights``, none above its cap (-1: none):
    the largest scale whose floors fit, then one more to the largest remainders below their cap."""
    bounded = caps >= 0
    ceiling = np.where(bounded, caps, np.iinfo(np.int64).max)
    if bounded.all() and caps.sum() < total:
        raise RuntimeError("More records than the capped tiers can hold.")

    def counts(scale: float) -> IntArray:
        return np.minimum(np.floor(weights * scale), ceiling).astype(np.int64)

    low, high = 0.0, total / weights.sum()
    while counts(high).sum() < total:
        low, high = high, high * 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if counts(middle).sum() <= total else (low, middle)
    n = counts(low)
    room = np.flatnonzero(n < ceiling)
    missing = total - int(n.sum())
    remainder = weights[room] * low - np.floor(weights[room] * low)
    n[room[np.argsort(-remainder, kind="stable")[:missing]]] += 1
    return n


@dataclass(frozen=True)
class _Shape:
    """Tier indexes (into ``TIER_NAMES``) per customer: ``start``, ``moved`` (the tier it changes
    to) and ``change_month`` (index into ``MONTHS``; ``len(MONTHS)``: no change); per
    customer-month (customers x months): ``end_tier`` and ``n``, its number of records."""

    start: IntArray
    moved: IntArray
    change_month: IntArray
    end_tier: IntArray
    n: IntArray


def _customer_months(customers: int, records: int, seed: int) -> _Shape:
    """Draw the customers' tiers and usage weights and share out the records (seeded)."""
    rng = np.random.default_rng(seed)
    start = np.searchsorted(np.cumsum(START_SHARES), rng.random(customers), side="right")
    start = np.minimum(start, len(TIER_NAMES) - 1)
    changes = rng.random(customers) < CHANGE_SHARE
    change_month = np.where(changes, rng.integers(0, len(MONTHS), customers), len(MONTHS))
    moved = np.array([TIER_NAMES.index(MOVES_TO[name]) for name in TIER_NAMES])[start]
    weight = np.power(1.0 - rng.random(customers), -2.0 / 3.0)
    month = np.arange(len(MONTHS))
    end_tier = np.where(month[None, :] >= change_month[:, None], moved[:, None], start[:, None])
    factor = np.array([USAGE_FACTOR[name] for name in TIER_NAMES])[end_tier]
    monthly = weight[:, None] * (0.7 + 0.6 * rng.random((customers, len(MONTHS)))) * factor
    cap = np.array([RECORDS_CAP.get(name, -1) for name in TIER_NAMES], dtype=np.int64)[end_tier]
    n = _allocation(monthly.ravel(), cap.ravel(), records).reshape(customers, len(MONTHS))
    return _Shape(start, moved, change_month, end_tier, n)


def _copy(cursor: CursorWrapper, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# Each customer-month's records are numbered g = first_g .. first_g + n - 1; a record's fields
# come from hashes of g: a second of the (local) month, chat or agent (a quarter of a paying
# customer's records), the model (chat: gpt-4o for 20%), tokens (chat 500-3,999 input and 100-799
# output, agent 4,000-39,999 and 400-3,999; cache reads up to half the input). The price row is
# the one in force at the timestamp and the cost its per-million prices times the tokens, exact
# in numeric (what ingestion stores; the test compares with ``cost_units``). Records go in in
# time order, as ingestion writes them: a customer's records are spread over the whole table.
_RECORDS_SQL = f"""
INSERT INTO {UsageRecord._meta.db_table} (organization_id, event_id, customer_id, timestamp, period,
    workload_id, model_id, price_id, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
    reasoning_tokens, requests, credits, cost, payload_hash, priced_at, received_at)
SELECT %(organization)s, 'evt-' || r.g, r.customer_id, r.ts, r.period, r.workload_id, r.model_id, p.id,
    r.input_tokens, r.output_tokens, r.cached_tokens, 0, 0, 1, r.credits,
    round(((r.input_tokens - r.cached_tokens) * p.input_mtok + r.cached_tokens * p.cache_read_mtok
        + r.output_tokens * p.output_mtok) / 1000000, 10),
    md5(r.g::text), now(), now()
FROM (
    SELECT s.g, s.customer_id, s.period, s.ts,
        CASE WHEN s.agent THEN %(agent)s ELSE %(chat)s END AS workload_id,
        CASE WHEN s.agent OR s.h3 %% 100 >= 80 THEN %(frontier)s ELSE %(small)s END AS model_id,
        CASE WHEN s.agent THEN {AGENT_CREDITS} ELSE {CHAT_CREDITS} END AS credits,
        s.input_tokens, s.output_tokens,
        (s.h4 >> 20) %% (s.input_tokens / 2 + 1) AS cached_tokens
    FROM (
        SELECT t.*,
            CASE WHEN t.agent THEN 4000 + (t.h4 %% 36000) ELSE 500 + (t.h4 %% 3500) END AS input_tokens,
            CASE WHEN t.agent THEN 400 + ((t.h3 >> 8) %% 3600) ELSE 100 + ((t.h3 >> 8) %% 700) END
                AS output_tokens
        FROM (
            SELECT g, c.customer_id, c.period,
                (c.period::timestamp + ((hashint8extended(g, 1) & {2**63 - 1}) %% c.seconds)
                    * interval '1 second') AT TIME ZONE %(time_zone)s AS ts,
                NOT c.free AND (hashint8extended(g, 2) & {2**63 - 1}) %% 100 < 25 AS agent,
                hashint8extended(g, 3) & {2**63 - 1} AS h3,
                hashint8extended(g, 4) & {2**63 - 1} AS h4
            FROM bench_replay_cm c CROSS JOIN LATERAL generate_series(c.first_g, c.first_g + c.n - 1) g
        ) t
    ) s
) r
JOIN bench_replay_price p ON p.model_id = r.model_id
    AND (p.effective_from IS NULL OR p.effective_from <= r.ts)
    AND (p.effective_to IS NULL OR r.ts < p.effective_to)
ORDER BY r.ts
"""

_ROLLUP_SQL = f"""
INSERT INTO {CustomerMonth._meta.db_table} (organization_id, customer_id, period, records, requests,
    credits, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost)
SELECT %s, customer_id, period, count(*), sum(requests), sum(credits), sum(input_tokens),
    sum(output_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(cost)
FROM {UsageRecord._meta.db_table} WHERE organization_id = %s GROUP BY customer_id, period
"""


def _generate(
    organization: Organization,
    tiers: dict[str, Tier],
    workloads: dict[str, Workload],
    models: dict[str, AIModel],
    shape: _Shape,
) -> int:
    """Customers, tier periods, records and the rollup; returns the records written."""
    customer_table, period_table = Customer._meta.db_table, CustomerTierPeriod._meta.db_table
    count = len(shape.start)
    tier_ids = np.array([tiers[name].pk for name in TIER_NAMES])
    rows = _price_rows(models)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {customer_table} (organization_id, external_id, created_at) "
            "SELECT %s, 'cus-' || lpad(g::text, 7, '0'), now() FROM generate_series(1, %s) g",
            [organization.pk, count],
        )
        ids = np.array(
            Customer.objects.filter(organization=organization)
            .order_by("external_id")
            .values_list("pk", flat=True),
            dtype=np.int64,
        )
        periods = [(int(c), MONTHS[0], int(t)) for c, t in zip(ids, tier_ids[shape.start], strict=True)]
        changing = np.flatnonzero(shape.change_month < len(MONTHS))
        periods += [
            (
                int(ids[c]),
                MONTHS[shape.change_month[c]] + timedelta(days=15),
                int(tier_ids[shape.moved[c]]),
            )
            for c in changing
        ]
        _copy(cursor, period_table, "customer_id, effective_from, tier_id", periods)
        n = shape.n.ravel()
        first = np.cumsum(n) - n + 1
        seconds = [(_next(m) - m).days * 86_400 for m in MONTHS]
        free = shape.end_tier.ravel() == TIER_NAMES.index("Free")
        cursor.execute(
            "CREATE TEMP TABLE bench_replay_cm (customer_id bigint, period date, seconds bigint,"
            " free boolean, first_g bigint, n bigint)"
        )
        months = len(MONTHS)
        cms = [
            (
                int(ids[i // months]),
                MONTHS[i % months],
                seconds[i % months],
                bool(free[i]),
                int(first[i]),
                int(n[i]),
            )
            for i in np.flatnonzero(n)
        ]
        _copy(cursor, "bench_replay_cm", "customer_id, period, seconds, free, first_g, n", cms)
        cursor.execute(
            "CREATE TEMP TABLE bench_replay_price AS SELECT id, model_id, effective_from,"
            " effective_to, (structure->>'input_mtok')::numeric AS input_mtok,"
            " (structure->>'output_mtok')::numeric AS output_mtok,"
            " (structure->>'cache_read_mtok')::numeric AS cache_read_mtok"
            f" FROM {ModelPrice._meta.db_table} WHERE id = ANY(%s)",
            [[row.pk for row in rows]],
        )
        cursor.execute(
            _RECORDS_SQL,
            {
                "organization": organization.pk,
                "chat": workloads["Chat"].pk,
                "agent": workloads["Agent"].pk,
                "small": models[SMALL_MODEL].pk,
                "frontier": models[FRONTIER_MODEL].pk,
                "time_zone": TIME_ZONE,
            },
        )
        written = cursor.rowcount
        cursor.execute(_ROLLUP_SQL, [organization.pk, organization.pk])
        cursor.execute("DROP TABLE bench_replay_cm, bench_replay_price")
    return written


def _next(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def replay_dataset_create(*, customers: int, records: int, seed: int = 15) -> ReplayDataset:
    """Replace the benchmark organisation with a new one holding ``customers`` customers and
    ``records`` usage records over ``MONTHS`` (module docstring). PostgreSQL only."""
    if connection.vendor != "postgresql":
        raise RuntimeError(
            "bench_replay generates its data with PostgreSQL SQL and measures replay on PostgreSQL; "
            "set DATABASE_URL to a scratch PostgreSQL database."
        )
    if customers < 1 or records < 1:
        raise RuntimeError("--customers and --records must be at least 1.")
    _catalog_ready()
    models = {
        m.slug: m
        for m in AIModel.objects.filter(provider__slug="openai", slug__in=[SMALL_MODEL, FRONTIER_MODEL])
    }
    replay_dataset_delete()
    shape = _customer_months(customers, records, seed)
    with transaction.atomic():
        organization = Organization.objects.create(
            name="Replay benchmark", slug=BENCH_SLUG, time_zone=TIME_ZONE
        )
        product, tiers, workloads = _plan(organization, models)
        written = _generate(organization, tiers, workloads, models, shape)
        if written != records:
            raise RuntimeError(f"{records - written} records found no catalog price in force; nothing kept.")
        scenario = _scenario(product, workloads, models[SMALL_MODEL])
    # VACUUM as autovacuum would after a bulk load (insert thresholds): it sets the visibility
    # map, without which a replay's index-only scans fall back to the table.
    # (Inside a transaction, as in the tests, VACUUM cannot run: ANALYZE alone then.)
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        for model in (UsageRecord, CustomerMonth, CustomerTierPeriod, Customer):
            cursor.execute(f"{command} {model._meta.db_table}")
    return ReplayDataset(
        organization, product, scenario, tiers, workloads, customers, written, MONTHS[0], MONTHS[-1]
    )


def _seconds_between(start: Any, end: Any) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 2)


def _replay_job(dataset: ReplayDataset, timeout: float) -> dict[str, Any]:
    """One replay job of the dataset's scenario, timed from ``replay_start`` until finished."""
    started = time.perf_counter()
    run = replay_start(
        organization=dataset.organization,
        scenario=dataset.scenario,
        period_from=dataset.period_from,
        period_to=dataset.period_to,
    )
    start_call = time.perf_counter() - started
    run = wait_finished(run.pk, timeout)
    wall = time.perf_counter() - started
    if run.status != SimulationRun.Status.SUCCEEDED or run.results is None:
        raise RuntimeError(f"replay job {run.pk} ended {run.status}: {run.error}")
    blocks = sorted(RunBlock.objects.filter(run=run).values_list("seconds", flat=True))
    total = run.results["total"]
    return {
        "run": run.pk,
        "seconds": round(wall, 2),
        "job_seconds": run.results.get("seconds"),
        "blocks": f"{run.blocks_done}/{run.blocks_total}",
        "customer_months": ReplayRow.objects.filter(run=run).count(),
        "flipped_customers": run.results["flipped_customers"],
        "customers_cut": run.results.get("customers_cut_count"),
        "underwater_actual_replayed": [total["underwater_actual"], total["underwater_replayed"]],
        # Where the time went: replay_start itself (selecting the customers, freezing the plan),
        # waiting for the first chunk, the blocks, the merge (rows read back, bootstrap).
        "phases": {
            "start_call": round(start_call, 2),
            "queued": _seconds_between(run.created_at, run.started_at),
            "blocks": _seconds_between(run.started_at, run.merge_enqueued_at),
            "merge": _seconds_between(run.merge_enqueued_at, run.finished_at),
        },
        "block_seconds": {
            "median": round(statistics.median(blocks), 2),
            "max": round(blocks[-1], 2),
            "sum": round(sum(blocks), 2),
        },
    }


def replay_benchmark(
    *,
    customers: int,
    records: int,
    workers: int,
    repeat: int,
    log_dir: Path | None = None,
    in_process: bool = False,
    keep: bool = False,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Generate the dataset (its time reported as setup, not part of the figure), start one
    worker with ``workers`` processes and time ``repeat`` replay jobs of the scenario over the
    three months; the figure is the median wall time from ``replay_start`` to finished.
    ``in_process`` also times ``replay_period`` of the same request in this process. The
    dataset is deleted afterwards unless ``keep``."""
    started = time.perf_counter()
    dataset = replay_dataset_create(customers=customers, records=records)
    setup = time.perf_counter() - started
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        with celery_worker_process(concurrency=workers, log_dir=log_dir):
            jobs = [_replay_job(dataset, timeout) for _ in range(repeat)]
        report: dict[str, Any] = {
            "customers": customers,
            "records": dataset.records,
            "months": f"{dataset.period_from:%Y-%m}..{dataset.period_to:%Y-%m}",
            "workers": workers,
            "repeat": repeat,
            "setup_seconds": round(setup, 1),
            "seconds": statistics.median(job["seconds"] for job in jobs),
            "jobs": jobs,
            "worker_logs": str(log_dir),
        }
        if in_process:
            started = time.perf_counter()
            result = replay_period(
                organization=dataset.organization,
                scenario=dataset.scenario,
                period_from=dataset.period_from,
                period_to=dataset.period_to,
            )
            report["in_process_seconds"] = round(time.perf_counter() - started, 2)
            report["in_process_flipped_customers"] = result.flipped_customers
    finally:
        if not keep:
            replay_dataset_delete()
    return report
