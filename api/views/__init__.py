"""API views, one module per domain: ``products``, ``simulation`` (scenarios and runs), ``prices``,
``actuals`` (usage records, customers, margins), ``alerts``; ``base`` holds the organisation-scoped
viewset mixin.
"""
