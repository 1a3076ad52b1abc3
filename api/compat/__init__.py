"""Drop-in endpoints for billing vendors' SDKs, mounted at ``/compat/<vendor>/`` by
``planner.urls`` (``api.compat.urls``). Each vendor module parses its wire format into
``planner.actuals.compat.ingest.VendorEvent`` values, calls ``compat_ingest`` and answers in the
vendor's success and error shapes (docs/INTEGRATIONS.md)."""
