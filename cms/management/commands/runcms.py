"""Run the whole system: migrate, collect static files, then the portal, the OCPP endpoint and background jobs.

With a broker configured (``REDIS_URL``) a Celery worker with beat runs beside daphne as a child process;
without one, tasks run in-process and beat runs in a thread of this process (the embedded default).
"""

import os
import secrets
import subprocess
import sys

from celery.beat import EmbeddedService
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cms.celery import app as celery_app


class Command(BaseCommand):
    help = "Set up the database and run the portal, the OCPP endpoint and the background jobs."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start background jobs here.")

    def handle(self, *args, host, port, no_worker, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin()
        self._ensure_invoice_issuer()

        worker = None
        if not no_worker:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                # Beat runs a registered task in this process (eagerly); an unregistered one it would
                # only send to the in-memory broker, where nothing consumes it.
                celery_app.loader.import_default_modules()
                EmbeddedService(celery_app, thread=True).start()
                self.stdout.write("Background jobs: in-process (no broker configured).")
            else:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "cms", "worker", "--beat", "--loglevel", "INFO"]
                )
                self.stdout.write(f"Background jobs: Celery worker with beat (pid {worker.pid}).")

        from stations.consumers import CHARGE_POINT_CLASSES

        self.stdout.write(
            f"Portal:        http://{host}:{port}/\n"
            f"OCPP endpoint: ws://{host}:{port}/ocpp/<station_id>  (subprotocols {', '.join(CHARGE_POINT_CLASSES)})\n"
        )
        from daphne.cli import CommandLineInterface

        try:
            # Stations reconnecting all at once after a restart queue for their handshake; give them time.
            CommandLineInterface().run(
                ["-b", host, "-p", str(port), "--websocket_connect_timeout", "30", "cms.asgi:application"]
            )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)

    def _ensure_invoice_issuer(self):
        """Invoices need an issuer; on first start the operator's name comes from CMS_OPERATOR_NAME."""
        from billing.models import Operator

        if Operator.objects.exists():
            return
        name = os.environ.get("CMS_OPERATOR_NAME", "Voltgrid operator")
        Operator.objects.create(name=name, legal_name=name, is_default=True)
        self.stdout.write(f"Created the default invoice issuer {name!r}; complete its details in the admin.")

    def _ensure_admin(self):
        """On first start, create an operator admin so that someone can log in."""
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        email = os.environ.get("CMS_ADMIN_EMAIL", "admin@localhost")
        password = os.environ.get("CMS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password)
        shown = password if "CMS_ADMIN_PASSWORD" not in os.environ else "(from CMS_ADMIN_PASSWORD)"
        self.stdout.write(self.style.WARNING(f"Created operator admin {email} with password {shown}"))
