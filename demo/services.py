"""Seeding the demo network: a realistic operator with sites, stations, tariffs, drivers and 90 days of history.

``demo_seed`` refuses to run twice (``DemoAlreadySeeded``): the history is generated once, in bulk, and a
second copy beside it would make every figure wrong. Start again from an empty database instead.
"""

import logging
import random
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from datetime import time as day_time
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.models import IdToken, IdTokenEvent
from accounts.roles import Role
from accounts.services import id_token_create
from billing.models import BillingProfile, DriverGroup, Operator, OperatorSite, Tariff, TariffPeriod, WalletEntry
from billing.services import wallet_post
from demo import catalogue
from demo.catalogue import Prices
from demo.history import plan_history, write_history
from demo.models import DemoNetwork
from stations.models import Connector, Site, Station
from stations.services import station_create

logger = logging.getLogger(__name__)

HISTORY_DAYS = 90
# The demo driver starts with at least this much in the wallet, so the phone flow works at once.
DEMO_DRIVER_BALANCE = Decimal("40.00")


class DemoAlreadySeeded(Exception):
    pass


@dataclass(frozen=True)
class DemoSeedResult:
    network: DemoNetwork
    counts: dict[str, int]
    seconds: float


def demo_seed(*, days: int = HISTORY_DAYS, now: datetime | None = None, seed: int = 2026) -> DemoSeedResult:
    """Seed the demo network and rebuild the analytics rollups; raises DemoAlreadySeeded the second time."""
    started = time.monotonic()
    now = (now or timezone.now()).replace(microsecond=0)
    rng = random.Random(seed)  # noqa: S311 - a reproducible history, not a secret
    with transaction.atomic():
        # Two seeders racing: the second waits here, then sees the first one's row.
        DemoNetwork.objects.select_for_update().exists()
        existing = DemoNetwork.objects.first()
        if existing is not None:
            raise DemoAlreadySeeded(
                f"The demo network was seeded at {existing.seeded_at:%Y-%m-%d %H:%M} UTC; seeding again would "
                "double its history. Start from an empty database to seed it anew."
            )
        if Station.objects.filter(ocpp_id__startswith=catalogue.STATION_PREFIX).exists():
            raise DemoAlreadySeeded(f"Stations named {catalogue.STATION_PREFIX}* exist already; not mixing in a demo.")
        start = now - timedelta(days=days)
        operator = _operator()
        sites = _sites(operator)
        station_password = secrets.token_urlsafe(12)
        stations = _stations(sites, station_password, start)
        tariffs_from = start - timedelta(days=30)
        operator_password, driver_password = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
        operator_user = _operator_user(operator_password, start)
        drivers = _drivers(driver_password, start, rng)
        fleet_members = set(range(1, 1 + catalogue.FLEET_DRIVERS))
        fleet = DriverGroup.objects.create(
            name=catalogue.FLEET_NAME, description="Vans of a logistics company, at a contract price."
        )
        fleet.members.set([drivers[index] for index in fleet_members])
        _tariffs(stations, fleet, tariffs_from)
        tokens = _tokens(drivers, rng)

        plan = plan_history(
            rng=rng,
            stations=stations,
            drivers=len(drivers),
            fleet=fleet_members,
            fleet_site_id=sites[1].pk,
            start=start,
            end=now,
        )
        written = write_history(
            plan=plan,
            stations=[station for station, _ in stations],
            drivers=drivers,
            tokens=tokens,
            fleet=fleet_members,
            operator=operator,
            start=start,
            now=now,
            rng=rng,
            low_wallets={drivers[47].pk, drivers[48].pk},
        )
        _goodwill(drivers, operator_user, rng, now)
        _demo_driver_topped_up(drivers[0])
        Station.objects.filter(pk__in=[station.pk for station, _ in stations]).update(last_seen_at=now)
        network = DemoNetwork.objects.create(
            operator_email=operator_user.email,
            operator_password=operator_password,
            driver_email=drivers[0].email,
            driver_password=driver_password,
            station_password=station_password,
            station_prefix=catalogue.STATION_PREFIX,
            stations=len(stations),
            # The demo driver's card stays out of the fleet: whoever logs in as them charges with it.
            driver_tokens=[token.token for token in tokens[1:]],
            seconds=0,
        )
    rollup_seconds = _analytics_rebuilt(start, now)
    seconds = time.monotonic() - started
    DemoNetwork.objects.filter(pk=network.pk).update(seconds=seconds)
    network.seconds = seconds
    counts = {
        "sites": len(sites),
        "stations": len(stations),
        "drivers": len(drivers),
        **asdict(written),
    }
    logger.info(
        "demo network seeded",
        extra={**counts, "seconds": round(seconds, 1), "rollup_seconds": round(rollup_seconds, 1)},
    )
    return DemoSeedResult(network=network, counts=counts, seconds=seconds)


def demo_network() -> DemoNetwork | None:
    """The demo network, when this installation holds one (the portal is then in demo mode)."""
    return DemoNetwork.objects.first()


def _operator() -> Operator:
    """The demo operator issues every invoice: it becomes the default issuer (replacing a placeholder one)."""
    Operator.objects.filter(is_default=True).update(is_default=False)
    return Operator.objects.create(**catalogue.OPERATOR, is_default=True)


def _sites(operator: Operator) -> list[Site]:
    sites = [
        Site.objects.create(name=spec.name, address=spec.address, timezone=catalogue.TIMEZONE)
        for spec in catalogue.SITES
    ]
    OperatorSite.objects.bulk_create([OperatorSite(operator=operator, site=site) for site in sites])
    return sites


def _stations(sites: list[Site], password: str, since: datetime) -> list[tuple[Station, catalogue.StationModel]]:
    """The stations, registered as create_station does; one password for all, so the simulated fleet can log in."""
    stations, number = [], 0
    for site, spec in zip(sites, catalogue.SITES, strict=True):
        kinds = [(catalogue.AC_MODELS, "AC")] * spec.ac + [(catalogue.DC_MODELS, "DC")] * spec.dc
        for index, (models, kind) in enumerate(kinds, start=1):
            number += 1
            model = models[(number + index) % len(models)]
            station = station_create(
                ocpp_id=f"{catalogue.STATION_PREFIX}{number:03d}",
                password=password,
                site=site,
                name=f"{spec.short} {kind} {index}",
                ocpp_version=Station.OcppVersion.V201
                if number % catalogue.V201_EVERY == 0
                else Station.OcppVersion.V16,
                vendor=model.vendor,
                model=model.model,
                firmware_version=model.firmware,
                serial_number=f"{model.vendor[:3].upper()}{240000 + number * 37}",
                last_boot_at=since,
            )
            stations.append((station, model))
    Connector.objects.bulk_create(
        [
            Connector(station=station, connector_id=n, status="Available", status_at=since)
            for station, _ in stations
            for n in range(0, catalogue.CONNECTORS_PER_STATION + 1)
        ]
    )
    # Registered before the history begins: analytics counts a station's days from its creation.
    Station.objects.filter(pk__in=[station.pk for station, _ in stations]).update(created_at=since)
    for station, _ in stations:
        station.created_at = since
    return stations


def _operator_user(password: str, since: datetime):
    user = get_user_model().objects.create_user(
        email=catalogue.OPERATOR_EMAIL,
        password=password,
        first_name="Olivia",
        last_name="Operator",
        is_staff=True,
        date_joined=since,
    )
    user.groups.add(Group.objects.get_or_create(name=Role.OPERATOR_ADMIN)[0])
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _drivers(password: str, since: datetime, rng: random.Random) -> list:
    """50 drivers with verified addresses; one password hash for all (hashing 50 times would take seconds)."""
    User = get_user_model()
    hashed = make_password(password)
    users = []
    for index in range(catalogue.DRIVERS):
        first, last = catalogue.FIRST_NAMES[index], catalogue.LAST_NAMES[index]
        email = (
            "driver@" + catalogue.DRIVER_DOMAIN
            if index == 0
            else (
                f"{first}.{last}@{catalogue.DRIVER_DOMAIN}".lower()
                .replace("ü", "ue")
                .replace("ö", "oe")
                .replace("ä", "ae")
                .replace("ß", "ss")
            )
        )
        joined = since - timedelta(days=rng.uniform(1, 200))
        users.append(User(email=email, password=hashed, first_name=first, last_name=last, date_joined=joined))
    users = User.objects.bulk_create(users)
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=user, email=user.email, verified=True, primary=True) for user in users]
    )
    profiles = BillingProfile.objects.bulk_create(
        [BillingProfile(user=user, billing_name=f"{user.first_name} {user.last_name}") for user in users]
    )
    for user, profile in zip(users, profiles, strict=True):
        user.billing_profile = profile  # read for the details printed on each receipt
    return users


def _tariffs(stations, fleet: DriverGroup, valid_from: datetime) -> None:
    """AC: network-wide, cheaper at night, an idle fee after four hours. DC: per station, dearer in the
    weekday evening peak, a start fee and an idle fee after 15 minutes. The fleet pays a flat contract price."""
    tax = catalogue.TAX_RATE
    ac = Tariff.objects.create(
        name="AC public",
        tax_rate=tax,
        valid_from=valid_from,
        price_per_kwh=Prices.ac_kwh,
        idle_price_per_minute=Prices.ac_idle_per_minute,
        idle_grace_minutes=Prices.ac_idle_grace_minutes,
        max_price=Decimal("60.00"),
        min_billable_energy_wh=200,
    )
    TariffPeriod.objects.create(
        tariff=ac,
        name="Off-peak",
        weekdays="1234567",
        start_time=day_time(22),
        end_time=day_time(6),
        price_per_kwh=Prices.ac_off_peak_kwh,
        idle_price_per_minute=Decimal("0"),
    )
    for station, model in stations:
        if not model.dc:
            continue
        dc = Tariff.objects.create(
            name=f"DC public {station.ocpp_id}",
            tax_rate=tax,
            station=station,
            valid_from=valid_from,
            price_per_kwh=Prices.dc_kwh,
            start_fee=Prices.dc_start_fee,
            idle_price_per_minute=Prices.dc_idle_per_minute,
            idle_grace_minutes=Prices.dc_idle_grace_minutes,
            min_billable_energy_wh=200,
        )
        TariffPeriod.objects.create(
            tariff=dc,
            name="Evening peak",
            weekdays="12345",
            start_time=day_time(16),
            end_time=day_time(20),
            price_per_kwh=Prices.dc_peak_kwh,
        )
    Tariff.objects.create(
        name="Fleet contract",
        tax_rate=tax,
        driver_group=fleet,
        valid_from=valid_from,
        price_per_kwh=Prices.fleet_kwh,
        min_billable_energy_wh=200,
    )


def _tokens(drivers: list, rng: random.Random) -> list[IdToken]:
    """One RFID card per driver (through the token service: list versions and history as usual); a few drivers
    also charge with the app's token, which the history does not use."""
    cards = []
    for index, user in enumerate(drivers):
        number = f"04{rng.getrandbits(48):012X}"
        cards.append(
            id_token_create(
                token=number,
                data={"owner": user, "label": "Charging card"},
                source=IdTokenEvent.Source.COMMAND,
            )
        )
        if index % 7 == 3:
            id_token_create(
                token=f"APP{user.pk:06d}",
                data={"owner": user, "label": "Phone", "type": IdToken.Type.CENTRAL},
                source=IdTokenEvent.Source.COMMAND,
            )
    return cards


def _goodwill(drivers: list, operator_user, rng: random.Random, now: datetime) -> None:
    """A few credits the operator gave (a broken connector, a refund of a blocked session): the audit trail."""
    reasons = ("Goodwill: connector faulted during the session", "Bank transfer received", "Welcome credit")
    for number, user in enumerate(rng.sample(drivers[1:], 3), start=1):
        entry = wallet_post(
            user_id=user.pk,
            amount=Decimal(rng.choice((5, 10, 15))),
            currency=user.wallet.currency,
            kind=WalletEntry.Kind.ADJUSTMENT,
            reference=f"adjustment:demo-{number}",
            description=reasons[number - 1],
            created_by=operator_user,
        )
        WalletEntry.objects.filter(pk=entry.pk).update(created_at=now - timedelta(days=rng.uniform(2, 60)))


def _demo_driver_topped_up(driver) -> None:
    wallet = driver.wallet
    wallet.refresh_from_db()
    if wallet.balance < DEMO_DRIVER_BALANCE:
        wallet_post(
            user_id=driver.pk,
            amount=DEMO_DRIVER_BALANCE - wallet.balance + Decimal("10.00"),
            currency=wallet.currency,
            kind=WalletEntry.Kind.TOP_UP,
            reference="demo-top-up:demo-driver",
            description="Top-up (test payment, demo history)",
        )


def _analytics_rebuilt(start: datetime, now: datetime) -> float:
    """Rebuild every rollup over the history (``analytics_rebuild``'s service) and record the refresh, so that
    the periodic one goes on from here. A first refresh rebuilds the whole history by itself."""
    from analytics.models import RollupState
    from analytics.rollups import rebuild_days
    from analytics.services import rollups_refresh

    started = time.monotonic()
    if RollupState.objects.filter(name="rollups", watermark__isnull=False).exists():
        # The periodic refresh only looks a week back; the older days are rebuilt here.
        rebuild_days(d0=timezone.localdate(start) - timedelta(days=1), d1=timezone.localdate(now), now=now)
    rollups_refresh(now=now)
    return time.monotonic() - started
