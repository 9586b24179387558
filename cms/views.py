"""Project-level views: the health check and the home page."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def _redis_status() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except redis.RedisError as exc:
        return f"error: {exc.__class__.__name__}"


def _demo_network():
    """The demo network when this installation holds one: the home page then says how to log in."""
    from django.apps import apps

    if not apps.is_installed("demo"):
        return None
    from demo.services import demo_network

    return demo_network()


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_status(), "redis": _redis_status()}
    healthy = all(value in ("ok", "not configured") for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


def home(request):
    context = {"demo": _demo_network()}
    if request.user.is_staff:
        from accounts.roles import user_roles
        from cms.overview import operator_overview

        # Staff without a role yet see the frame only, until an operator admin gives them one.
        if user_roles(request.user):
            context["overview"] = operator_overview(request.user)
    return render(request, "cms/home.html", context)
