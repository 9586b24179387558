"""How every app reads its own settings: a Django setting wins, then an environment variable, then the default.

Each app exposes its settings as properties of an ``AppSettings`` object in ``<app>/app_settings.py``
(django-allauth's pattern), so names and defaults are listed in one place per app.
"""

import os

from django.conf import settings


def setting(name: str, default, cast=str):
    if hasattr(settings, name):
        return getattr(settings, name)
    if name in os.environ:
        return cast(os.environ[name])
    return default


def as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def as_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def as_int_list(value: str) -> list[int]:
    return [int(item) for item in as_list(value)]
