"""Web views, one module per page family (dashboard, scenarios, runs, prices, actuals, alerts,
account) and the helpers they share (``common``).
"""
