"""Serializers of the API, one module per domain: products (``resources``), the scenario
document (``documents``), runs and their typed results (``runs``, ``results``), prices, actual
usage (``actuals``) and alerts. Serializers validate types and shape; the planner services
validate the rules and write."""
