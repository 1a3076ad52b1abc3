"""Drop-in ingestion for billing vendors' SDKs (OpenMeter, Lago, Stripe, Metronome, Orb).

The HTTP side (``api.compat``) parses each vendor's wire format into ``VendorEvent`` values and
answers in the vendor's shapes; this package translates those events into native usage records
(``events``), resolves each organisation's mapping (``mappings``) and ingests them through the
native path (``ingest``). ``docs/INTEGRATIONS.md`` is the user-facing description.
"""
