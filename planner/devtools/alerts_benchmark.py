"""``manage.py bench_alerts``: many evaluations through a flaky real SMTP server.

Organisations (each in its own time zone) get a product with Free and Pro tiers and a month of
actual usage (rollup rows: 30 customers, some underwater), and rules with mixed metrics,
thresholds, recipients and digest settings, on the daily schedule. Each round moves the clock one
day (a new window) and runs the sweep, which evaluates every rule; the round then repeats the
sweep and re-evaluates every rule for the same window (duplicate ticks: they must add no row) and
delivers. After the last round, delivery runs with the clock moved to each next attempt until the
outbox is drained. The SMTP sink fails ``failure_rate`` of the transactions at random, half before
the data and half after it (received, then the connection dropped).

Checks: every breach (rule, window, recipient) is carried by a sent row; at the sink, the distinct
Message-IDs are exactly the outbox rows'; and each Message-ID arrived 1 + (failures injected after
its data) times, so a repeat happens only where a failure was injected after the data was sent.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Min
from django.test import override_settings

from planner.accounts.models import Organization
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod
from planner.alerts.delivery import outbox_deliver
from planner.alerts.evaluate import alert_evaluate, alerts_evaluate_due
from planner.alerts.measure import alert_measure
from planner.alerts.models import AlertOutbox, AlertRule
from planner.alerts.rules import alert_rule_create
from planner.alerts.schedules import schedule_previous_tick
from planner.devtools.smtp_sink import SmtpSink
from planner.products.models import Tier
from planner.products.services import product_create, tier_create

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
#: (metric, comparator, threshold): most breach on the generated usage, some never do.
RULES = (
    (AlertRule.Metric.UNDERWATER_SHARE, "gt", "5"),
    (AlertRule.Metric.UNDERWATER_SHARE, "gt", "90"),
    (AlertRule.Metric.GROSS_MARGIN_PCT, "lt", "80"),
    (AlertRule.Metric.GROSS_MARGIN_PCT, "lt", "-500"),
    (AlertRule.Metric.UNDERWATER_LOSS, "gt", "1"),
    (AlertRule.Metric.CUSTOMER_MARGIN, "lt", "-5"),
    (AlertRule.Metric.COGS_P95, "gt", "10"),
)
PERIOD = date(2026, 11, 1)
FIRST_DAY = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def _organization(index: int, rules: int, rng: random.Random, stamp: int) -> None:
    slug = f"bench-alerts-{stamp}-{index}"
    organization = Organization.objects.create(name=slug, slug=slug, time_zone=ZONES[index % len(ZONES)])
    product = product_create(organization=organization, name="Bench")
    free = tier_create(
        product=product, name="Free", included_credits=30.0, hard_cap_credits=30.0, subscribers=100
    )
    pro = tier_create(
        product=product, name="Pro", monthly_fee=Decimal("20"), payment_fee_pct=Decimal("0.029")
    )
    tiers: list[Tier] = [free, pro]
    for number in range(30):
        tier = tiers[number % 2]
        customer = Customer.objects.create(organization=organization, external_id=f"customer-{number}")
        CustomerTierPeriod.objects.create(customer=customer, tier=tier, effective_from=PERIOD)
        cost = Decimal(str(round(rng.lognormvariate(1.5, 1.0), 4)))
        CustomerMonth.objects.create(organization=organization, customer=customer, period=PERIOD, cost=cost)
    for number in range(rules):
        metric, comparator, threshold = RULES[number % len(RULES)]
        recipients = [f"founder-{index}@example.com"] + (
            [f"cfo-{index}@example.com"] if number % 3 == 0 else []
        )
        rule = alert_rule_create(
            organization=organization,
            name=f"Rule {number}",
            metric=metric,
            comparator=comparator,
            threshold=Decimal(threshold),
            tier=pro if number % 2 else None,
            recipients=recipients,
            digest=number % 4 == 1,
        )
        AlertRule.objects.filter(pk=rule.pk).update(created_at=FIRST_DAY - timedelta(days=5))


def _expected_breaches(now: datetime) -> set[tuple[int, str, str]]:
    """(rule, window, recipient) of every breach at ``now`` (measured again, read-only)."""
    expected: set[tuple[int, str, str]] = set()
    for rule in AlertRule.objects.select_related("organization", "crontab", "tier", "scenario"):
        tick = schedule_previous_tick(crontab=rule.crontab, now=now)
        assert tick is not None
        measurement = alert_measure(rule=rule, tick=tick)
        if measurement.breached:
            expected.update((rule.pk, measurement.window, r) for r in rule.recipients)
    return expected


def alerts_benchmark(
    *, organizations: int = 10, rules: int = 10, rounds: int = 10, failure_rate: float = 0.3, seed: int = 7
) -> dict[str, Any]:
    """Run the benchmark (module docstring) in the current database; returns the figures."""
    rng = random.Random(seed)
    stamp = int(time.time())
    for index in range(organizations):
        _organization(index, rules, rng, stamp)
    evaluations = duplicate_evaluations = duplicate_rows = 0
    expected: set[tuple[int, str, str]] = set()
    deliveries = Counter[str]()
    started = time.perf_counter()
    with (
        SmtpSink(failure_rate=failure_rate, seed=seed) as sink,
        override_settings(**sink.settings(), ALERTS_DELIVER_ON_COMMIT=False),
    ):
        now = FIRST_DAY
        for day in range(rounds):
            now = FIRST_DAY + timedelta(days=day)
            evaluations += alerts_evaluate_due(now=now).evaluated
            expected |= _expected_breaches(now)
            duplicate_rows += alerts_evaluate_due(now=now).rows_created
            for rule in AlertRule.objects.all():
                duplicate_rows += alert_evaluate(rule=rule, now=now).rows_created
                duplicate_evaluations += 1
            result = outbox_deliver(now=now, limit=10_000)
            deliveries.update(sent=result.sent, retrying=result.retrying, failed=result.failed)
        passes = 0
        while passes < 1_000:
            waiting = AlertOutbox.objects.filter(status__in=["pending", "retrying"])
            next_at = waiting.aggregate(at=Min("next_attempt_at"))["at"]
            if next_at is None:
                break
            now = max(now, next_at)
            result = outbox_deliver(now=now, limit=10_000)
            deliveries.update(sent=result.sent, retrying=result.retrying, failed=result.failed)
            passes += 1
        seconds = time.perf_counter() - started
        stats = sink.stats
    rows = list(AlertOutbox.objects.prefetch_related("rules"))
    sent_rows = [r for r in rows if r.status == AlertOutbox.Status.SENT]
    carried = {(rule.pk, row.window, row.recipient) for row in sent_rows for rule in row.rules.all()}
    received = stats.message_ids
    outbox_ids = {r.message_id for r in rows}
    repeats = {mid: n for mid, n in received.items() if n > 1}
    return {
        "organizations": organizations,
        "rules": AlertRule.objects.count(),
        "evaluations": evaluations,
        "duplicate_evaluations": duplicate_evaluations,
        "rows_from_duplicates": duplicate_rows,
        "breaches_expected": len(expected),
        "breaches_delivered": len(expected & carried),
        "outbox_rows": len(rows),
        "outbox_digest_rows": sum(1 for r in rows if r.kind == AlertOutbox.Kind.DIGEST),
        "outbox_sent": len(sent_rows),
        "outbox_failed": sum(1 for r in rows if r.status == AlertOutbox.Status.FAILED),
        "delivery_attempts": sum(r.attempts for r in rows),
        "delivery_passes_after_rounds": passes,
        "smtp_failures_injected": dict(stats.injected),
        "smtp_messages_received": sum(received.values()),
        "distinct_message_ids_received": len(received),
        "message_ids_equal_outbox": set(received) == outbox_ids,
        "message_ids_received_twice_or_more": len(repeats),
        "repeats_only_after_data_failures": all(
            received[mid] == stats.dropped_after[mid] + 1 for mid in received
        ),
        "failures_after_data": sum(stats.dropped_after.values()),
        "seconds": round(seconds, 2),
        "ok": (
            len(expected - carried) == 0
            and duplicate_rows == 0
            and set(received) == outbox_ids
            and len(sent_rows) == len(rows)
            and all(received[mid] == stats.dropped_after[mid] + 1 for mid in received)
        ),
    }
