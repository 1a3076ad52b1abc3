"""Accounts: organisations, their members (roles), API keys (hashed, shown once), the login
throttling rules (``login_throttling``: per user and IP, and per IP, through django-axes) and
idempotency keys (``idempotency``: a retried job start does its work once).

Owns ``Organization``, ``Membership``, ``ApiKey``, ``IdempotencyKey``. May import: ``planner.core``.
"""
