"""Accounts: organisations, their members (roles), API keys (hashed, shown once) and the login
throttling rules (``login_throttling``: per user and IP, and per IP, through django-axes).

Owns ``Organization``, ``Membership``, ``ApiKey``. May import: ``planner.core``.
"""
