"""Voltgrid project package: settings, routing (HTTP and WebSocket) and the Celery app."""

from cms.celery import app as celery_app

__all__ = ["celery_app"]
