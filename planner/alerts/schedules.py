"""Alert schedules and windows in the organisation's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from celery.schedules import crontab as celery_crontab
from django_celery_beat.models import CrontabSchedule

from planner.alerts.rules import (
    MAX_LOOKBACK_DAYS,
    Schedule,
)

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
