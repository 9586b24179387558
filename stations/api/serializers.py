"""Serializers of the stations API: stations with their live state, commands to them and their outcomes."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from stations.models import Connector, Site, Station, StationCommand, station_id_validator
from stations.protocol import outbound
from stations.protocol.outbound import OutboundCall
from stations.services import station_create, station_update

# OCPP's Basic-auth password: 16 to 20 bytes in the 1.6 security whitepaper, 16 to 40 characters in 2.0.1.
PASSWORD_MIN_LENGTH = 16
PASSWORD_MAX_LENGTH = 40
PASSWORD_HELP = (
    f"The station's HTTP Basic-auth password (OCPP security profiles 1 and 2), {PASSWORD_MIN_LENGTH} to "
    f"{PASSWORD_MAX_LENGTH} characters. Stored hashed; never returned."
)


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=PASSWORD_HELP,
        **kwargs,
    )


class ConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = [
            "connector_id",
            "status",
            "error_code",
            "info",
            "vendor_error_code",
            "status_at",
            "power_w",
            "soc_percent",
            "energy_register_wh",
            "measured_at",
        ]
        read_only_fields = fields


class StationSerializer(serializers.ModelSerializer):
    """A station as registered, as it described itself at boot, and its live connection and connector state."""

    id = serializers.CharField(source="ocpp_id", read_only=True, help_text="The OCPP identity, as in /ocpp/<id>.")
    password = password_field(required=False)
    has_password = serializers.SerializerMethodField(help_text="Whether the station must authenticate.")
    site = serializers.SlugRelatedField(
        slug_field="name", queryset=Site.objects.all(), allow_null=True, required=False, help_text="The site's name."
    )
    ocpp_version = serializers.ChoiceField(
        choices=Station.OcppVersion.choices,
        allow_blank=True,
        read_only=True,
        help_text="The OCPP version the station connects with; empty until it first connects.",
    )
    connectors = ConnectorSerializer(many=True, read_only=True)

    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "site",
            "registration_status",
            "password",
            "has_password",
            "ocpp_version",
            "is_online",
            "connected_at",
            "last_boot_at",
            "last_heartbeat_at",
            "last_seen_at",
            "vendor",
            "model",
            "serial_number",
            "charge_box_serial_number",
            "firmware_version",
            "firmware_status",
            "firmware_status_at",
            "diagnostics_status",
            "diagnostics_status_at",
            "iccid",
            "imsi",
            "meter_type",
            "meter_serial_number",
            "connectors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "ocpp_version",
            "is_online",
            "connected_at",
            "last_boot_at",
            "last_heartbeat_at",
            "last_seen_at",
            "vendor",
            "model",
            "serial_number",
            "charge_box_serial_number",
            "firmware_version",
            "firmware_status",
            "firmware_status_at",
            "diagnostics_status",
            "diagnostics_status_at",
            "iccid",
            "imsi",
            "meter_type",
            "meter_serial_number",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_password(self, station) -> bool:
        return bool(station.password_hash)

    def update(self, instance, validated_data):
        return station_update(station=instance, **validated_data)


class StationCreateSerializer(StationSerializer):
    id = serializers.CharField(
        source="ocpp_id",
        max_length=48,
        validators=[
            station_id_validator,
            UniqueValidator(queryset=Station.objects.all(), message="A station with this id is already registered."),
        ],
        help_text="The OCPP identity the station connects with, as in /ocpp/<id>.",
    )
    password = password_field()

    def create(self, validated_data):
        return station_create(
            ocpp_id=validated_data.pop("ocpp_id"), password=validated_data.pop("password"), **validated_data
        )


class StationCommandSerializer(serializers.ModelSerializer):
    """A command sent to a station and its outcome."""

    url = serializers.HyperlinkedIdentityField(view_name="station-command-detail")
    station = serializers.CharField(source="station.ocpp_id", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="email", read_only=True, allow_null=True, help_text="Who sent it; null for the system's own."
    )
    transaction_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The session a remote start led to, or the one a remote stop ended."
    )
    response = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="The station's CALLRESULT payload; for call_error the CALLERROR's errorDetails (or the answer "
        "that broke the schema, with error_code InvalidResponse).",
    )

    class Meta:
        model = StationCommand
        fields = [
            "id",
            "url",
            "station",
            "action",
            "payload",
            "status",
            "response",
            "error_code",
            "error_description",
            "transaction_id",
            "requested_by",
            "created_at",
            "answered_at",
        ]
        read_only_fields = fields


def timeout_field() -> serializers.FloatField:
    return serializers.FloatField(
        required=False,
        min_value=1,
        max_value=120,
        help_text="Seconds the station has to answer; the server's CMS_OCPP_RESPONSE_TIMEOUT when left out.",
    )


class StationCallSerializer(serializers.Serializer):
    action = serializers.CharField(
        max_length=64, help_text="Any CSMS-initiated action of the station's OCPP version, e.g. RemoteStartTransaction."
    )
    payload = serializers.JSONField(
        default=dict, help_text="The action's payload as on the wire (camelCase), checked against the official schema."
    )
    timeout = timeout_field()


class TypedCommandRequestSerializer(serializers.Serializer):
    """An everyday command in plain fields, turned into the OCPP call of the station's version."""

    timeout = timeout_field()

    def build(self, ocpp_version: str) -> OutboundCall:
        raise NotImplementedError

    def to_call(self, station: Station) -> OutboundCall:
        try:
            outbound.typed_endpoints_check(station.ocpp_version)
            return self.build(station.ocpp_version)
        except outbound.Unsupported as error:
            raise serializers.ValidationError(f"{error} through /api/stations/{station.ocpp_id}/calls/.") from error


class RemoteStartRequestSerializer(TypedCommandRequestSerializer):
    id_tag = serializers.CharField(max_length=20, help_text="The idTag the session is started for.")
    connector_id = serializers.IntegerField(min_value=1, required=False, help_text="Left out: the station chooses.")
    charging_profile = serializers.JSONField(
        required=False, help_text="An OCPP 1.6 ChargingProfile (purpose TxProfile) for the session."
    )
    wait = serializers.FloatField(
        default=10,
        min_value=0,
        max_value=120,
        help_text="Seconds to wait, once the station has accepted, for it to start the session (a driver may "
        "still have to plug in). Without a session by then the answer is 202 with the command to poll.",
    )

    def build(self, ocpp_version: str) -> OutboundCall:
        data = self.validated_data
        return outbound.remote_start(
            ocpp_version,
            id_token=data["id_tag"],
            connector_id=data.get("connector_id"),
            charging_profile=data.get("charging_profile"),
        )


class RemoteStopRequestSerializer(TypedCommandRequestSerializer):
    transaction_id = serializers.IntegerField(help_text="The session's transaction id.")

    def build(self, ocpp_version: str) -> OutboundCall:
        return outbound.remote_stop(ocpp_version, transaction_id=self.validated_data["transaction_id"])


class ResetRequestSerializer(TypedCommandRequestSerializer):
    type = serializers.ChoiceField(choices=["Soft", "Hard"], default="Soft")

    def build(self, ocpp_version: str) -> OutboundCall:
        return outbound.reset(ocpp_version, hard=self.validated_data["type"] == "Hard")


class UnlockRequestSerializer(TypedCommandRequestSerializer):
    connector_id = serializers.IntegerField(min_value=1)

    def build(self, ocpp_version: str) -> OutboundCall:
        return outbound.unlock(ocpp_version, connector_id=self.validated_data["connector_id"])
