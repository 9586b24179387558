from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Charging stations"

    def ready(self):
        from stations import client_certificates  # noqa: F401 - registers the check of its settings
