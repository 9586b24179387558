"""Rebuild the analytics rollups for a range of days, e.g. after importing history or changing a station's site."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analytics.rollups import rebuild_days


class Command(BaseCommand):
    help = "Recompute the analytics rollups (per connector-day, per hour, faults) for the days given."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=date.fromisoformat, help="First day (default: 30 days ago).")
        parser.add_argument("--to", dest="end", type=date.fromisoformat, help="Last day (default: today).")

    def handle(self, *args, start=None, end=None, **options):
        today = timezone.localdate()
        end = end or today
        start = start or end - timedelta(days=29)
        if end < start:
            raise CommandError("--to is before --from.")
        started = timezone.now()
        rebuild_days(d0=start, d1=end)
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(f"Rebuilt {(end - start).days + 1} days ({start} to {end}) in {seconds:.1f} s.")
