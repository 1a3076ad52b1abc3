"""Margin Planner: project configuration (settings, URLs, Celery, WSGI) and one package per
domain: ``core``, ``accounts``, ``prices``, ``products``, ``simulation``, ``actuals``, ``alerts``,
``web``, ``devtools`` and the pure ``engine`` (docs/ARCHITECTURE.md has the map and the rules).

The Celery app is loaded by ``PlannerConfig.ready`` rather than imported here, so that
importing ``planner.engine`` (pure numpy) never pulls in Celery or Django.
"""
