"""``manage.py api_token <email>``: issue (or with --revoke, revoke) the API token of an integration user."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_token_issue, api_token_revoke


class Command(BaseCommand):
    help = "Issue a new API token for a user (replacing the old one) and print it, or revoke it."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--revoke", action="store_true", help="Revoke the user's token instead.")

    def handle(self, *args, email, revoke, **options):
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"There is no user with the e-mail address {email}.")
        if revoke:
            if api_token_revoke(user=user):
                self.stdout.write(f"Revoked the API token of {user.email}.")
            else:
                self.stdout.write(f"{user.email} has no API token.")
            return
        self.stdout.write(api_token_issue(user=user).key)
