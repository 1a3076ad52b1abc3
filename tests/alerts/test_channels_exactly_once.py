"""Every breach reaches each channel exactly once per (rule, window), through receivers that fail
30% of the requests (seeded), with sweeps, duplicate evaluations and deliverers running
concurrently in threads (their own database connections), as beat, retried tasks and several
workers do.

Mail is at least once (SMTP cannot do better, docs/ALERTS.md); a channel is too in general (an
answer lost after the receiver took the request), but these receivers take a request only when
they answer success, so anything received twice would be a duplicate of our making: the test
counts what each receiver accepted, by delivery id for the webhook and by (rule, window) for
Slack, and asserts each breach arrived once and nothing arrived that is not a breach.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.db import connections
from django.db.models import Min
from django.test import override_settings

from planner.accounts.models import Organization
from planner.alerts.channels import alert_channel_create
from planner.alerts.delivery import outbox_deliver
from planner.alerts.evaluate import alert_evaluate, alerts_evaluate_due
from planner.alerts.measure import alert_measure
from planner.alerts.models import AlertOutbox, AlertRule
from planner.alerts.schedules import schedule_previous_tick
from planner.devtools.webhook_sink import WebhookSink
from tests.alerts.support import RuleFactory

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_DAY = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
DAYS = 4
#: (name, metric, comparator, threshold, digest): four breach on the November usage, one never does.
RULES = (
    ("Share", "underwater_share", "gt", "10", False),
    ("Loss", "underwater_loss", "gt", "5", True),
    ("Margin", "gross_margin_pct", "lt", "90", True),
    ("P95", "cogs_p95", "gt", "1", False),
    ("Quiet", "underwater_share", "gt", "90", True),
)
LINK = re.compile(r"/alerts/(\d+)/\|")


def concurrently(calls: list[Callable[[], Any]]) -> None:
    """Run ``calls`` in threads at once; re-raise the first error any of them raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> None:
        try:
            start.wait()
            call()
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def deliverers(now: datetime) -> list[Callable[[], Any]]:
    """Two deliverers at ``now``, as two workers running the delivery task at once."""
    return [partial(outbox_deliver, now=now), partial(outbox_deliver, now=now)]


def slack_breaches(body: bytes) -> list[tuple[int, str]]:
    """(rule, window) of each rule a Slack message reports (its link and its Window field)."""
    found = []
    for block in json.loads(body)["blocks"]:
        if block["type"] == "section":
            rule = int(LINK.search(block["text"]["text"]).group(1))  # type: ignore[union-attr]
            window = next(
                f["text"].split("\n")[1] for f in block["fields"] if f["text"].startswith("*Window*")
            )
            found.append((rule, window))
    return found


def test_every_breach_reaches_each_channel_exactly_once_through_flaky_receivers(
    november_usage: None, make_rule: RuleFactory, org: Organization
) -> None:
    with (
        WebhookSink(mode="webhook", failure_rate=0.3, seed=16) as hook_sink,
        WebhookSink(mode="slack", failure_rate=0.3, seed=61) as slack_sink,
        # Enough attempts that a row never gives up here: giving up is tested elsewhere, and a
        # failed row would be "missing" for a reason this test is not about.
        override_settings(ALERTS_DELIVER_ON_COMMIT=False, ALERTS_MAX_ATTEMPTS=30),
    ):
        for sink in (hook_sink, slack_sink):
            sink.script(500, "drop", 429, 503)
        hook, _ = alert_channel_create(organization=org, name="Hook", kind="webhook", url=hook_sink.url)
        slack, _ = alert_channel_create(organization=org, name="Slack", kind="slack", url=slack_sink.url)
        rules = [
            make_rule(
                name=name,
                metric=metric,
                comparator=comparator,
                threshold=Decimal(threshold),
                digest=digest,
                recipients=[],
                channels=[hook, slack],
            )
            for name, metric, comparator, threshold, digest in RULES
        ]
        AlertRule.objects.update(created_at=FIRST_DAY - timedelta(days=5))
        expected: set[tuple[int, str]] = set()
        now = FIRST_DAY
        for day in range(DAYS):
            now = FIRST_DAY + timedelta(days=day)
            for rule in AlertRule.objects.select_related("organization", "crontab", "tier", "scenario"):
                tick = schedule_previous_tick(crontab=rule.crontab, now=now)
                assert tick is not None
                measurement = alert_measure(rule=rule, tick=tick)
                if measurement.breached:
                    expected.add((rule.pk, measurement.window))
            # Two sweeps (beat ticking twice), every rule evaluated again, and two deliverers.
            concurrently(
                [
                    partial(alerts_evaluate_due, now=now),
                    partial(alerts_evaluate_due, now=now),
                    *(partial(alert_evaluate, rule=rule, now=now) for rule in rules),
                    *deliverers(now),
                ]
            )
            concurrently(deliverers(now))
        for _ in range(200):  # drain: move the clock to each next attempt
            next_at = AlertOutbox.objects.filter(status__in=["pending", "retrying"]).aggregate(
                at=Min("next_attempt_at")
            )["at"]
            if next_at is None:
                break
            now = max(now, next_at)
            concurrently(deliverers(now))
    assert len(expected) == 4 * DAYS
    rows = list(AlertOutbox.objects.all())
    assert {row.status for row in rows} == {"sent"}
    # The webhook: one event per rule and window, each delivery id accepted once.
    accepted = hook_sink.record.accepted()
    delivery_ids = Counter(r.headers["x-margin-planner-delivery"] for r in accepted)
    assert set(delivery_ids.values()) == {1}
    assert set(delivery_ids) == {row.message_id for row in rows if row.channel_id == hook.pk}
    events = Counter((b["rule"]["id"], b["window"]) for b in (json.loads(r.body) for r in accepted))
    assert set(events.values()) == {1} and set(events) == expected
    # Slack: digests and single alerts together report each (rule, window) once.
    reported = Counter(pair for r in slack_sink.record.accepted() for pair in slack_breaches(r.body))
    assert set(reported.values()) == {1} and set(reported) == expected
    # The receivers did fail (which requests drew the random failures depends on the threads'
    # order, so the scripted first four make sure every kind of failure happened) and were retried.
    for sink in (hook_sink, slack_sink):
        answers = Counter(r.answered for r in sink.record.requests)
        assert {500, 503, 429, None} <= set(answers), answers
