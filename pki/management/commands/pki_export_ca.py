"""Write the CA certificate where daphne's TLS client verification reads it (security profile 3)."""

from django.core.management.base import BaseCommand

from pki import services
from pki.app_settings import app_settings


class Command(BaseCommand):
    help = (
        "Write the operator's CA certificate (generated on first use), then those of earlier CAs still valid, as PEM "
        "to CMS_OCPP_CLIENT_CA_FILE (or --path): daphne's `mtls:` endpoint or a TLS proxy trusts station "
        "certificates issued by them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", help=f"Where to write (default: {app_settings.CLIENT_CA_FILE}).")

    def handle(self, *args, path=None, **options):
        written = services.ca_export(path=path)
        self.stdout.write(str(written))
