"""Margin alerts end to end through a real SMTP server: evaluation writes the outbox, delivery
sends it at least once with a stable Message-ID, failures retry with backoff and are never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django_celery_beat.models import CrontabSchedule

from planner.accounts.models import Organization
from planner.alerts.delivery import outbox_deliver
from planner.alerts.evaluate import alert_evaluate, alert_send_test, alerts_evaluate_due
from planner.alerts.models import AlertOutbox, AlertRule
from planner.alerts.rules import alert_rule_create, alert_rule_delete, alert_rule_update
from planner.alerts.schedules import schedule_previous_tick, window_key
from planner.devtools.smtp_sink import SmtpSink, free_port
from planner.products.models import Product, Tier
from planner.products.selectors import live_tiers
from planner.simulation.models import SimulationRun
from planner.simulation.scenarios import scenario_create
from tests.alerts.support import NOW, RuleFactory, smtp  # noqa: F401  (fixture)


def _parts(message: Any) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


def test_a_breach_arrives_once_with_text_and_html(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
) -> None:
    rule = make_rule()
    result = alert_evaluate(rule=rule, now=NOW)
    assert (result.evaluated, result.breaches, result.rows_created) == (1, 1, 2)
    delivered = outbox_deliver(now=NOW)
    assert (delivered.sent, delivered.retrying) == (2, 0)
    rows = {row.recipient: row for row in AlertOutbox.objects.all()}
    assert {r.status for r in rows.values()} == {"sent"}
    assert {r.window for r in rows.values()} == {"2026-11-26"}
    assert len(smtp.stats.received) == 2
    for received in smtp.stats.received:
        (recipient,) = received.recipients
        assert received.message_id == rows[recipient].message_id
        assert received.message["Subject"] == "Pro tier: 25.0% of customers underwater in November"
        parts = _parts(received.message)
        assert set(parts) == {"text/plain", "text/html"}
        for body in parts.values():
            # the customer's margin as money per the helper (cents, U+2212 minus), not "-10.880000"
            assert "25.0%" in body and "heavy" in body and "\u2212$10.88" in body
            assert "-10.880000" not in body
            assert "http://127.0.0.1:8000/alerts/" in body
    # Nothing is sent twice: the rows are sent, a second delivery finds nothing to do.
    assert outbox_deliver(now=NOW + timedelta(hours=1)).sent == 0
    assert len(smtp.stats.received) == 2


def test_no_breach_sends_nothing(smtp: SmtpSink, november_usage: None, make_rule: RuleFactory) -> None:  # noqa: F811
    rule = make_rule(threshold=Decimal("50"))
    result = alert_evaluate(rule=rule, now=NOW)
    assert (result.evaluated, result.breaches, result.rows_created) == (1, 0, 0)
    assert outbox_deliver(now=NOW).sent == 0
    assert smtp.stats.received == []
    rule.refresh_from_db()
    assert rule.last_measurement is not None
    assert rule.last_measurement["value"] == "25.0000" and rule.last_measurement["breached"] is False


def test_evaluating_twice_for_the_same_window_sends_once(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
) -> None:
    rule = make_rule(recipients=["founder@example.com"])
    AlertRule.objects.filter(pk=rule.pk).update(created_at=NOW - timedelta(days=10))
    assert alert_evaluate(rule=rule, now=NOW).rows_created == 1
    assert alert_evaluate(rule=rule, now=NOW + timedelta(hours=3)).rows_created == 0  # same day
    AlertRule.objects.filter(pk=rule.pk).update(last_tick_at=None)  # as if a second scheduler raced
    assert alerts_evaluate_due(now=NOW).rows_created == 0
    outbox_deliver(now=NOW)
    outbox_deliver(now=NOW + timedelta(hours=4))
    assert len(smtp.stats.received) == 1
    # The next day is a new window: one more mail.
    assert alert_evaluate(rule=rule, now=NOW + timedelta(days=1)).rows_created == 1
    outbox_deliver(now=NOW + timedelta(days=1))
    assert len(smtp.stats.message_ids) == 2


def test_an_outage_then_recovery_delivers(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
) -> None:
    rule = make_rule(recipients=["founder@example.com"])
    alert_evaluate(rule=rule, now=NOW)
    with override_settings(EMAIL_PORT=free_port()):  # nothing listens there: connection refused
        result = outbox_deliver(now=NOW)
    assert (result.sent, result.retrying) == (0, 1)
    row = AlertOutbox.objects.get()
    assert row.status == "retrying" and row.attempts == 1
    assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    assert outbox_deliver(now=NOW + timedelta(seconds=30)).sent == 0  # not due yet
    assert outbox_deliver(now=NOW + timedelta(seconds=60)).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert [m.message_id for m in smtp.stats.received] == [row.message_id]


@pytest.mark.parametrize("failure", ["reject", "drop_before"])
def test_a_failure_before_the_data_retries_and_delivers_once(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    failure: Any,
) -> None:
    rule = make_rule(recipients=["founder@example.com"])
    alert_evaluate(rule=rule, now=NOW)
    smtp.script(failure)
    assert outbox_deliver(now=NOW).retrying == 1
    assert smtp.stats.received == []
    assert outbox_deliver(now=NOW + timedelta(minutes=1)).sent == 1
    row = AlertOutbox.objects.get()
    assert row.status == "sent" and row.attempts == 2
    assert [m.message_id for m in smtp.stats.received] == [row.message_id]


def test_a_failure_after_the_data_may_deliver_twice_with_the_same_message_id(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
) -> None:
    rule = make_rule(recipients=["founder@example.com"])
    alert_evaluate(rule=rule, now=NOW)
    smtp.script("drop_after")
    assert outbox_deliver(now=NOW).retrying == 1  # the client saw an error...
    row = AlertOutbox.objects.get()
    assert [m.message_id for m in smtp.stats.received] == [row.message_id]  # ...but it arrived
    assert outbox_deliver(now=NOW + timedelta(minutes=1)).sent == 1
    assert [m.message_id for m in smtp.stats.received] == [row.message_id, row.message_id]
    assert smtp.stats.dropped_after == {row.message_id: 1}


def test_backoff_doubles_and_a_row_fails_after_max_attempts_with_its_error_kept(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
) -> None:
    rule = make_rule(recipients=["founder@example.com"])
    alert_evaluate(rule=rule, now=NOW)
    smtp.script("reject", "reject", "reject")
    with override_settings(ALERTS_MAX_ATTEMPTS=3):
        at = NOW
        delays = []
        for _ in range(3):
            outbox_deliver(now=at)
            row = AlertOutbox.objects.get()
            delays.append(row.next_attempt_at - at)
            at = row.next_attempt_at
    assert row.status == "failed" and row.attempts == 3
    assert "451" in row.last_error
    assert delays[:2] == [timedelta(minutes=1), timedelta(minutes=2)]
    assert outbox_deliver(now=at + timedelta(days=1)).sent == 0  # failed rows stay failed, visible
    assert smtp.stats.received == []


def test_a_rule_of_another_organisation_never_sees_this_organisations_data(
    november_usage: None, product_factory: Any, pro: Tier, make_rule: RuleFactory
) -> None:
    from tests.factories import OrganizationFactory

    other = OrganizationFactory.create(name="Rival", slug="rival", time_zone="America/New_York")
    other_product = product_factory(organization=other, name="Rival product")
    rule = alert_rule_create(
        organization=other,
        name="Anything underwater",
        metric=AlertRule.Metric.UNDERWATER_SHARE,
        comparator=AlertRule.Comparator.GTE,
        threshold=Decimal("0"),
        recipients=["rival@example.com"],
    )
    result = alert_evaluate(rule=rule, now=NOW)
    assert (result.breaches, result.rows_created) == (0, 0)
    rule.refresh_from_db()
    assert rule.last_measurement is not None
    assert rule.last_measurement["value"] is None and "No usage" in rule.last_measurement["note"]
    # Another organisation's tier or scenario "does not exist" for a rule.
    with pytest.raises(ValidationError) as error:
        alert_rule_create(
            organization=other,
            name="Sneaky",
            metric=AlertRule.Metric.UNDERWATER_SHARE,
            tier=pro,
            threshold=Decimal("1"),
            recipients=["rival@example.com"],
        )
    assert error.value.message_dict == {"tier": ["This tier does not exist."]}
    assert live_tiers(other_product).count() == 2
    # This organisation's own rule does see its data.
    assert alert_evaluate(rule=make_rule(), now=NOW).breaches == 1


def test_digest_puts_every_breach_of_a_window_in_one_mail_per_recipient(
    smtp: SmtpSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    share = make_rule(digest=True, recipients=["founder@example.com", "cfo@example.com"])
    loss = make_rule(
        name="Underwater loss",
        metric=AlertRule.Metric.UNDERWATER_LOSS,
        threshold=Decimal("5"),
        digest=True,
        recipients=["founder@example.com"],
    )
    for rule in (share, loss):
        AlertRule.objects.filter(pk=rule.pk).update(created_at=NOW - timedelta(days=3))
    result = alerts_evaluate_due(now=NOW)
    assert (result.evaluated, result.breaches, result.rows_created) == (2, 2, 2)
    rows = {row.recipient: row for row in AlertOutbox.objects.all()}
    assert {r.kind for r in rows.values()} == {"digest"} and {r.rule_id for r in rows.values()} == {None}
    assert set(rows["founder@example.com"].rules.all()) == {share, loss}
    assert set(rows["cfo@example.com"].rules.all()) == {share}
    outbox_deliver(now=NOW)
    by_recipient = {m.recipients[0]: m for m in smtp.stats.received}
    assert len(smtp.stats.received) == 2
    founder = _parts(by_recipient["founder@example.com"].message)["text/plain"]
    assert "2 margin alerts" in founder and "25.0% of customers underwater" in founder
    assert "$10.88 a month lost" in founder
    # Re-evaluating the window adds nothing; a digest rule evaluated later in the same window is
    # not lost: it gets its own mail.
    assert alert_evaluate(rule=share, now=NOW).rows_created == 0
    late = make_rule(
        name="Late",
        metric=AlertRule.Metric.GROSS_MARGIN_PCT,
        comparator=AlertRule.Comparator.LT,
        threshold=Decimal("90"),
        digest=True,
    )
    assert alert_evaluate(rule=late, now=NOW).rows_created == 2
    assert set(AlertOutbox.objects.filter(rule=late).values_list("kind", flat=True)) == {"alert"}
    assert alert_evaluate(rule=late, now=NOW).rows_created == 0


def test_the_sweep_follows_each_rules_schedule_in_the_organisations_time_zone(
    november_usage: None, make_rule: RuleFactory
) -> None:
    rule = make_rule()
    AlertRule.objects.filter(pk=rule.pk).update(created_at=datetime(2026, 11, 20, tzinfo=UTC))
    early = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)  # 07:30 in New York: yesterday's window
    assert alerts_evaluate_due(now=early).evaluated == 1
    assert AlertOutbox.objects.get(recipient="founder@example.com").window == "2026-11-25"
    assert alerts_evaluate_due(now=early + timedelta(minutes=20)).evaluated == 0  # nothing new is due
    assert alerts_evaluate_due(now=NOW).evaluated == 1  # 08:00 New York has passed
    assert set(AlertOutbox.objects.values_list("window", flat=True)) == {"2026-11-25", "2026-11-26"}
    AlertRule.objects.filter(pk=rule.pk).update(enabled=False)
    assert alerts_evaluate_due(now=NOW + timedelta(days=1)).evaluated == 0


def test_schedule_ticks_and_window_keys() -> None:
    weekly = CrontabSchedule(minute="0", hour="8", day_of_week="1", timezone="Europe/Berlin")
    tick = schedule_previous_tick(crontab=weekly, now=NOW)  # Thursday 26 Nov
    assert tick == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 08:00 Berlin
    assert window_key(schedule="weekly", tick=tick, time_zone="Europe/Berlin") == "2026-W48"
    monthly = CrontabSchedule(minute="0", hour="8", day_of_month="28", timezone="UTC")
    tick = schedule_previous_tick(crontab=monthly, now=NOW)
    assert tick == datetime(2026, 10, 28, 8, 0, tzinfo=UTC)
    assert window_key(schedule="monthly", tick=tick, time_zone="UTC") == "2026-10"
    cron = CrontabSchedule(minute="*/15", hour="*", timezone="Asia/Tokyo")
    tick = schedule_previous_tick(crontab=cron, now=NOW + timedelta(minutes=7))
    assert tick == NOW
    assert window_key(schedule="cron", tick=tick, time_zone="Asia/Tokyo") == "2026-11-26T23:00"
    # A window is named in the organisation's time zone: 02:00 UTC is still the 25th in New York.
    late = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert window_key(schedule="daily", tick=late, time_zone="America/New_York") == "2026-11-25"


def test_rules_are_validated_field_by_field(make_rule: RuleFactory, product: Product) -> None:
    make_rule()
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"name": "Pro underwater"}, {"name"}),
        ({"name": "x", "scope": "scenario"}, {"scenario"}),
        ({"name": "x", "metric": "customer_margin", "scope": "scenario"}, {"scenario", "metric"}),
        ({"name": "x", "schedule": "cron", "cron": "0 8 * *"}, {"cron"}),
        ({"name": "x", "schedule": "cron", "cron": "0 25 * * *"}, {"cron"}),
        ({"name": "x", "recipients": ["not-an-address"]}, {"recipients"}),
        ({"name": "x", "recipients": []}, {"recipients"}),
        ({"name": "x", "threshold": Decimal("150")}, {"threshold"}),
        ({"name": "x", "metric": "nonsense"}, {"metric"}),
    ]
    for fields, expected in cases:
        with pytest.raises(ValidationError) as error:
            make_rule(**fields)
        assert set(error.value.message_dict) == expected, fields


def test_update_moves_the_schedule_and_delete_removes_it(make_rule: RuleFactory) -> None:
    rule = make_rule()
    assert (rule.crontab.minute, rule.crontab.hour, str(rule.crontab.timezone)) == (
        "0",
        "8",
        "America/New_York",
    )
    rule = alert_rule_update(rule=rule, data={"schedule": "cron", "cron": "30 7 * * 1-5"})
    rule.crontab.refresh_from_db()
    assert (rule.crontab.minute, rule.crontab.hour, rule.crontab.day_of_week) == ("30", "7", "1-5")
    crontab_id = rule.crontab_id
    alert_rule_delete(rule=rule)
    assert not CrontabSchedule.objects.filter(pk=crontab_id).exists()


def test_scenario_rules_measure_the_latest_succeeded_run(make_rule: RuleFactory, product: Product) -> None:
    scenario = scenario_create(product=product, name="Baseline")
    free, pro = scenario.tiers.get(name="Free"), scenario.tiers.get(name="Pro")

    def run(share: float, status: str = "succeeded") -> SimulationRun:
        tiers = [
            {
                "key": name,
                "gross_margin_pct": {"value": 55.0},
                "underwater": {"share": s, "monthly_loss": {"value": 9.5}},
                "cogs_per_user": {"p95": {"value": 3.2}},
            }
            for name, s in (("Free", 0.0), ("Pro", share))
        ]
        return SimulationRun.objects.create(
            scenario=scenario,
            seed=1,
            users=1_000,
            status=status,
            snapshot={"tiers": [{"id": free.pk, "key": "Free"}, {"id": pro.pk, "key": "Pro"}]},
            results={
                "tiers": tiers,
                "total": {
                    "gross_margin_pct": 40.0,
                    "underwater_paying": {"share": share, "monthly_loss": 9.5},
                },
            },
        )

    run(0.02)
    latest = run(0.074)
    run(0.5, status="failed")
    rule = make_rule(
        scope="scenario",
        scenario=scenario,
        tier=pro,
        recipients=["founder@example.com"],
        threshold=Decimal("5"),
    )
    assert alert_evaluate(rule=rule, now=NOW).breaches == 1
    row = AlertOutbox.objects.get()
    assert row.subject == f"Pro tier: 7.4% of users underwater in scenario Baseline (run #{latest.pk})"
    assert row.measured["items"][0]["run"] == latest.pk


def test_scenario_rules_name_a_tier_of_the_scenarios_plan(make_rule: RuleFactory, product: Product) -> None:
    """A scenario rule names a tier of that scenario's plan; an actual-usage rule a live tier."""
    scenario = scenario_create(product=product, name="Baseline")
    with pytest.raises(ValidationError, match="scenario's own plan"):
        make_rule(scope="scenario", scenario=scenario)  # the live Pro
    with pytest.raises(ValidationError, match="belongs to a scenario's plan"):
        make_rule(tier=scenario.tiers.get(name="Pro"))


def test_send_a_test_alert_now(smtp: SmtpSink, november_usage: None, make_rule: RuleFactory) -> None:  # noqa: F811
    rule = make_rule(threshold=Decimal("90"))  # no breach: a test is sent anyway
    rows = alert_send_test(rule=rule, now=NOW)
    assert {r.kind for r in rows} == {"test"} and len(rows) == 2
    outbox_deliver(now=NOW)
    assert {m.message["Subject"] for m in smtp.stats.received} == {
        "[Test] Pro tier: 25.0% of customers underwater in November"
    }
    rule.refresh_from_db()
    assert rule.last_tick_at is None  # a test is not the window's evaluation
