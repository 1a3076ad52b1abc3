"""Margin Planner: project configuration and the core domain app."""

from planner.celery import app as celery_app

__all__ = ["celery_app"]
