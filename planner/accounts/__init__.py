"""Accounts: organisations, their members (roles) and API keys (hashed, shown once).

Owns ``Organization``, ``Membership``, ``ApiKey``. May import: ``planner.core``.
"""
