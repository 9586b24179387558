"""The four staff roles as groups with their model permissions, and the local list version counter's row.

Permissions are normally created after all migrations (post_migrate); they are created here first so the
groups get them on a fresh database. Models added later are granted by accounts.apps on each migrate.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    from accounts.role_permissions import roles_sync

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    roles_sync(apps=apps, using=schema_editor.connection.alias)


def create_list_version(apps, schema_editor):
    LocalListVersion = apps.get_model("accounts", "LocalListVersion")
    LocalListVersion.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_id_token_allow_lists_history_list_version'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_list_version, migrations.RunPython.noop),
    ]
