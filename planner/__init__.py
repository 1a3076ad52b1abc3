"""Margin Planner: project configuration and the core domain app.

The Celery app is loaded by ``PlannerConfig.ready`` rather than imported here, so that
importing ``planner.engine`` (pure numpy) never pulls in Celery or Django.
"""
