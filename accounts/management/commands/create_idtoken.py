"""``manage.py create_idtoken <token>``: provision an idTag from a script, or update the one that exists."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.csv_import import parse_expiry
from accounts.models import IdToken, IdTokenEvent, normalize_token
from accounts.services import id_token_upsert


class Command(BaseCommand):
    help = "Create an ID token (idTag), or update it if it exists; only the options given are changed."

    def add_arguments(self, parser):
        parser.add_argument("token", help="The idTag / card number (stored upper-case).")
        parser.add_argument("--expiry", help="2027-12-31 (valid through that day, UTC) or an ISO 8601 date and time.")
        parser.add_argument("--blocked", action="store_true", help="Block the token.")
        parser.add_argument("--accepted", action="store_true", help="Accept (unblock) the token.")
        parser.add_argument("--parent", help="The group token (parent idTag); it must exist.")
        parser.add_argument("--owner", help="The e-mail address of the user the token belongs to.")
        parser.add_argument("--type", choices=IdToken.Type.values, help="The token type (default ISO14443).")
        parser.add_argument("--label", help="A free text, e.g. the vehicle.")

    def handle(self, *args, token, expiry, blocked, accepted, parent, owner, type, label, **options):
        if blocked and accepted:
            raise CommandError("--blocked and --accepted contradict each other.")
        data = {}
        if expiry:
            try:
                data["expires_at"] = parse_expiry(expiry)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        if blocked or accepted:
            data["status"] = IdToken.Status.BLOCKED if blocked else IdToken.Status.ACCEPTED
        if parent:
            data["parent"] = IdToken.objects.filter(token=normalize_token(parent)).first()
            if data["parent"] is None:
                raise CommandError(f"There is no ID token {normalize_token(parent)} to be the group; create it first.")
        if owner:
            data["owner"] = get_user_model().objects.filter(email__iexact=owner).first()
            if data["owner"] is None:
                raise CommandError(f"There is no user with the e-mail address {owner}.")
        if type:
            data["type"] = type
        if label is not None:
            data["label"] = label
        try:
            id_token, created = id_token_upsert(token=token, data=data, source=IdTokenEvent.Source.COMMAND)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Created' if created else 'Updated'} ID token {id_token.token}: {id_token.display_status}"
                + (f", expires {id_token.expires_at.isoformat()}" if id_token.expires_at else "")
                + (f", group {id_token.parent.token}" if id_token.parent_id else "")
                + (f", owner {id_token.owner.email}" if id_token.owner_id else "")
            )
        )
