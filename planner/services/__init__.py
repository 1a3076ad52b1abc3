"""Write-side business logic of the planner (services), one module per area.

Services take keyword-only arguments, validate with ``full_clean`` and raise Django
``ValidationError`` keyed by field name, so the web UI, the API and the CLI report the same
field-level errors.
"""
