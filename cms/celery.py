"""The Celery application: billing, diagnostics and periodic jobs run here (beat schedule in settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")

app = Celery("voltgrid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
