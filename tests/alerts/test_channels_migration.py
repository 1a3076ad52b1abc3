"""Migration 0017 (alert channels) on a database with mail in its outbox: forwards, the mail
rows stay mail rows and keep their unique key; channel rows get theirs; backwards, the channel
rows go with the channels and the mail rows are as they were."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("planner", "0016_usage_part_records")]
AFTER = [("planner", "0017_alert_channels")]
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


@pytest.fixture
def migrator(transactional_db: None) -> Iterator[MigrationExecutor]:
    """The database at 0016; migrated back to the latest state afterwards, whatever happens."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _apps(target: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    executor.loader.build_graph()
    return executor.loader.project_state(target).apps


def _outbox(model: Any, **fields: Any) -> Any:
    values = {"kind": "alert", "window": "2026-11-26", "next_attempt_at": NOW, "subject": "s", "text": "t"}
    return model.objects.create(**values, html="", **fields)


def test_0017_keeps_mail_rows_and_is_reversible(migrator: MigrationExecutor) -> None:
    apps = migrator.loader.project_state(BEFORE).apps
    organization = apps.get_model("planner", "Organization").objects.create(name="Acme", slug="acme")
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule").objects.create(minute="0", hour="8")
    rule = apps.get_model("planner", "AlertRule").objects.create(
        organization=organization,
        name="Margin",
        metric="gross_margin_pct",
        threshold="40",
        crontab=crontab,
        recipients=["founder@example.com"],
    )
    mail = _outbox(
        apps.get_model("planner", "AlertOutbox"),
        organization=organization,
        rule=rule,
        recipient="founder@example.com",
        message_id="<m1@x>",
    )

    apps = _apps(AFTER)
    Outbox = apps.get_model("planner", "AlertOutbox")
    assert Outbox.objects.get(pk=mail.pk).channel_id is None
    Channel = apps.get_model("planner", "AlertChannel")
    hook = Channel.objects.create(
        organization_id=organization.pk,
        name="Hook",
        kind="webhook",
        url="https://h.example.com/",
        secret_seed="s",
    )
    slack = Channel.objects.create(
        organization_id=organization.pk, name="Slack", kind="slack", url="https://hooks.slack.com/services/x"
    )
    for number, channel in enumerate((hook, slack)):
        _outbox(
            Outbox, organization_id=organization.pk, rule_id=rule.pk, channel=channel, message_id=f"d{number}"
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # (rule, window, channel) is unique
        _outbox(Outbox, organization_id=organization.pk, rule_id=rule.pk, channel=hook, message_id="d9")
    with pytest.raises(IntegrityError), transaction.atomic():  # (rule, window, recipient) still is
        _outbox(
            Outbox,
            organization_id=organization.pk,
            rule_id=rule.pk,
            recipient="founder@example.com",
            message_id="<m2@x>",
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # one target: a recipient or a channel
        _outbox(
            Outbox,
            organization_id=organization.pk,
            rule_id=rule.pk,
            recipient="cfo@example.com",
            channel=hook,
            message_id="d8",
        )
    assert Outbox.objects.count() == 3

    apps = _apps(BEFORE)
    Outbox = apps.get_model("planner", "AlertOutbox")
    assert list(Outbox.objects.values_list("pk", "recipient", "message_id")) == [
        (mail.pk, "founder@example.com", "<m1@x>")
    ]
