"""The REST API under ``/api/v1/`` (DRF layer only): ``views/`` and ``serializers/`` one module per
domain, authentication by API key, tenancy, permissions, throttling, pagination, the schema. No
models and no business rules: views call the domains' services and selectors.

May import the planner's domain packages and ``pricing``; never ``planner.web`` or the engine.
Nothing imports ``api`` (the root URLconf includes ``api.urls`` by name).
"""
