"""What the demo network is made of: its operator, sites, stations, tariffs and drivers, as plain data."""

from dataclasses import dataclass
from decimal import Decimal

OPERATOR = {
    "name": "Spreestrom Laden",
    "legal_name": "Spreestrom Laden GmbH",
    "address": "Friedrichstraße 68\n10117 Berlin\nGermany",
    "vat_id": "DE318274615",
    "email": "billing@spreestrom.example",
    "timezone": "Europe/Berlin",
    "invoice_prefix": "SSL-",
    "credit_note_prefix": "SSL-CN-",
}
TIMEZONE = "Europe/Berlin"
TAX_RATE = Decimal("19.00")
STATION_PREFIX = "DEMO-"
OPERATOR_EMAIL = "operator@spreestrom.example"
DRIVER_DOMAIN = "example.com"


@dataclass(frozen=True)
class StationModel:
    vendor: str
    model: str
    firmware: str
    dc: bool
    power_w: int  # per connector


AC_MODELS = (
    StationModel("ABB", "Terra AC W22-T-RD-M-0", "1.8.21", False, 22_000),
    StationModel("Alfen", "Eve Double Pro-line", "6.4.0-4193", False, 22_000),
    StationModel("KEBA", "KeContact P30 x-series", "1.16.0", False, 11_000),
    StationModel("Mennekes", "AMTRON Professional+ 22", "5.22.3", False, 22_000),
)
DC_MODELS = (
    StationModel("Alpitronic", "hypercharger HYC150", "1.9.4", True, 150_000),
    StationModel("ABB", "Terra 54 CJG", "1.6.9", True, 50_000),
    StationModel("Kempower", "S-Series Satellite", "1.32.0", True, 120_000),
)


@dataclass(frozen=True)
class SiteSpec:
    name: str
    address: str
    short: str
    ac: int
    dc: int


SITES = (
    SiteSpec("Berlin Hauptbahnhof P+R", "Invalidenstraße 50, 10557 Berlin", "Hbf", ac=6, dc=4),
    SiteSpec("Potsdam Havel Retail Park", "Nuthestraße 12, 14480 Potsdam", "Havel", ac=5, dc=3),
    SiteSpec("Leipzig Messe Depot", "Messe-Allee 1, 04356 Leipzig", "Messe", ac=3, dc=3),
)
CONNECTORS_PER_STATION = 2
# Every fourth station speaks OCPP 2.0.1 (DEMO-004, DEMO-008, ...): the network runs both versions side by side.
V201_EVERY = 4

FIRST_NAMES = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Felix",
    "Greta",
    "Hannes",
    "Ida",
    "Jonas",
    "Katharina",
    "Lukas",
    "Mia",
    "Niklas",
    "Olga",
    "Paul",
    "Quirin",
    "Rosa",
    "Stefan",
    "Tamara",
    "Uwe",
    "Vanessa",
    "Wolfgang",
    "Yara",
    "Zoe",
    "Ahmet",
    "Birgit",
    "Christoph",
    "Dana",
    "Emil",
    "Frieda",
    "Georg",
    "Hanna",
    "Ilse",
    "Jan",
    "Karin",
    "Leon",
    "Marta",
    "Noah",
    "Oskar",
    "Petra",
    "Ralf",
    "Sophie",
    "Tim",
    "Ulrike",
    "Viktor",
    "Wiebke",
    "Xaver",
    "Yusuf",
    "Zeynep",
)
LAST_NAMES = (
    "Schmidt",
    "Müller",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Maier",
    "Herrmann",
    "König",
    "Walter",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Vogel",
    "Friedrich",
    "Keller",
    "Günther",
    "Frank",
    "Berger",
    "Winkler",
    "Roth",
    "Beck",
    "Lorenz",
    "Baumann",
)
DRIVERS = 50
FLEET_NAME = "Havel Logistik fleet"
FLEET_DRIVERS = 8  # the first drivers after the demo driver


class Prices:
    """The public AC and DC tariffs (net, per kWh and per minute), and the fleet's contract price."""

    ac_kwh = Decimal("0.39")
    ac_off_peak_kwh = Decimal("0.32")
    ac_idle_per_minute = Decimal("0.05")
    ac_idle_grace_minutes = 240
    dc_kwh = Decimal("0.55")
    dc_peak_kwh = Decimal("0.62")
    dc_start_fee = Decimal("0.50")
    dc_idle_per_minute = Decimal("0.10")
    dc_idle_grace_minutes = 15
    fleet_kwh = Decimal("0.33")


FAULT_CODES = (
    ("GroundFailure", "RCD tripped"),
    ("OverCurrentFailure", "Over-current"),
    ("ConnectorLockFailure", "Lock actuator"),
    ("HighTemperature", "Cable temperature"),
    ("EVCommunicationError", "PLC timeout"),
)
