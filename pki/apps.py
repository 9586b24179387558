from django.apps import AppConfig


class PkiConfig(AppConfig):
    name = "pki"
    verbose_name = "Certificates (the operator's CA)"

    def ready(self):
        from pki import selectors
        from stations.client_certificates import revocation_check_register

        revocation_check_register(selectors.certificate_revoked)
