"""Measuring a rule's metric over its scope (a scenario's latest run or actual usage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from planner.actuals.selectors import CustomerMargin, customer_margins_for_period
from planner.alerts.models import AlertRule
from planner.alerts.rules import (
    COMPARATORS,
    FIGURE,
    PERCENT_METRICS,
    TOP_CUSTOMERS,
    Metric,
)
from planner.alerts.schedules import window_key
from planner.core.formatting import money, points
from planner.simulation.models import Scenario, SimulationRun

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


def _format(metric: str, value: Decimal, currency: str) -> str:
    """A figure or threshold for people (``planner.core.formatting``): % metrics are stored in
    percent (``points``), money metrics as amounts in the organisation's currency."""
    if metric in PERCENT_METRICS:
        return points(value)
    return money(value, currency)


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
        SimulationRun.objects.simulations()
        .filter(scenario=scenario, status=SimulationRun.Status.SUCCEEDED)
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
        threshold = money(rule.threshold, currency)
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
