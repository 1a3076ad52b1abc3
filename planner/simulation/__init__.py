"""Simulation: scenarios, runs and their blocks; the snapshot of a scenario's inputs, THE adapter
from stored data to engine types (``adapter``), run execution on Celery (``runs``, ``tasks``), the
scenario document, and the results read by the web, the API and the CLI.

Owns ``Scenario``, ``SimulationRun``, ``RunBlock``. May import: ``planner.core``,
``planner.accounts``, ``planner.prices``, ``planner.products``, ``planner.engine``, ``pricing``.
"""
