"""Make an existing CA (certificate and private key) the operator's active CA."""

import os

from django.core.management.base import BaseCommand, CommandError

from pki import services

KEY_PASSPHRASE_VARIABLE = "PKI_IMPORT_KEY_PASSPHRASE"


class Command(BaseCommand):
    help = (
        "Import a CA certificate and its private key (PEM files). An encrypted key's passphrase is read from the "
        f"environment variable {KEY_PASSPHRASE_VARIABLE}, never from the command line. The key is stored "
        "encrypted with CMS_PKI_KEY_PASSPHRASE."
    )

    def add_arguments(self, parser):
        parser.add_argument("certificate", help="PEM file of the CA certificate.")
        parser.add_argument("key", help="PEM file of its private key.")

    def handle(self, *args, certificate, key, **options):
        passphrase = os.environ.get(KEY_PASSPHRASE_VARIABLE)
        try:
            with open(certificate) as certificate_file, open(key) as key_file:
                authority = services.authority_import(
                    certificate_pem=certificate_file.read(),
                    key_pem=key_file.read(),
                    key_passphrase=passphrase.encode() if passphrase else None,
                )
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Active CA: {authority.name} (valid until {authority.not_after:%Y-%m-%d})")
