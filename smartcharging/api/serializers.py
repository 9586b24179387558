"""Serializers of the load-management API: a site's groups with their limits, each connector's share, and a
driver's charging needs."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from smartcharging import limits
from smartcharging.models import MAX_DRIVER_ENERGY_KWH, ConnectorAllocation, LimitPeriod, LoadGroup
from smartcharging.needs import CAR, DRIVER
from smartcharging.selectors import SessionLoad
from stations.models import Site, Station


class LimitPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = LimitPeriod
        fields = ["starts", "ends", "limit"]


class LoadGroupSerializer(serializers.ModelSerializer):
    """Writes go through ``limits.load_group_change`` (then ``load.load_group_save``): the site is shared again at once
    with the new limits."""

    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    parent = serializers.PrimaryKeyRelatedField(queryset=LoadGroup.objects.all(), allow_null=True, required=False)
    periods = LimitPeriodSerializer(many=True, required=False, help_text="Time-of-day limits; replaced when given.")
    stations = serializers.SlugRelatedField(
        slug_field="ocpp_id",
        queryset=Station.objects.all(),
        many=True,
        required=False,
        source="placed_stations",
        help_text="OCPP ids of the stations placed in this group (a feeder); replaced when given. A station "
        "already in another group is refused: take it out there first.",
    )
    meter_station = serializers.SlugRelatedField(
        slug_field="ocpp_id", queryset=Station.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = LoadGroup
        fields = [
            "id",
            "site",
            "parent",
            "name",
            "limit",
            "limit_unit",
            "phases",
            "voltage",
            "periods",
            "stations",
            "meter_source",
            "meter_host",
            "meter_port",
            "meter_unit",
            "meter_register",
            "meter_station",
            "building_load_w",
            "building_load_at",
            "building_reserve_a",
            "building_peak_w",
            "building_peak_before_w",
            "updated_at",
        ]
        read_only_fields = [
            "building_load_w",
            "building_load_at",
            "building_peak_w",
            "building_peak_before_w",
            "updated_at",
        ]
        validators = []  # the model's own rules (one grid connection per site...), checked by load_group_save

    def to_representation(self, instance):
        instance.placed_stations = [placement.station for placement in instance.placements.all()]
        return super().to_representation(instance)

    def validate_limit(self, value):
        if value < 0:
            raise serializers.ValidationError("A limit is 0 or more.")
        return value

    def save(self, **kwargs):
        data = dict(self.validated_data)
        periods, stations = data.pop("periods", None), data.pop("placed_stations", None)
        group = self.instance or LoadGroup()
        if self.instance is not None and "site" in data and data["site"].pk != self.instance.site_id:
            raise serializers.ValidationError({"site": "A group stays at its site: create one at the other site."})
        for name, value in data.items():
            setattr(group, name, value)
        try:
            self.instance = limits.load_group_change(group=group, periods=periods, stations=stations)
        except DjangoValidationError as error:
            raise serializers.ValidationError(serializers.as_serializer_error(error)) from error
        return self.instance


class ConnectorAllocationSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.ocpp_id", read_only=True)

    class Meta:
        model = ConnectorAllocation
        fields = [
            "station",
            "connector_id",
            "transaction",
            "state",
            "current_a",
            "drawn_a",
            "queued_since",
            "delivery",
            "delivery_detail",
            "updated_at",
        ]
        read_only_fields = fields


class PlannedNeedsSerializer(serializers.Serializer):
    departure_at = serializers.DateTimeField(read_only=True)
    departure_from = serializers.ChoiceField(choices=[CAR, DRIVER], read_only=True, help_text="Whose departure it is.")
    energy_wh = serializers.FloatField(read_only=True, allow_null=True, help_text="Still to deliver; null: unknown.")
    energy_from = serializers.ChoiceField(choices=[CAR, DRIVER], read_only=True, allow_null=True)


class DriverChargingNeedsSerializer(serializers.Serializer):
    """A session's needs as its driver states them (``load.driver_needs_set`` checks the ranges), with what load
    management makes of them."""

    departure_at = serializers.DateTimeField(help_text="When you leave: within the next 48 hours.")
    energy_kwh = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,  # as given: the model's range and precision decide, with their messages
        required=False,
        allow_null=True,
        help_text=f"The energy you want from this session in all, 0.1 to {MAX_DRIVER_ENERGY_KWH} kWh; the car's own "
        "figure is used when it reports one.",
    )
    updated_at = serializers.DateTimeField(read_only=True)
    planned = PlannedNeedsSerializer(
        read_only=True, allow_null=True, help_text="What the allocation plans the session by (yours and the car's)."
    )
    load_managed = serializers.BooleanField(read_only=True, help_text="Whether the site shares a limit.")
    current_a = serializers.FloatField(
        read_only=True, allow_null=True, help_text="The session's share (A per phase) where the site shares a limit."
    )

    @staticmethod
    def of(load: SessionLoad) -> dict:
        return {
            "departure_at": load.stated.departure_at,
            "energy_kwh": load.stated.energy_kwh,
            "updated_at": load.stated.updated_at,
            "planned": load.planned,
            "load_managed": load.managed,
            "current_a": load.allocation.current_a if load.allocation else None,
        }
