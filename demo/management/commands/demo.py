"""``manage.py demo``: seed the demo network (an operator, 3 sites, 24 stations, 50 drivers, 90 days of history)."""

from django.core.management.base import BaseCommand, CommandError

from demo.services import DemoAlreadySeeded, demo_seed


class Command(BaseCommand):
    help = (
        "Seed a realistic demo network with 90 days of history and rebuild the analytics; refuses to run on a "
        "database that holds it already. `scripts/run --demo` does this and keeps a simulated fleet charging."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="Days of history (default 90).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed: the same seed, the same history.")

    def handle(self, *args, days, seed, **options):
        if days < 2:
            raise CommandError("--days must be at least 2.")
        try:
            result = demo_seed(days=days, seed=seed)
        except DemoAlreadySeeded as error:
            raise CommandError(str(error)) from error
        counts = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in result.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Seeded the demo network in {result.seconds:.1f} s: {counts}."))
        self.stdout.write(login_lines(result.network))


def login_lines(network) -> str:
    """How to log in to the demo, as printed by this command and by ``runcms --demo``."""
    return (
        f"Log in as the operator: {network.operator_email} / {network.operator_password}\n"
        f"Log in as a driver:     {network.driver_email} / {network.driver_password}"
        " (every demo driver has this password)\n"
        f"Demo stations {network.station_prefix}001..{network.station_prefix}{network.stations:03d}, "
        f"Basic-auth password {network.station_password}"
    )
