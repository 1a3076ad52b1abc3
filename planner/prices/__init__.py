"""An organisation's custom prices: price sheets (negotiated discounts, private models) and
self-hosted deployments, and the loader that hands them to ``pricing.resolve`` as plain data.

Owns ``PriceSheet``, ``PriceSheetEntry``, ``SelfHostedDeployment``. The price arithmetic and the one
price resolution live in ``pricing``. May import: ``planner.core``, ``planner.accounts``, ``pricing``.
"""
