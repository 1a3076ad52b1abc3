"""Shared building blocks of the planner's domains: the abstract base model, field and constraint
helpers with their bounds (``models``), validators (``validators``), the generic ``model_update``
helper (``services``) and enqueueing tasks by name (``enqueue``).

Owns no table. May import: Django, Celery's app, ``pricing``. Imports no other planner package.
"""
