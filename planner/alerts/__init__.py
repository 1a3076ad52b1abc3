"""Margin alerts: rules and schedules, measuring a rule over a scenario's latest run or actual
usage, the outbox written before anything is sent, and delivery (docs/ALERTS.md).

Owns ``AlertRule``, ``AlertOutbox``. May import: ``planner.core``, ``planner.accounts``,
``planner.products``, ``planner.simulation``, ``planner.actuals``.
"""
