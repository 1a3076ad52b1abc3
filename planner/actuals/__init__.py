"""Actual usage: customers and their tier history, usage ingestion (parse, resolve, price at ingest,
write), repricing after a price change, the customer-month rollup, margins per customer and tier,
and usage distributions fitted to actuals.

Owns ``Customer``, ``CustomerTierPeriod``, ``UsageRecord``, ``CustomerMonth``. May import:
``planner.core``, ``planner.accounts``, ``planner.products``, ``pricing``.
"""
