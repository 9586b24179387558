"""The operator's changes to a site's load management, as the portal makes them: the rules ``load.load_group_save``
leaves to its callers (time-of-day periods that overlap, a station already in another feeder), then the save
itself, which shares the site again at once. Connectors' own current ranges are set here too."""

from collections.abc import Sequence
from datetime import time
from decimal import Decimal

from django.core.exceptions import ValidationError

from smartcharging import load
from smartcharging.models import ConnectorLoadSettings, LoadGroup, LoadGroupStation
from stations.models import Station

DAY_SECONDS = 24 * 3600


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _spans(starts: time, ends: time) -> list[tuple[int, int]]:
    """The seconds of the day a period covers, as half-open spans, read as ``load`` reads them: across midnight
    when ``ends`` is before ``starts``, the whole day when they are equal."""
    start, end = _seconds(starts), _seconds(ends)
    if start < end:
        return [(start, end)]
    if start == end:
        return [(0, DAY_SECONDS)]
    return [(start, DAY_SECONDS), (0, end)]


def periods_overlap(first: dict, second: dict) -> bool:
    """Whether two periods (dicts of ``starts`` and ``ends``) share a moment of the day."""
    return any(
        a_start < b_end and b_start < a_end
        for a_start, a_end in _spans(first["starts"], first["ends"])
        for b_start, b_end in _spans(second["starts"], second["ends"])
    )


def limit_periods_check(periods: Sequence[dict]) -> None:
    """Raise ValidationError when two periods overlap: only one limit can hold at a time (``load`` would take the
    first by start and ignore the other in silence)."""
    clashes = [
        f"{a['starts']:%H:%M}-{a['ends']:%H:%M} and {b['starts']:%H:%M}-{b['ends']:%H:%M}"
        for index, a in enumerate(periods)
        for b in periods[index + 1 :]
        if periods_overlap(a, b)
    ]
    if clashes:
        raise ValidationError({"periods": f"Periods overlap: {'; '.join(clashes)}."})


def load_group_change(
    *, group: LoadGroup, periods: Sequence[dict] | None = None, stations: Sequence[Station] | None = None
) -> LoadGroup:
    """Create or change a group with its periods and stations (each replaced when given) and apply it at once.

    Raises ValidationError for overlapping periods, for a station placed in another group (take it out there
    first: a station moved in silence would leave the other feeder's plan), and for whatever ``load_group_save``
    refuses."""
    if periods is not None:
        limit_periods_check(periods)
    if stations:
        elsewhere = (
            LoadGroupStation.objects.filter(station__in=stations)
            .exclude(group_id=group.pk)
            .select_related("station", "group")
            .order_by("station__ocpp_id")
        )
        taken = [f"{placement.station.ocpp_id} (in {placement.group.name})" for placement in elsewhere]
        if taken:
            raise ValidationError(
                {"stations": f"Already in another group: {', '.join(taken)}. Take it out there first."}
            )
    return load.load_group_save(group=group, periods=periods, stations=stations)


def connector_load_settings_set(
    *,
    station: Station,
    connector_id: int,
    min_current_a: Decimal,
    max_current_a: Decimal,
    phases: int,
    priority: int = 0,
) -> ConnectorLoadSettings:
    """Set what a connector can take (replacing the range it had) and share its site again at once when the site is
    under load management. Raises ValidationError for a range that is not one (the maximum below the minimum...)."""
    if max_current_a < min_current_a:
        raise ValidationError({"max_current_a": "The maximum is below the minimum."})
    settings = ConnectorLoadSettings.objects.filter(station=station, connector_id=connector_id).first()
    settings = settings or ConnectorLoadSettings(station=station, connector_id=connector_id)
    settings.min_current_a, settings.max_current_a = min_current_a, max_current_a
    settings.phases, settings.priority = phases, priority
    settings.full_clean()
    settings.save()
    _apply(station)
    return settings


def connector_load_settings_delete(*, settings: ConnectorLoadSettings) -> None:
    """Forget the operator's range for a connector (the station's own or the defaults apply again), at once."""
    station = settings.station
    settings.delete()
    _apply(station)


def _apply(station: Station) -> None:
    site_id = load.managed_site_of(station_id=station.pk)
    if site_id is not None:
        load.site_protect_and_rebalance(site_id=site_id)
