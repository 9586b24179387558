"""``manage.py create_station <id> --password <pw>``: register a station (or update one with --update) from scripts."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from stations.api.serializers import StationCreateSerializer, StationSerializer
from stations.models import Site, Station


class Command(BaseCommand):
    help = (
        "Register a charging station with its OCPP id and Basic-auth password (the same checks as the API). "
        "An existing id is an error unless --update is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("station_id", help="The OCPP identity the station connects with (/ocpp/<id>).")
        parser.add_argument("--password", help="Its Basic-auth password, 16 to 40 characters (required to register).")
        parser.add_argument("--name", help="A display name.")
        parser.add_argument("--site", help="The site's name; the site is created when missing.")
        parser.add_argument(
            "--status", choices=Station.RegistrationStatus.values, help="Registration status (default Accepted)."
        )
        parser.add_argument(
            "--update", action="store_true", help="Change the given fields of an existing station instead of failing."
        )

    @transaction.atomic
    def handle(self, *args, station_id, password, name, site, status, update, **options):
        data = {"id": station_id}
        if password is not None:
            data["password"] = password
        if name is not None:
            data["name"] = name
        if status is not None:
            data["registration_status"] = status
        if site is not None:
            data["site"] = Site.objects.get_or_create(name=site)[0].name if site else None

        existing = Station.objects.filter(ocpp_id=station_id).first()
        if existing is not None and not update:
            raise CommandError(f"Station {station_id!r} is already registered; pass --update to change it.")
        if existing is None:
            serializer = StationCreateSerializer(data=data)
        else:
            serializer = StationSerializer(existing, data=data, partial=True)
        if not serializer.is_valid():
            raise CommandError(_errors(serializer.errors))
        station = serializer.save()
        verb = "Updated" if existing else "Registered"
        self.stdout.write(self.style.SUCCESS(f"{verb} station {station.ocpp_id}."))


def _errors(errors: dict) -> str:
    names = {"id": "station_id", "registration_status": "status"}
    return "; ".join(f"{names.get(field, field)}: {' '.join(map(str, messages))}" for field, messages in errors.items())
