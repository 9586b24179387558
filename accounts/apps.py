from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


def _grant_role_permissions(sender, app_config, using="default", apps=global_apps, **kwargs):
    """After a migrate (or a test flush), grant the staff roles their permissions, new models' included.

    post_migrate is sent once per app, in INSTALLED_APPS order, after that app's permissions are created;
    at the last app every permission exists, so one pass then covers them all. (flush sends no ``apps``.)
    """
    from accounts.role_permissions import roles_sync

    with_models = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if with_models and app_config.label == with_models[-1].label:
        roles_sync(apps=apps, using=using)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self):
        post_migrate.connect(_grant_role_permissions, dispatch_uid="accounts.grant_role_permissions")
