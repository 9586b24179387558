"""Make an existing CA (certificate and private key) the operator's active station CA, or with ``--v2g`` the CPO
Sub-CA that signs ISO 15118 SECC certificates."""

import os

from django.core.management.base import BaseCommand, CommandError

from pki import services
from pki.models import CertificateAuthority

KEY_PASSPHRASE_VARIABLE = "PKI_IMPORT_KEY_PASSPHRASE"


class Command(BaseCommand):
    help = (
        "Import a CA certificate and its private key (PEM files). An encrypted key's passphrase is read from the "
        f"environment variable {KEY_PASSPHRASE_VARIABLE}, never from the command line. The key is stored "
        "encrypted with CMS_PKI_KEY_PASSPHRASE. With --v2g it becomes the CA that signs stations' ISO 15118 SECC "
        "(V2G) certificates: the CPO Sub-CA 2 of the V2G PKI, its certificate file followed by Sub-CA 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("certificate", help="PEM file of the CA certificate (then the CAs above it, if any).")
        parser.add_argument("key", help="PEM file of its private key.")
        parser.add_argument("--v2g", action="store_true", help="The CPO Sub-CA for SECC (V2G) certificates.")

    def handle(self, *args, certificate, key, v2g, **options):
        passphrase = os.environ.get(KEY_PASSPHRASE_VARIABLE)
        try:
            with open(certificate) as certificate_file, open(key) as key_file:
                authority = services.authority_import(
                    certificate_pem=certificate_file.read(),
                    key_pem=key_file.read(),
                    key_passphrase=passphrase.encode() if passphrase else None,
                    purpose=CertificateAuthority.Purpose.V2G if v2g else CertificateAuthority.Purpose.STATION,
                )
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Active {authority.get_purpose_display()}: {authority.name} (valid until {authority.not_after:%Y-%m-%d})"
        )
