"""Serializers of the API: resources (``resources``), the scenario document (``documents``),
runs and their typed results (``runs``, ``results``). Serializers validate types and shape;
the planner services validate the rules and write."""
