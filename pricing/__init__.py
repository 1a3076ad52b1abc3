"""Prices of AI models: the catalog (genai-prices import, price history), the cost calculator
(scalar and vectorised), custom-price arithmetic (discounts, private models), self-hosted cost,
and THE price resolution (``pricing.resolve``: the price of model M for an organisation at T
under variant V, from plain data the planner loads).

Imports nothing of planner or api (an import-linter contract).
"""
