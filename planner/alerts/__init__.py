"""Margin alerts: rules and schedules, measuring a rule over a scenario's latest run or actual
usage, channels (Slack, signed webhooks), the outbox written before anything is sent, and
delivery by mail and HTTP (docs/ALERTS.md).

Owns ``AlertRule``, ``AlertChannel``, ``AlertOutbox``. May import: ``planner.core``,
``planner.accounts``, ``planner.products``, ``planner.simulation``, ``planner.actuals``.
"""
