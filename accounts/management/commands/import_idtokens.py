"""``manage.py import_idtokens file.csv``: issue RFID cards in bulk (the same import as the operator page)."""

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.csv_import import decode_csv
from accounts.services import id_tokens_import


class Command(BaseCommand):
    help = (
        "Create or update ID tokens from a CSV file whose first row names the columns: token, and any of type, "
        "status, expiry, parent, owner, label. All rows are imported, or on any error none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report, change nothing.")

    def handle(self, *args, file, dry_run, **options):
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
            text = decode_csv(data)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from exc
        result = id_tokens_import(text=text, dry_run=dry_run)
        if result.errors:
            for error in result.errors:
                self.stderr.write(error)
            raise CommandError(f"Nothing imported: {len(result.errors)} problem(s) in {file}.")
        summary = f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        self.stdout.write(self.style.SUCCESS(f"Dry run, nothing changed: {summary}" if dry_run else summary))
