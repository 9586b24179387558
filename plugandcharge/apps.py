from django.apps import AppConfig


class PlugAndChargeConfig(AppConfig):
    name = "plugandcharge"
    verbose_name = "Plug & Charge (ISO 15118)"
