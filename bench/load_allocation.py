"""Load-management benchmark: 1,000 sites of 20 connectors each re-allocated after a burst of events; prints the time.

Each site has a grid connection (63 A, a cheaper night window at 80 A) with a 32 A feeder inside it, ten stations of
two connectors (two of them in the feeder) and a session on every connector. The burst: at every site one session
stops, another starts, one car draws little, and the building load moves. Then every site is shared again, as the
watch does it (``smartcharging.load.sites_read`` reading all sites in a few queries, ``plans_from`` allocating,
``sites_allocation_record`` storing the shares that changed, in one transaction). Between bursts the stations
accept the profiles they were due, as they do live (``--undelivered``: they never do, and every share stays due and
is stored again). Figures:

- engine: ``smartcharging.allocation.allocate`` alone over the sites' inputs already in memory (both periods);
- split: read, allocate and store, with the CPU seconds of this process and of its PostgreSQL backend (when the
  server runs on this machine): on a busy machine the CPU seconds say more than the wall clock;
- end to end: read, allocate and store (the profiles' sending is the stations' round trip, not measured here).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voltgrid_bench .venv/bin/python bench/load_allocation.py

The database named by DATABASE_URL is created and migrated when missing. The benchmark's rows (sites "BENCH load
*", stations BENCH-LOAD-*) are deleted and created again on each run, and the tables vacuumed and analysed as
autovacuum would. Options: --sites, --stations (per site), --rounds (end-to-end runs; the best and the median are
printed), --undelivered.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import NamedTuple

from benchdb import backend_cpu_seconds, create_database_if_missing

ROOT = Path(__file__).resolve().parent.parent
SITE_PREFIX = "BENCH load"
STATION_PREFIX = "BENCH-LOAD-"
CONNECTORS_PER_STATION = 2


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def delete_previous_run() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        stations = f"SELECT id FROM stations_station WHERE ocpp_id LIKE '{STATION_PREFIX}%%'"
        sites = f"SELECT id FROM stations_site WHERE name LIKE '{SITE_PREFIX}%%'"
        for table in ("smartcharging_connectorallocation", "smartcharging_siteloadsample"):
            cursor.execute(f"DELETE FROM {table} WHERE site_id IN ({sites})")
        cursor.execute(f"DELETE FROM smartcharging_loadgroupstation WHERE station_id IN ({stations})")
        groups = f"SELECT id FROM smartcharging_loadgroup WHERE site_id IN ({sites})"
        cursor.execute(f"DELETE FROM smartcharging_limitperiod WHERE group_id IN ({groups})")
        cursor.execute(f"DELETE FROM smartcharging_loadgroup WHERE site_id IN ({sites}) AND parent_id IS NOT NULL")
        cursor.execute(f"DELETE FROM smartcharging_loadgroup WHERE site_id IN ({sites})")
        cursor.execute(f"DELETE FROM charging_sessions_transaction WHERE station_id IN ({stations})")
        cursor.execute(f"DELETE FROM stations_connector WHERE station_id IN ({stations})")
        cursor.execute(f"DELETE FROM stations_station WHERE ocpp_id LIKE '{STATION_PREFIX}%%'")
        cursor.execute(f"DELETE FROM stations_site WHERE name LIKE '{SITE_PREFIX}%%'")


def create_sites(count: int, stations_per_site: int) -> list[int]:
    from sessions.models import Transaction
    from smartcharging.models import LimitPeriod, LoadGroup, LoadGroupStation
    from stations.models import Connector, Site, Station

    now = datetime.now(UTC)
    sites = Site.objects.bulk_create(Site(name=f"{SITE_PREFIX} {n:05d}") for n in range(count))
    roots = LoadGroup.objects.bulk_create(LoadGroup(site=site, name="Grid", limit=63) for site in sites)
    feeders = LoadGroup.objects.bulk_create(
        LoadGroup(site=site, parent=root, name="Feeder", limit=32) for site, root in zip(sites, roots, strict=True)
    )
    LimitPeriod.objects.bulk_create(
        LimitPeriod(group=root, starts=clock(22), ends=clock(6), limit=80) for root in roots
    )
    stations = Station.objects.bulk_create(
        Station(ocpp_id=f"{STATION_PREFIX}{n:05d}-{s:02d}", site=site, ocpp_version="1.6", is_online=True)
        for n, site in enumerate(sites)
        for s in range(stations_per_site)
    )
    LoadGroupStation.objects.bulk_create(
        LoadGroupStation(station=station, group=feeders[index // stations_per_site])
        for index, station in enumerate(stations)
        if index % stations_per_site < 2
    )
    connectors = [(station, c) for station in stations for c in range(1, CONNECTORS_PER_STATION + 1)]
    Connector.objects.bulk_create(Connector(station=station, connector_id=c) for station, c in connectors)
    Transaction.objects.bulk_create(
        (
            Transaction(station=station, connector_id=c, started_at=now - timedelta(minutes=index % 600), id_tag="B")
            for index, (station, c) in enumerate(connectors)
        ),
        batch_size=5000,
    )
    return [site.pk for site in sites]


def vacuum() -> None:
    """What autovacuum does between runs in production (off on a test server): the dead rows of earlier runs
    cleared and the planner's statistics fresh, so that the figure is not that of a table ten times its size."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM ANALYZE {table}")


VACUUMED = (
    "stations_site",
    "stations_station",
    "stations_connector",
    "charging_sessions_transaction",
    "smartcharging_loadgroup",
    "smartcharging_limitperiod",
    "smartcharging_loadgroupstation",
    "smartcharging_connectorallocation",
    "smartcharging_siteloadsample",
)


def burst(site_ids: list[int]) -> None:
    """At every site: one session stops, one starts on its connector, one car draws little, the building moves."""
    from django.db.models import F
    from django.utils import timezone

    from sessions.models import Transaction
    from smartcharging.models import LoadGroup
    from stations.models import Connector

    now = timezone.now()
    first = {}
    for pk, site_id in Transaction.objects.filter(
        station__site_id__in=site_ids, status=Transaction.Status.ACTIVE
    ).values_list("pk", "station__site_id"):
        first.setdefault(site_id, pk)
    stopped = Transaction.objects.filter(pk__in=first.values())
    replacements = [
        Transaction(station_id=s, connector_id=c, started_at=now, id_tag="B")
        for s, c in stopped.values_list("station_id", "connector_id")
    ]
    stopped.update(status=Transaction.Status.COMPLETED, stopped_at=now)
    Transaction.objects.bulk_create(replacements, batch_size=5000)
    Connector.objects.filter(station__site_id__in=site_ids, connector_id=2, station__ocpp_id__endswith="-03").update(
        power_w=690, measured_at=now
    )
    LoadGroup.objects.filter(site_id__in=site_ids, parent__isnull=True).update(
        building_load_w=F("id") % 5 * 1000, building_load_at=now
    )


def engine_seconds(site_ids: list[int]) -> tuple[float, int]:
    """The engine alone over every site's nodes and demands (built once, outside the clock)."""
    from smartcharging import allocation, load

    plans = load.sites_plan(site_ids=site_ids)
    inputs = []
    for plan in plans.values():
        nodes = [allocation.Node(g.pk, g.parent_id, float(g.limit)) for g in plan.groups]
        inputs.append((nodes, plan.slots))
    began = time.perf_counter()
    for nodes, demands in inputs:
        allocation.allocate(nodes, demands)
        allocation.allocate(nodes, demands)  # the next period's limits too
    return time.perf_counter() - began, sum(len(demands) for _, demands in inputs)


class Split(NamedTuple):
    """One end-to-end run: wall seconds of each stage, and the CPU seconds it took here and in the server."""

    read: float
    allocate: float
    store: float
    client_cpu: float
    server_cpu: float | None
    sessions: int
    due: int

    @property
    def total(self) -> float:
        return self.read + self.allocate + self.store


def end_to_end(site_ids: list[int]) -> Split:
    """Read, allocate and store every site's shares as a rebalance does (in one transaction, the shares locked, the
    garbage collector paused until what was read and planned is freed)."""
    from smartcharging import load

    with load.gc_paused():
        return _timed_rebalance(site_ids)


def _timed_rebalance(site_ids: list[int]) -> Split:
    from django.db import transaction

    from smartcharging import load

    cpu, server = time.process_time(), backend_cpu_seconds()
    began = time.perf_counter()
    with transaction.atomic():
        inputs = load.sites_read(site_ids=site_ids, lock=True)
        read = time.perf_counter()
        plans = load.plans_from(inputs)
        allocated = time.perf_counter()
        to_send = load.sites_allocation_record(plans=list(plans.values()))
    stored = time.perf_counter()
    server_after = backend_cpu_seconds()
    return Split(
        read - began,
        allocated - read,
        stored - allocated,
        time.process_time() - cpu,
        None if server is None else server_after - server,
        sum(len(plan.slots) for plan in plans.values()),
        len(to_send),
    )


def deliver(site_ids: list[int]) -> None:
    """The stations accept the profiles they were due (what ``_send_all`` records): the next burst then stores
    and sends only the shares it changes."""
    from smartcharging.models import ConnectorAllocation

    ConnectorAllocation.objects.filter(
        site_id__in=site_ids, delivery=ConnectorAllocation.Delivery.PENDING, schedule_start__isnull=False
    ).update(delivery=ConnectorAllocation.Delivery.SENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--stations", type=int, default=10, help="stations per site, two connectors each")
    parser.add_argument("--rounds", type=int, default=3, help="bursts, each followed by a timed re-allocation")
    parser.add_argument(
        "--undelivered",
        action="store_true",
        help="the stations never accept a profile: every share stays due and is stored again at every burst",
    )
    args = parser.parse_args()

    setup_django()
    import logging

    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database for a meaningful figure.")
    logging.disable(logging.INFO)
    create_database_if_missing(settings.DATABASES["default"])
    call_command("migrate", verbosity=0, interactive=False)
    # The figures scale with the machine: say how busy it was (a shared CI host may run other jobs meanwhile).
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("Preparing data ...")
    delete_previous_run()
    began = time.perf_counter()
    site_ids = create_sites(args.sites, args.stations)
    connectors = args.sites * args.stations * CONNECTORS_PER_STATION
    print(f"  {args.sites:,} sites, {connectors:,} connectors charging, in {time.perf_counter() - began:.1f} s")
    vacuum()
    first = end_to_end(site_ids)  # the first allocation: every share is new
    print(f"first allocation: {first.total:.3f} s ({first.due:,} profiles due)")
    if not args.undelivered:
        deliver(site_ids)
    vacuum()

    engine, demands = engine_seconds(site_ids)
    print(f"engine:       {engine:.3f} s for {demands:,} sessions x 2 periods ({demands * 2 / engine:,.0f}/s)")
    runs = []
    for _ in range(args.rounds):
        burst(site_ids)
        runs.append(end_to_end(site_ids))
        if not args.undelivered:
            deliver(site_ids)
    best = min(runs, key=lambda run: run.total)
    median = statistics.median(run.total for run in runs)
    last = runs[-1]
    verdict = "under" if best.total < 1.0 else "OVER"
    server = "?" if best.server_cpu is None else f"{best.server_cpu:.2f}"
    print(
        f"split (best):  read {best.read:.3f} s, allocate {best.allocate:.3f} s, store {best.store:.3f} s, "
        f"total {best.total:.3f} s; CPU {best.client_cpu:.2f} s here + {server} s in the server"
    )
    print(
        f"end to end:   {best.total:.3f} s best, {median:.3f} s median of {args.rounds} bursts: {args.sites:,} sites, "
        f"{last.sessions:,} sessions read, allocated and stored ({last.due:,} profiles due in the last): {verdict} 1 s"
    )


if __name__ == "__main__":
    main()
