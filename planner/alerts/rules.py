"""Alert rules (docs/ALERTS.md): creating, changing and deleting them, and what the alerts
package shares (presets, comparators, percent metrics, the logger).

A rule is checked as a whole before it is saved, and a ``ValidationError`` names each field at
fault. Each rule owns a django-celery-beat ``CrontabSchedule`` in the organisation's time zone:
a preset (daily 08:00, weekly Monday 08:00, monthly the 28th 08:00) or a cron expression.
Changing the schedule does not re-send a window already evaluated; deleting a rule deletes its
outbox rows and its schedule (unless a periodic task uses it too).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab as celery_crontab
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from planner.accounts.models import Organization
from planner.alerts.models import MAX_ALERT_RECIPIENTS, AlertChannel, AlertRule
from planner.core.services import model_update

logger = logging.getLogger(__name__)

Metric = AlertRule.Metric
Schedule = AlertRule.Schedule

#: Preset schedules as (minute, hour, day_of_week, day_of_month, month_of_year), local time.
#: Monthly runs on the 28th, the last day every month has, so the month is nearly complete.
PRESETS: dict[str, tuple[str, str, str, str, str]] = {
    Schedule.DAILY: ("0", "8", "*", "*", "*"),
    Schedule.WEEKLY: ("0", "8", "1", "*", "*"),
    Schedule.MONTHLY: ("0", "8", "*", "28", "*"),
}
#: How far back the sweep looks for a rule's latest tick (covers a 29 February cron).
MAX_LOOKBACK_DAYS = 4 * 366 + 1
PERCENT_METRICS = frozenset({Metric.GROSS_MARGIN_PCT, Metric.UNDERWATER_SHARE})
TOP_CUSTOMERS = 5
FIGURE = Decimal("0.0001")
COMPARATORS: dict[str, tuple[Callable[[Any, Any], bool], str, str]] = {
    AlertRule.Comparator.LT: (operator.lt, "<", "below"),
    AlertRule.Comparator.LTE: (operator.le, "<=", "at or below"),
    AlertRule.Comparator.GT: (operator.gt, ">", "above"),
    AlertRule.Comparator.GTE: (operator.ge, ">=", "at or above"),
}
#: Fields a rule is written with, in display order (the API serializer uses them). ``cron`` is
#: not a column: it sets the rule's crontab when ``schedule`` is "cron"; ``channels`` (a list of
#: the organisation's ``AlertChannel``) is the many-to-many relation, set after the rule is saved.
RULE_FIELDS = (
    "name",
    "scope",
    "scenario",
    "metric",
    "tier",
    "comparator",
    "threshold",
    "schedule",
    "cron",
    "recipients",
    "channels",
    "digest",
    "enabled",
)


# --- Rules ----------------------------------------------------------------------------------


def _cron_fields(*, schedule: str, cron: str) -> tuple[str, str, str, str, str]:
    """The crontab fields of a preset, or of ``cron`` ("minute hour day-of-month month
    day-of-week", as in crontab(5)) for the cron schedule; a ValidationError on ``cron``."""
    if schedule != Schedule.CRON:
        return PRESETS[schedule]
    parts = cron.split()
    if len(parts) != 5:
        raise ValidationError(
            {"cron": "Give five fields: minute hour day-of-month month day-of-week (e.g. '0 8 * * 1')."}
        )
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        celery_crontab(
            minute=minute,
            hour=hour,
            day_of_week=day_of_week,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
        )
    except Exception as error:  # celery raises ValueError and its own ParseException
        raise ValidationError({"cron": f"Not a valid cron expression: {error}"}) from error
    return minute, hour, day_of_week, day_of_month, month_of_year


def cron_expression(crontab: CrontabSchedule) -> str:
    """The schedule as a crontab(5) expression (minute hour day-of-month month day-of-week)."""
    return " ".join(
        [crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week]
    )


def _validate_rule(rule: AlertRule, *, cron: str, channels: object) -> tuple[str, str, str, str, str] | None:
    """Field-level checks of a rule and the channels it is to have; returns the crontab fields
    to store."""
    errors: dict[str, list[str]] = {}

    def add(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    organization = rule.organization
    if not isinstance(rule.name, str) or not rule.name.strip():
        add("name", "Give the rule a name.")
    elif (
        AlertRule.objects.filter(organization=organization, name=rule.name.strip())
        .exclude(pk=rule.pk)
        .exists()
    ):
        add("name", f"An alert rule named {rule.name.strip()!r} exists already.")
    if rule.scope == AlertRule.Scope.SCENARIO:
        if rule.scenario is None:
            add("scenario", "Choose the scenario whose latest run this rule watches.")
        elif rule.scenario.product.organization_id != organization.pk:
            add("scenario", "This scenario does not exist.")
    elif rule.scope == AlertRule.Scope.ACTUAL and rule.scenario is not None:
        add("scenario", "Actual-usage rules watch no scenario; leave it empty.")
    if rule.tier is not None:
        if rule.tier.product.organization_id != organization.pk:
            add("tier", "This tier does not exist.")
        elif rule.scope == AlertRule.Scope.ACTUAL and not rule.tier.is_live:
            add("tier", "Actual usage is on live tiers; this tier belongs to a scenario's plan.")
        elif rule.scenario is not None and rule.tier.scenario_id != rule.scenario.pk:
            add("tier", "Choose a tier of the scenario's own plan.")
    if rule.metric == Metric.CUSTOMER_MARGIN and rule.scope == AlertRule.Scope.SCENARIO:
        add("metric", "A single customer's margin is known for actual usage only.")
    threshold = rule.threshold
    if isinstance(threshold, Decimal) and threshold.is_finite():
        if rule.metric == Metric.UNDERWATER_SHARE and not 0 <= threshold <= 100:
            add("threshold", "A share is a percentage between 0 and 100 (7.5 = 7.5 %).")
        elif rule.metric == Metric.GROSS_MARGIN_PCT and threshold > 100:
            add("threshold", "A gross margin cannot exceed 100 %.")
        elif rule.metric in (Metric.UNDERWATER_LOSS, Metric.COGS_P95) and threshold < 0:
            add("threshold", "This amount cannot be negative.")
    if not isinstance(channels, list) or not all(isinstance(c, AlertChannel) for c in channels):
        add("channels", "Give a list of alert channels.")
        channels = []
    elif any(c.organization_id != organization.pk for c in channels):
        add("channels", "This channel does not exist.")
    elif len({c.pk for c in channels}) != len(channels):
        add("channels", "Each channel may be given once.")
    recipients = rule.recipients
    if not isinstance(recipients, list):
        add("recipients", "Give a list of email addresses.")
    elif not recipients and not channels:
        add("recipients", "Give at least one email address or channel.")
    elif len(recipients) > MAX_ALERT_RECIPIENTS:
        add("recipients", f"At most {MAX_ALERT_RECIPIENTS} recipients.")
    else:
        for position, address in enumerate(recipients):
            try:
                if not isinstance(address, str):
                    raise ValidationError("not a string")
                validate_email(address)
            except ValidationError:
                add("recipients", f"Recipient {position + 1} ({address!r}) is not a valid email address.")
        if not errors.get("recipients") and len({a.lower() for a in recipients}) != len(recipients):
            add("recipients", "Each address may be given once.")
    fields = None
    try:
        if rule.schedule in PRESETS or rule.schedule == Schedule.CRON:
            fields = _cron_fields(schedule=rule.schedule, cron=cron)
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            for message in messages:
                add(key, message)
    try:
        rule.full_clean(exclude=["crontab"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            if key not in errors:
                for message in messages:
                    add(key, message)
    if errors:
        raise ValidationError(errors)
    return fields


def _crontab_set(
    crontab: CrontabSchedule | None, fields: tuple[str, str, str, str, str], time_zone: str
) -> CrontabSchedule:
    minute, hour, day_of_week, day_of_month, month_of_year = fields
    crontab = crontab or CrontabSchedule()
    crontab.minute, crontab.hour = minute, hour
    crontab.day_of_week, crontab.day_of_month, crontab.month_of_year = (
        day_of_week,
        day_of_month,
        month_of_year,
    )
    crontab.timezone = ZoneInfo(time_zone)
    crontab.save()
    return crontab


def _clean_recipients(recipients: object) -> object:
    if isinstance(recipients, list):
        return [r.strip() if isinstance(r, str) else r for r in recipients]
    return recipients


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """Rule values as stored: the name and every recipient without surrounding spaces."""
    stored = dict(values)
    if isinstance(stored.get("name"), str):
        stored["name"] = stored["name"].strip()
    if "recipients" in stored:
        stored["recipients"] = _clean_recipients(stored["recipients"])
    return stored


@transaction.atomic
def alert_rule_create(*, organization: Organization, cron: str = "", **fields: Any) -> AlertRule:
    """Create a rule from ``fields`` (names of ``RULE_FIELDS``; those left out take the model's
    defaults: actual usage, "<", daily, no digest, enabled, no channel; a rule needs recipients,
    channels or both) and its schedule (``schedule``, and
    ``cron`` for a cron schedule). A ValidationError names each field at fault, unknown ones too."""
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    channels = fields.pop("channels", [])
    rule = AlertRule(organization=organization, **_stored(fields))
    schedule_fields = _validate_rule(rule, cron=cron, channels=channels)
    assert schedule_fields is not None
    rule.crontab = _crontab_set(None, schedule_fields, organization.time_zone)
    rule.save()
    rule.channels.set(channels)
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, data: dict[str, Any]) -> AlertRule:
    """Change some fields of a rule (keys of ``RULE_FIELDS``; ``channels`` replaces the list);
    its schedule follows ``schedule`` and ``cron``. Changing the schedule does not re-send a
    window already evaluated."""
    cron = data.get("cron", cron_expression(rule.crontab))
    values = _stored({key: value for key, value in data.items() if key not in ("cron", "channels")})
    channels = data["channels"] if "channels" in data else list(rule.channels.all())
    if data.get("scope") == AlertRule.Scope.ACTUAL and "scenario" not in data:
        values["scenario"] = None
    model_update(
        instance=rule,
        fields=RULE_FIELDS,
        data=values,
        validate=lambda instance: _validate_rule(instance, cron=cron, channels=channels),
        refresh_on_error=False,
        unknown_message="Unknown field.",
    )
    if "channels" in data:
        rule.channels.set(channels)
    # The rule keeps its crontab row; validated above, the schedule's fields are certain now.
    _crontab_set(rule.crontab, _cron_fields(schedule=rule.schedule, cron=cron), str(rule.crontab.timezone))
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule) -> None:
    """Delete a rule, its outbox rows and its schedule (unless a periodic task uses it too)."""
    crontab = rule.crontab
    rule.delete()
    if not PeriodicTask.objects.filter(crontab=crontab).exists():
        crontab.delete()
