"""Margin alerts (docs/ALERTS.md): rules, the sweep, measuring, the outbox and its delivery.

Contracts:

- **Schedules.** Each rule owns a django-celery-beat ``CrontabSchedule`` in the organisation's
  time zone (a preset: daily 08:00, weekly Monday 08:00, monthly the 28th 08:00, or a cron
  expression). One periodic sweep (``alerts_evaluate_due``) evaluates every enabled rule whose
  latest schedule tick is later than the tick it last evaluated (``AlertRule.last_tick_at``).
- **Windows.** A tick belongs to a window named in the organisation's time zone: the day
  (``2026-11-26``), the ISO week (``2026-W48``), the month (``2026-11``) or, for cron rules, the
  tick itself (``2026-11-26T08:00``). Actual usage is measured for the calendar month of the tick.
- **Outbox first.** A breach writes one ``AlertOutbox`` row per (rule, window, recipient), or per
  (organisation, window, recipient) for digest rules, with INSERT ... ON CONFLICT DO NOTHING, in
  the transaction that records the evaluation, before anything is sent. Re-evaluating a window
  (a duplicate beat tick, a task retry, two schedulers) finds the rows there and adds none.
- **Delivery** (``outbox_deliver``) is at least once: a row is claimed (its next attempt moved
  past a lease, so concurrent deliverers skip it), sent with its stored Message-ID, then marked
  sent. An error before the server's ``250`` leaves it ``retrying`` with exponential backoff, so a
  connection lost after the data may deliver the same Message-ID twice; after
  ``ALERTS_MAX_ATTEMPTS`` attempts it is ``failed``, with the error kept. Nothing is deleted.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from celery.schedules import crontab as celery_crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from planner.models import (
    MAX_ALERT_RECIPIENTS,
    AlertOutbox,
    AlertRule,
    Organization,
    Scenario,
    SimulationRun,
    Tier,
)
from planner.selectors_usage import CustomerMargin, customer_margins_for_period

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
RULE_FIELDS = frozenset(
    {
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
        "digest",
        "enabled",
    }
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


def _validate_rule(rule: AlertRule, *, cron: str) -> tuple[str, str, str, str, str] | None:
    """Field-level checks of a rule; returns the crontab fields to store."""
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
        elif rule.scenario is not None and rule.tier.product_id != rule.scenario.product_id:
            add("tier", "Choose a tier of the scenario's product.")
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
    recipients = rule.recipients
    if not isinstance(recipients, list) or not recipients:
        add("recipients", "Give at least one email address.")
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


@transaction.atomic
def alert_rule_create(
    *,
    organization: Organization,
    name: str,
    metric: str,
    threshold: Decimal,
    recipients: list[str],
    scope: str = AlertRule.Scope.ACTUAL,
    scenario: Scenario | None = None,
    tier: Tier | None = None,
    comparator: str = AlertRule.Comparator.LT,
    schedule: str = Schedule.DAILY,
    cron: str = "",
    digest: bool = False,
    enabled: bool = True,
) -> AlertRule:
    """Create a rule and its schedule; a ValidationError names each field at fault."""
    rule = AlertRule(
        organization=organization,
        name=name.strip() if isinstance(name, str) else name,
        metric=metric,
        threshold=threshold,
        recipients=_clean_recipients(recipients),
        scope=scope,
        scenario=scenario,
        tier=tier,
        comparator=comparator,
        schedule=schedule,
        digest=digest,
        enabled=enabled,
    )
    fields = _validate_rule(rule, cron=cron)
    assert fields is not None
    rule.crontab = _crontab_set(None, fields, organization.time_zone)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, data: dict[str, Any]) -> AlertRule:
    """Change some fields of a rule (keys of ``RULE_FIELDS``); its schedule follows ``schedule``
    and ``cron``. Changing the schedule does not re-send a window already evaluated."""
    unknown = set(data) - RULE_FIELDS
    if unknown:
        raise ValidationError({key: "Unknown field." for key in sorted(unknown)})
    cron = data.get("cron", cron_expression(rule.crontab))
    for key, value in data.items():
        if key == "cron":
            continue
        if key == "name" and isinstance(value, str):
            value = value.strip()
        if key == "recipients":
            value = _clean_recipients(value)
        setattr(rule, key, value)
    if data.get("scope") == AlertRule.Scope.ACTUAL and "scenario" not in data:
        rule.scenario = None
    fields = _validate_rule(rule, cron=cron)
    assert fields is not None
    rule.crontab = _crontab_set(rule.crontab, fields, str(rule.crontab.timezone))
    rule.save()
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule) -> None:
    """Delete a rule, its outbox rows and its schedule (unless a periodic task uses it too)."""
    crontab = rule.crontab
    rule.delete()
    if not PeriodicTask.objects.filter(crontab=crontab).exists():
        crontab.delete()


# --- Schedules and windows ------------------------------------------------------------------


def schedule_previous_tick(*, crontab: CrontabSchedule, now: datetime) -> datetime | None:
    """The latest tick of ``crontab`` at or before ``now`` (aware, in the crontab's zone), or
    None when it has none in the last four years. Day-of-month and day-of-week must both match,
    as in Celery's crontab. Searched day by day backwards, so a missed day costs one step."""
    spec = celery_crontab(
        minute=crontab.minute,
        hour=crontab.hour,
        day_of_week=crontab.day_of_week,
        day_of_month=crontab.day_of_month,
        month_of_year=crontab.month_of_year,
    )
    zone = ZoneInfo(str(crontab.timezone))
    local = now.astimezone(zone)
    times = sorted((hour, minute) for hour in spec.hour for minute in spec.minute)
    day = local.date()
    for _ in range(MAX_LOOKBACK_DAYS):
        if (
            day.month in spec.month_of_year
            and day.day in spec.day_of_month
            and day.isoweekday() % 7 in spec.day_of_week
        ):
            candidates = times
            if day == local.date():
                candidates = [t for t in times if t <= (local.hour, local.minute)]
            if candidates:
                hour, minute = candidates[-1]
                return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        day -= timedelta(days=1)
    return None


def window_key(*, schedule: str, tick: datetime, time_zone: str) -> str:
    """The window of ``tick`` in the organisation's time zone (module docstring)."""
    local = tick.astimezone(ZoneInfo(time_zone))
    if schedule == Schedule.DAILY:
        return local.date().isoformat()
    if schedule == Schedule.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if schedule == Schedule.MONTHLY:
        return f"{local:%Y-%m}"
    return f"{local:%Y-%m-%dT%H:%M}"


# --- Measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One evaluation of a rule: the figure (None without data), whether it breaches, and the
    document stored in the outbox row and in ``AlertRule.last_measurement``."""

    rule: AlertRule
    window: str
    tick: datetime
    value: Decimal | None
    breached: bool
    subject: str
    figures: dict[str, Any]
    customers: list[dict[str, str]] = field(default_factory=list)


def _figure(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(FIGURE)


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _format(metric: str, value: Decimal, currency: str) -> str:
    if metric in PERCENT_METRICS:
        return f"{value:.1f}%"
    return _money(value, currency)


def _nearest_rank(values: Sequence[Decimal], q: float) -> Decimal:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * int(q * 100) // 100))
    return ordered[rank - 1]


def _measure_actual(rule: AlertRule, period: date) -> tuple[Decimal | None, str, list[CustomerMargin]]:
    """(value, note, the customers to list) over the customers of the month (``rule.tier`` only
    when set). Free customers count for the gross margin and COGS, not as underwater."""
    rows = customer_margins_for_period(organization=rule.organization, period=period, tier=rule.tier_id)
    if not rows:
        return None, "No usage recorded in this period.", []
    paying = [r for r in rows if r.paying]
    underwater = [r for r in paying if r.underwater]
    metric = rule.metric
    if metric == Metric.GROSS_MARGIN_PCT:
        revenue = sum((r.revenue for r in rows), Decimal(0))
        if revenue <= 0:
            return None, "No revenue in this period.", underwater
        margin = sum((r.margin for r in rows), Decimal(0))
        return _figure(margin / revenue * 100), "", underwater
    if metric == Metric.COGS_P95:
        return _figure(_nearest_rank([r.cogs for r in rows], 0.95)), "", underwater
    if not paying:
        return None, "No paying customers in this period.", []
    if metric == Metric.UNDERWATER_SHARE:
        return _figure(Decimal(len(underwater) * 100) / len(paying)), "", underwater
    if metric == Metric.UNDERWATER_LOSS:
        return _figure(-sum((r.margin for r in underwater), Decimal(0))), "", underwater
    threshold_fn = COMPARATORS[rule.comparator][0]
    lowest = min(paying, key=lambda r: r.margin)
    listed = [r for r in paying if threshold_fn(r.margin, rule.threshold)]
    return _figure(lowest.margin), "", listed


def _latest_run(scenario: Scenario) -> SimulationRun | None:
    return (
        SimulationRun.objects.filter(scenario=scenario, status=SimulationRun.Status.SUCCEEDED)
        .exclude(results__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )


def _measure_run(rule: AlertRule, run: SimulationRun) -> tuple[Decimal | None, str]:
    results: dict[str, Any] = run.results or {}
    tiers: list[dict[str, Any]] = results.get("tiers", [])
    metric = rule.metric
    if rule.tier is not None:
        snapshot_tiers = (run.snapshot or {}).get("tiers", [])
        index = next(
            (i for i, t in enumerate(snapshot_tiers) if t.get("id") == rule.tier_id),
            next((i for i, t in enumerate(tiers) if t.get("key") == rule.tier.name), None),
        )
        if index is None or index >= len(tiers):
            return None, f"The latest run (#{run.pk}) has no tier {rule.tier.name!r}."
        tier = tiers[index]
        value = {
            Metric.GROSS_MARGIN_PCT: lambda: tier["gross_margin_pct"]["value"],
            Metric.UNDERWATER_SHARE: lambda: tier["underwater"]["share"] * 100,
            Metric.UNDERWATER_LOSS: lambda: tier["underwater"]["monthly_loss"]["value"],
            Metric.COGS_P95: lambda: tier["cogs_per_user"]["p95"]["value"],
        }[Metric(metric)]()
        return _figure(value), ""
    total: dict[str, Any] = results.get("total", {})
    if metric == Metric.COGS_P95:
        if not tiers:
            return None, "The latest run has no tiers."
        return _figure(max(t["cogs_per_user"]["p95"]["value"] for t in tiers)), "Highest p95 of any tier."
    value = {
        Metric.GROSS_MARGIN_PCT: lambda: total["gross_margin_pct"],
        Metric.UNDERWATER_SHARE: lambda: total["underwater_paying"]["share"] * 100,
        Metric.UNDERWATER_LOSS: lambda: total["underwater_paying"]["monthly_loss"],
    }[Metric(metric)]()
    return _figure(value), ""


def _subject(rule: AlertRule, value: Decimal, where: str, count: int) -> str:
    currency = rule.organization.currency
    label = f"{rule.tier.name} tier" if rule.tier is not None else "All tiers"
    who = "users" if rule.scope == AlertRule.Scope.SCENARIO else "customers"
    shown = _format(rule.metric, value, currency)
    if rule.metric == Metric.UNDERWATER_SHARE:
        return f"{label}: {shown} of {who} underwater {where}"
    if rule.metric == Metric.GROSS_MARGIN_PCT:
        return f"{label}: gross margin {shown} {where}"
    if rule.metric == Metric.UNDERWATER_LOSS:
        return f"{label}: {shown} a month lost on underwater {who} {where}"
    if rule.metric == Metric.CUSTOMER_MARGIN:
        phrase = COMPARATORS[rule.comparator][2]
        threshold = _money(rule.threshold, currency)
        return f"{label}: {count} customer(s) with a margin {phrase} {threshold} {where} (lowest {shown})"
    return f"{label}: COGS per user p95 {shown} {where}"


def alert_measure(*, rule: AlertRule, tick: datetime) -> Measurement:
    """Measure ``rule`` for the window of ``tick``: actual usage of the tick's month in the
    organisation's time zone, or the scenario's latest succeeded run. No data is no breach."""
    organization = rule.organization
    zone = ZoneInfo(organization.time_zone)
    window = window_key(schedule=rule.schedule, tick=tick, time_zone=organization.time_zone)
    listed: list[CustomerMargin] = []
    run_id = None
    if rule.scope == AlertRule.Scope.SCENARIO:
        assert rule.scenario is not None
        run = _latest_run(rule.scenario)
        if run is None:
            value, note = None, "The scenario has no succeeded run yet."
        else:
            run_id = run.pk
            value, note = _measure_run(rule, run)
        where = f"in scenario {rule.scenario.name}" + (f" (run #{run_id})" if run_id else "")
        period = None
    else:
        period = tick.astimezone(zone).date().replace(day=1)
        value, note, listed = _measure_actual(rule, period)
        where = f"in {period:%B}"
    compare, symbol, _ = COMPARATORS[rule.comparator]
    breached = value is not None and compare(value, rule.threshold)
    customers = [
        {
            "customer": r.external_id,
            "tier": r.tier_name,
            "revenue": str(r.revenue),
            "cogs": str(r.cogs),
            "margin": str(r.margin),
        }
        for r in sorted(listed, key=lambda r: (r.margin, r.customer_id))[:TOP_CUSTOMERS]
    ]
    unit = "%" if rule.metric in PERCENT_METRICS else organization.currency
    subject = _subject(rule, value, where, len(listed)) if value is not None else f"{rule.name}: no data"
    figures: dict[str, Any] = {
        "rule": rule.pk,
        "rule_name": rule.name,
        "metric": rule.metric,
        "metric_label": Metric(rule.metric).label,
        "scope": rule.scope,
        "tier": rule.tier.name if rule.tier is not None else None,
        "window": window,
        "period": f"{period:%Y-%m}" if period else None,
        "scenario": rule.scenario.name if rule.scenario is not None else None,
        "run": run_id,
        "value": None if value is None else str(value),
        "value_display": None if value is None else _format(rule.metric, value, organization.currency),
        "unit": unit,
        "comparator": symbol,
        "threshold": str(rule.threshold),
        "threshold_display": _format(rule.metric, rule.threshold, organization.currency),
        "breached": breached,
        "note": note,
        "subject": subject,
        "customers_listed": len(listed),
        "top_customers": customers,
    }
    return Measurement(
        rule=rule,
        window=window,
        tick=tick,
        value=value,
        breached=breached,
        subject=subject,
        figures=figures,
        customers=customers,
    )


# --- Mail -----------------------------------------------------------------------------------


def _site_link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _message_id(*, organization_id: int, identity: str) -> str:
    """A new Message-ID carrying the row's identity (organisation, rule or digest, window)."""
    domain = urlsplit(settings.SITE_URL).hostname or "margin-planner.localhost"
    return make_msgid(
        idstring=re.sub(r"[^A-Za-z0-9.-]", "-", f"alert.{organization_id}.{identity}"), domain=domain
    )


def _render(
    *, organization: Organization, subject: str, items: list[Measurement], digest: bool, test: bool
) -> tuple[str, str]:
    context = {
        "organization": organization,
        "subject": subject,
        "digest": digest,
        "test": test,
        "items": [
            {
                "figures": m.figures,
                "link": _site_link(reverse("alerts:rule_history", args=[m.rule.pk])),
            }
            for m in items
        ],
        "alerts_link": _site_link(reverse("alerts:rule_list")),
    }
    return (
        render_to_string("alerts/email.txt", context),
        render_to_string("alerts/email.html", context),
    )


def _digest_subject(organization: Organization, items: list[Measurement]) -> str:
    first = items[0].subject
    if len(items) == 1:
        return first
    return f"{organization.name}: {len(items)} margin alerts ({items[0].window}): {first}; ..."


def _row(
    *,
    organization: Organization,
    kind: str,
    rule: AlertRule | None,
    window: str,
    recipient: str,
    items: list[Measurement],
    now: datetime,
) -> AlertOutbox:
    if kind == AlertOutbox.Kind.DIGEST:
        subject = _digest_subject(organization, items)
    elif kind == AlertOutbox.Kind.TEST:
        subject = f"[Test] {items[0].subject}"
    else:
        subject = items[0].subject
    subject = subject[:255]
    text, html = _render(
        organization=organization,
        subject=subject,
        items=items,
        digest=kind == AlertOutbox.Kind.DIGEST,
        test=kind == AlertOutbox.Kind.TEST,
    )
    identity = f"{rule.pk if rule else 'digest'}.{window}"
    row = AlertOutbox(
        organization=organization,
        rule=rule,
        kind=kind,
        window=window,
        recipient=recipient,
        next_attempt_at=now,
        message_id=_message_id(organization_id=organization.pk, identity=identity),
        subject=subject,
        text=text,
        html=html,
        measured={"items": [m.figures for m in items]},
    )
    row._carried_rules = [m.rule.pk for m in items]  # type: ignore[attr-defined]
    return row


def _insert(rows: list[AlertOutbox]) -> list[AlertOutbox]:
    """INSERT ... ON CONFLICT DO NOTHING; returns the rows actually inserted (found by their
    fresh Message-IDs) with their ``rules`` linked."""
    if not rows:
        return []
    AlertOutbox.objects.bulk_create(rows, ignore_conflicts=True)
    carried = {r.message_id: r._carried_rules for r in rows}  # type: ignore[attr-defined]
    inserted = list(AlertOutbox.objects.filter(message_id__in=list(carried)))
    Through = AlertOutbox.rules.through
    Through.objects.bulk_create(
        [
            Through(alertoutbox_id=row.pk, alertrule_id=rule_id)
            for row in inserted
            for rule_id in carried[row.message_id]
        ],
        ignore_conflicts=True,
    )
    return inserted


def _outbox_write(*, organization: Organization, breaches: list[Measurement], now: datetime) -> int:
    """Outbox rows for ``breaches`` (one organisation), ON CONFLICT DO NOTHING. Digest rules'
    breaches share one row per (window, recipient); a breach missing from a digest row written
    earlier for the same window (a rule evaluated in a later sweep) gets its own alert row.
    Returns the number of rows inserted."""
    rows: list[AlertOutbox] = []
    digests: dict[tuple[str, str], list[Measurement]] = {}
    for breach in breaches:
        for recipient in breach.rule.recipients:
            if breach.rule.digest:
                digests.setdefault((breach.window, recipient), []).append(breach)
            else:
                rows.append(
                    _row(
                        organization=organization,
                        kind=AlertOutbox.Kind.ALERT,
                        rule=breach.rule,
                        window=breach.window,
                        recipient=recipient,
                        items=[breach],
                        now=now,
                    )
                )
    digest_rows = [
        _row(
            organization=organization,
            kind=AlertOutbox.Kind.DIGEST,
            rule=None,
            window=window,
            recipient=recipient,
            items=items,
            now=now,
        )
        for (window, recipient), items in digests.items()
    ]
    inserted = _insert(rows + digest_rows)
    won = {row.message_id for row in inserted}
    late: list[AlertOutbox] = []
    for candidate in digest_rows:
        if candidate.message_id in won:
            continue
        existing = AlertOutbox.objects.get(
            organization=organization,
            rule__isnull=True,
            window=candidate.window,
            recipient=candidate.recipient,
        )
        carried = set(existing.rules.values_list("pk", flat=True))
        for item in digests[(candidate.window, candidate.recipient)]:
            if item.rule.pk not in carried:
                late.append(
                    _row(
                        organization=organization,
                        kind=AlertOutbox.Kind.ALERT,
                        rule=item.rule,
                        window=item.window,
                        recipient=candidate.recipient,
                        items=[item],
                        now=now,
                    )
                )
    created = len(inserted) + len(_insert(late))
    if created and settings.ALERTS_DELIVER_ON_COMMIT:
        transaction.on_commit(_enqueue_delivery)
    return created


def _enqueue_delivery() -> None:
    from planner.tasks import alerts_deliver_task

    try:
        alerts_deliver_task.apply_async()
    except Exception:  # the periodic delivery picks the rows up anyway
        logger.warning("Could not enqueue alert delivery; the periodic task will send.", exc_info=True)


# --- Evaluating -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    evaluated: int
    breaches: int
    rows_created: int


def _evaluate(
    *, organization: Organization, due: list[tuple[AlertRule, datetime]], now: datetime
) -> SweepResult:
    measurements = [alert_measure(rule=rule, tick=tick) for rule, tick in due]
    breaches = [m for m in measurements if m.breached]
    with transaction.atomic():
        created = _outbox_write(organization=organization, breaches=breaches, now=now)
        for m in measurements:
            m.rule.last_measurement = {**m.figures, "evaluated_at": now.isoformat()}
            # Never move the tick backwards (two schedulers may finish out of order).
            AlertRule.objects.filter(pk=m.rule.pk).filter(
                Q(last_tick_at__isnull=True) | Q(last_tick_at__lt=m.tick)
            ).update(last_tick_at=m.tick)
            AlertRule.objects.filter(pk=m.rule.pk).update(
                last_evaluated_at=now, last_measurement=m.rule.last_measurement
            )
    return SweepResult(evaluated=len(measurements), breaches=len(breaches), rows_created=created)


def _rules() -> Any:
    return AlertRule.objects.select_related(
        "organization", "crontab", "scenario", "scenario__product", "tier", "tier__product"
    )


def alert_evaluate(*, rule: AlertRule, now: datetime) -> SweepResult:
    """Evaluate one rule for the window of its latest tick at or before ``now`` (``now`` itself
    when its schedule never fired): outbox rows on a breach, none if that window has them."""
    rule = _rules().get(pk=rule.pk)
    tick = schedule_previous_tick(crontab=rule.crontab, now=now) or now
    return _evaluate(organization=rule.organization, due=[(rule, tick)], now=now)


def alerts_evaluate_due(*, now: datetime) -> SweepResult:
    """The sweep: evaluate every enabled rule with a schedule tick after its last evaluated one
    (after its creation, for a new rule), one organisation at a time. Missed ticks are not
    replayed: a rule is evaluated once, for its latest window."""
    due: dict[int, list[tuple[AlertRule, datetime]]] = {}
    organizations: dict[int, Organization] = {}
    for rule in _rules().filter(enabled=True).order_by("organization_id", "pk"):
        tick = schedule_previous_tick(crontab=rule.crontab, now=now)
        if tick is None or tick <= (rule.last_tick_at or rule.created_at):
            continue
        organizations[rule.organization_id] = rule.organization
        due.setdefault(rule.organization_id, []).append((rule, tick))
    totals = SweepResult(0, 0, 0)
    for organization_id, items in due.items():
        try:
            result = _evaluate(organization=organizations[organization_id], due=items, now=now)
        except Exception:  # one organisation's bad data must not stop the others
            logger.exception("Alert sweep failed for organisation %s", organization_id)
            continue
        totals = SweepResult(
            totals.evaluated + result.evaluated,
            totals.breaches + result.breaches,
            totals.rows_created + result.rows_created,
        )
    return totals


def alert_send_test(*, rule: AlertRule, now: datetime) -> list[AlertOutbox]:
    """ "Send a test alert now": measure the rule for the current window and queue a ``test``
    mail to each recipient, breach or not. Does not count as the window's evaluation."""
    rule = _rules().get(pk=rule.pk)
    measurement = alert_measure(rule=rule, tick=now)
    window = f"test-{now.astimezone(ZoneInfo(rule.organization.time_zone)):%Y-%m-%dT%H:%M:%S.%f}"
    rows = [
        _row(
            organization=rule.organization,
            kind=AlertOutbox.Kind.TEST,
            rule=rule,
            window=window,
            recipient=recipient,
            items=[measurement],
            now=now,
        )
        for recipient in rule.recipients
    ]
    with transaction.atomic():
        inserted = _insert(rows)
        if settings.ALERTS_DELIVER_ON_COMMIT:
            transaction.on_commit(_enqueue_delivery)
    return inserted


# --- Delivery -------------------------------------------------------------------------------


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0


def outbox_backoff(*, attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: base x 2^(attempts-1),
    capped at ``ALERTS_RETRY_MAX_SECONDS``."""
    seconds = settings.ALERTS_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.ALERTS_RETRY_MAX_SECONDS))


def _email(row: AlertOutbox, connection: Any) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.recipient],
        headers={"Message-ID": row.message_id},
        connection=connection,
    )
    message.attach_alternative(row.html, "text/html")
    return message


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # the connection is broken already; the next send reopens one
        logger.debug("Closing a broken SMTP connection failed", exc_info=True)


def outbox_deliver(*, now: datetime, limit: int = 500, rows: Iterable[int] | None = None) -> DeliveryResult:
    """Send pending and retrying rows whose next attempt has come (``rows``: only these ids),
    oldest first, through one SMTP connection (reopened after an error). See the module
    docstring for the at-least-once contract."""
    due = AlertOutbox.objects.filter(
        status__in=[AlertOutbox.Status.PENDING, AlertOutbox.Status.RETRYING], next_attempt_at__lte=now
    )
    if rows is not None:
        due = due.filter(pk__in=list(rows))
    candidates = list(due.order_by("next_attempt_at", "id").values_list("pk", "next_attempt_at")[:limit])
    result = DeliveryResult()
    if not candidates:
        return result
    lease = now + timedelta(seconds=settings.ALERTS_SEND_LEASE_SECONDS)
    connection = get_connection(fail_silently=False)
    opened = False
    try:
        for pk, next_attempt_at in candidates:
            # Claim: only the deliverer that moves next_attempt_at sends this attempt.
            claimed = AlertOutbox.objects.filter(
                pk=pk,
                next_attempt_at=next_attempt_at,
                status__in=[AlertOutbox.Status.PENDING, AlertOutbox.Status.RETRYING],
            ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
            if not claimed:
                result.skipped += 1
                continue
            row = AlertOutbox.objects.get(pk=pk)
            try:
                if not opened:
                    connection.open()
                    opened = True
                _email(row, connection).send()
            except Exception as error:  # any failure must end in retrying/failed, never a lost row
                _close_quietly(connection)
                opened = False
                message = f"{type(error).__name__}: {error}"[:2000]
                if row.attempts >= settings.ALERTS_MAX_ATTEMPTS:
                    AlertOutbox.objects.filter(pk=pk).update(
                        status=AlertOutbox.Status.FAILED, last_error=message
                    )
                    result.failed += 1
                    logger.error(
                        "Alert mail %s to organisation %s failed for good after %s attempts: %s",
                        pk,
                        row.organization_id,
                        row.attempts,
                        message,
                    )
                else:
                    AlertOutbox.objects.filter(pk=pk).update(
                        status=AlertOutbox.Status.RETRYING,
                        next_attempt_at=now + outbox_backoff(attempts=row.attempts),
                        last_error=message,
                    )
                    result.retrying += 1
                continue
            AlertOutbox.objects.filter(pk=pk).update(
                status=AlertOutbox.Status.SENT, sent_at=now, last_error=""
            )
            result.sent += 1
    finally:
        if opened:
            _close_quietly(connection)
    return result


def outbox_retry(*, rows: Iterable[AlertOutbox], now: datetime) -> int:
    """Put failed (or waiting) rows back in line for an attempt at ``now`` (admin action)."""
    return AlertOutbox.objects.filter(
        pk__in=[r.pk for r in rows], status__in=[AlertOutbox.Status.FAILED, AlertOutbox.Status.RETRYING]
    ).update(status=AlertOutbox.Status.RETRYING, next_attempt_at=now)
