"""Serializers of the stations API: stations with their live state, commands to them and their outcomes."""

import re
import secrets

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from ocpp.v201.enums import IdTokenEnumType
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from sessions.models import Transaction
from stations.device_model import VariableRef
from stations.models import Connector, DeviceModelVariable, Site, Station, StationCommand, station_id_validator
from stations.protocol import outbound
from stations.protocol.outbound import OutboundCall
from stations.security import SecurityProfileRefused, security_profile_check, station_security_profile_set
from stations.services import station_create, station_update

# OCPP's Basic-auth password: 16 to 20 bytes in the 1.6 security whitepaper, 16 to 40 characters in 2.0.1.
PASSWORD_MIN_LENGTH = 16
PASSWORD_MAX_LENGTH = 40
PASSWORD_HELP = (
    f"The station's HTTP Basic-auth password (OCPP security profiles 1 and 2), {PASSWORD_MIN_LENGTH} to "
    f"{PASSWORD_MAX_LENGTH} characters. Stored hashed; never returned."
)


def password_field(help_text: str = PASSWORD_HELP, **kwargs) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=help_text,
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


# What the station and its connection report (boot, heartbeats, status notifications): shown, never written here.
STATION_REPORTED_FIELDS = (
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
)


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
    confirm_lower_security_profile = serializers.BooleanField(
        write_only=True,
        default=False,
        help_text="Must be true to lower `security_profile` (e.g. 2 → 1): otherwise 400 with the reason.",
    )

    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "site",
            "registration_status",
            "security_profile",
            "confirm_lower_security_profile",
            "password",
            "has_password",
            *STATION_REPORTED_FIELDS,
            "connectors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [*STATION_REPORTED_FIELDS, "created_at", "updated_at"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_password(self, station) -> bool:
        return bool(station.password_hash)

    def validate(self, attrs):
        profile = attrs.get("security_profile")
        if self.instance is not None and profile is not None:
            try:
                security_profile_check(
                    station=self.instance,
                    profile=profile,
                    lowering_confirmed=attrs.get("confirm_lower_security_profile", False),
                )
            except SecurityProfileRefused as refused:
                raise serializers.ValidationError({"security_profile": str(refused)}) from refused
        return attrs

    def update(self, instance, validated_data):
        lowering_confirmed = validated_data.pop("confirm_lower_security_profile", False)
        profile = validated_data.pop("security_profile", None)
        if profile is not None:
            user = self.context["request"].user if "request" in self.context else None
            station_security_profile_set(
                station=instance, profile=profile, lowering_confirmed=lowering_confirmed, changed_by=user
            )
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
    password = password_field(
        required=False,
        help_text=f"{PASSWORD_HELP} Required for profiles 1 and 2; a profile-3 station logs in with its client "
        "certificate alone (a password given is kept for a later change of profile, never accepted meanwhile).",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs.get("security_profile") != Station.SecurityProfile.TLS_CLIENT_CERTIFICATE and not attrs.get(
            "password"
        ):
            raise serializers.ValidationError(
                {"password": "This field is required. (Only a profile-3 station, logging in by certificate, has none.)"}
            )
        return attrs

    def create(self, validated_data):
        validated_data.pop("confirm_lower_security_profile", None)
        return station_create(
            ocpp_id=validated_data.pop("ocpp_id"), password=validated_data.pop("password", None), **validated_data
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
    """An everyday command in plain fields, turned into the OCPP call of the station's version (1.6 or 2.0.1)."""

    timeout = timeout_field()

    def build(self, station: Station) -> OutboundCall:
        raise NotImplementedError

    def to_call(self, station: Station) -> OutboundCall:
        try:
            return self.build(station)
        except outbound.Unsupported as error:
            raise serializers.ValidationError(str(error)) from error


EVSE_HELP = "OCPP 2.0.1: the EVSE. An OCPP 1.6 station has none: leave it out."


def evse_field(help_text: str = EVSE_HELP) -> serializers.Field:
    return serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, help_text=help_text)


def one_of(attrs: dict, *names: str) -> None:
    given = [name for name in names if attrs.get(name) not in (None, "")]
    if len(given) != 1:
        raise serializers.ValidationError(f"Give exactly one of {', '.join(names)}.")


class RemoteStartRequestSerializer(TypedCommandRequestSerializer):
    id_token = serializers.CharField(
        max_length=36,
        required=False,
        help_text="The token the session is started for (OCPP 2.0.1 idToken, up to 36 characters; 1.6 idTag, "
        "up to 20).",
    )
    id_tag = serializers.CharField(max_length=20, required=False, help_text="The same as `id_token` (1.6's name).")
    id_token_type = serializers.ChoiceField(
        choices=[token_type.value for token_type in IdTokenEnumType],
        default=outbound.CSMS_TOKEN_TYPE,
        help_text="OCPP 2.0.1 IdTokenEnumType of `id_token`; 1.6 carries no type.",
    )
    connector_id = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="The connector (1.6) or EVSE (2.0.1); left out: the station chooses.",
    )
    evse_id = evse_field("The EVSE (2.0.1), as `connector_id`.")
    charging_profile = serializers.JSONField(
        required=False, help_text="A ChargingProfile (purpose TxProfile) in the station's OCPP version's format."
    )
    wait = serializers.FloatField(
        default=10,
        min_value=0,
        max_value=120,
        help_text="Seconds to wait, once the station has accepted, for it to start the session (a driver may "
        "still have to plug in). Without a session by then the answer is 202 with the command to poll.",
    )

    def validate(self, attrs):
        one_of(attrs, "id_token", "id_tag")
        if attrs.get("connector_id") and attrs.get("evse_id"):
            raise serializers.ValidationError("Give connector_id or evse_id, not both.")
        return attrs

    def build(self, station: Station) -> OutboundCall:
        data = self.validated_data
        token = data.get("id_token") or data["id_tag"]
        longest = outbound.id_token_max_length(station.ocpp_version)
        if len(token) > longest:
            raise outbound.Unsupported(f"An OCPP {station.ocpp_version} id token is at most {longest} characters.")
        return outbound.remote_start(
            station.ocpp_version,
            id_token=token,
            id_token_type=data["id_token_type"],
            connector_id=data.get("evse_id") or data.get("connector_id"),
            charging_profile=data.get("charging_profile"),
        )


class RemoteStopRequestSerializer(TypedCommandRequestSerializer):
    transaction_id = serializers.CharField(
        max_length=36,
        required=False,
        help_text="The station's id of the transaction: 1.6 an integer (our session id), 2.0.1 the station's "
        "own transactionId.",
    )
    session_id = serializers.IntegerField(
        min_value=1, required=False, help_text="Our id of the session (either version), instead of transaction_id."
    )

    def validate(self, attrs):
        one_of(attrs, "transaction_id", "session_id")
        return attrs

    def build(self, station: Station) -> OutboundCall:
        data = self.validated_data
        version = station.ocpp_version
        if data.get("session_id"):
            session = Transaction.objects.filter(station=station, pk=data["session_id"]).first()
            if session is None:
                raise outbound.Unsupported(f"Session {data['session_id']} is not one of this station's.")
            transaction_id = outbound.station_transaction_id(version, session)
            if transaction_id in ("", None):
                raise outbound.Unsupported(f"The station has not named session {session.pk} yet.")
        elif version == "2.0.1":
            transaction_id = data["transaction_id"]
        else:
            try:
                transaction_id = int(data["transaction_id"])
            except ValueError:
                raise outbound.Unsupported("An OCPP 1.6 transaction id is an integer.") from None
        return outbound.remote_stop(version, transaction_id=transaction_id)


# Both versions' words: Hard and Immediate restart at once; Soft and OnIdle once the sessions have ended.
RESET_TYPES = {"Soft": False, "Hard": True, "OnIdle": False, "Immediate": True}


class ResetRequestSerializer(TypedCommandRequestSerializer):
    type = serializers.ChoiceField(
        choices=list(RESET_TYPES),
        default="Soft",
        help_text="Hard / Immediate: at once; Soft / OnIdle: once the sessions have ended (either version's word).",
    )
    evse_id = evse_field("OCPP 2.0.1: reset only this EVSE. 1.6 resets the whole station: leave it out.")

    def build(self, station: Station) -> OutboundCall:
        data = self.validated_data
        return outbound.reset(station.ocpp_version, hard=RESET_TYPES[data["type"]], evse_id=data.get("evse_id"))


class UnlockRequestSerializer(TypedCommandRequestSerializer):
    connector_id = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="The connector (1.6); 2.0.1: the EVSE, or with `evse_id` the connector within it.",
    )
    evse_id = evse_field()

    def build(self, station: Station) -> OutboundCall:
        data = self.validated_data
        return outbound.unlock(station.ocpp_version, connector_id=data["connector_id"], evse_id=data.get("evse_id"))


class AvailabilityRequestSerializer(TypedCommandRequestSerializer):
    status = serializers.ChoiceField(choices=["Operative", "Inoperative"])
    connector_id = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 1,
        default=0,
        help_text="0 (default): the whole station. 1.6: the connector; 2.0.1: the EVSE, or with `evse_id` the "
        "connector within it.",
    )
    evse_id = evse_field()

    def build(self, station: Station) -> OutboundCall:
        data = self.validated_data
        return outbound.change_availability(
            station.ocpp_version,
            operative=data["status"] == "Operative",
            connector_id=data["connector_id"],
            evse_id=data.get("evse_id"),
        )


# Variables: the device model of 2.0.1, the configuration keys of 1.6


class VariableRefSerializer(serializers.Serializer):
    """A variable's attribute (OCPP 2.0.1 component, variable, attributeType); for 1.6 the variable is the key."""

    component = serializers.CharField(
        max_length=50, required=False, default="", allow_blank=True, help_text="Required for OCPP 2.0.1."
    )
    component_instance = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    evse_id = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
    connector_id = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
    variable = serializers.CharField(max_length=50)
    variable_instance = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    attribute_type = serializers.ChoiceField(choices=DeviceModelVariable.AttributeType.values, default="Actual")

    def validate(self, attrs):
        if attrs.get("connector_id") is not None and attrs.get("evse_id") is None:
            raise serializers.ValidationError("connector_id is within an EVSE: give evse_id too.")
        return attrs

    def to_ref(self, data: dict) -> VariableRef:
        return VariableRef(**{name: data.get(name) for name in VARIABLE_REF_FIELDS if name in data})


VARIABLE_REF_FIELDS = (
    "component",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable",
    "variable_instance",
    "attribute_type",
)
# The GET form of a variable: Component[:instance][@evse[:connector]]/Variable[:instance][#AttributeType];
# "Variable" alone for a 1.6 configuration key.
VARIABLE_REF_PATTERN = re.compile(
    r"^(?:(?P<component>[^:@/#]+)(?::(?P<component_instance>[^@/#]+))?"
    r"(?:@(?P<evse_id>\d+)(?::(?P<connector_id>\d+))?)?/)?"
    r"(?P<variable>[^:/#]+)(?::(?P<variable_instance>[^/#]+))?(?:#(?P<attribute_type>\w+))?$"
)
VARIABLE_REF_HELP = (
    "A variable to read, repeatable: `Component[:instance][@evse[:connector]]/Variable[:instance][#AttributeType]`, "
    "e.g. `OCPPCommCtrlr/HeartbeatInterval`, `EVSE@1/AvailabilityState`, `DeviceDataCtrlr/ItemsPerMessage:"
    "GetVariables`; a 1.6 station's configuration key alone, e.g. `HeartbeatInterval`."
)


def variable_refs_parse(texts: list[str]) -> list[VariableRef]:
    """The ``variable`` query parameters as refs, or ValidationError naming the one that does not parse."""
    if not texts:
        raise serializers.ValidationError({"variable": ["Name at least one variable."]})
    refs = []
    for text in texts:
        match = VARIABLE_REF_PATTERN.match(text)
        fields = {name: value for name, value in (match.groupdict() if match else {}).items() if value is not None}
        serializer = VariableRefSerializer(data=fields)
        if match is None or not serializer.is_valid():
            raise serializers.ValidationError({"variable": [f"{text!r} is not {VARIABLE_REF_HELP.split(':')[0]}."]})
        refs.append(serializer.to_ref(serializer.validated_data))
    return refs


def variables_check(station: Station, refs: list[VariableRef]) -> None:
    if station.ocpp_version != "1.6" and not all(ref.component for ref in refs):
        raise serializers.ValidationError("An OCPP 2.0.1 variable belongs to a component: name it.")


class VariableWriteSerializer(VariableRefSerializer):
    value = serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False)


class VariablesSetRequestSerializer(serializers.Serializer):
    variables = VariableWriteSerializer(many=True, min_length=1, max_length=500)
    timeout = timeout_field()

    def refs_and_values(self) -> list[tuple[VariableRef, str]]:
        writer = VariableWriteSerializer()
        return [(writer.to_ref(item), item["value"]) for item in self.validated_data["variables"]]


class VariableResultSerializer(serializers.Serializer):
    component = serializers.CharField(source="ref.component")
    component_instance = serializers.CharField(source="ref.component_instance")
    evse_id = serializers.IntegerField(source="ref.evse_id", allow_null=True)
    connector_id = serializers.IntegerField(source="ref.connector_id", allow_null=True)
    variable = serializers.CharField(source="ref.variable")
    variable_instance = serializers.CharField(source="ref.variable_instance")
    attribute_type = serializers.CharField(source="ref.attribute_type")
    status = serializers.CharField(
        help_text="The station's word (Accepted, Rejected, UnknownComponent, UnknownVariable, "
        "NotSupportedAttributeType, RebootRequired: accepted, in effect after a reboot), or the command's outcome "
        "when its message was not answered (offline, timeout, call_error...)."
    )
    value = serializers.CharField(allow_null=True, help_text="The value read (GetVariables).")
    reason = serializers.CharField(help_text="The station's reason, or why the message was not answered.")
    command = serializers.IntegerField(source="command_id", allow_null=True, help_text="The command that carried it.")


class VariablesResponseSerializer(serializers.Serializer):
    results = VariableResultSerializer(many=True, help_text="One per variable asked, in the order asked.")
    commands = serializers.SerializerMethodField(help_text="The ids of the commands that carried them.")

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_commands(self, outcome) -> list[int]:
        return [command.pk for command in outcome.commands]


class ReportRequestSerializer(serializers.Serializer):
    base = serializers.ChoiceField(
        choices=list(outbound.REPORT_BASES),
        default="FullInventory",
        help_text="OCPP 2.0.1 GetBaseReport's reportBase (1.6: GetConfiguration of all keys).",
    )
    criteria = serializers.ListField(
        child=serializers.ChoiceField(choices=list(outbound.REPORT_CRITERIA)),
        required=False,
        max_length=4,
        help_text="OCPP 2.0.1 GetReport's componentCriteria.",
    )
    variables = VariableRefSerializer(
        many=True, required=False, max_length=500, help_text="OCPP 2.0.1 GetReport's componentVariable."
    )
    timeout = timeout_field()

    def to_call(self, station: Station) -> OutboundCall:
        data = self.validated_data
        writer = VariableRefSerializer()
        refs = [writer.to_ref(item) for item in data.get("variables", [])]
        variables_check(station, refs)
        try:
            return outbound.report(
                station.ocpp_version,
                request_id=secrets.randbelow(2**31 - 1) + 1,
                base=data["base"],
                criteria=data.get("criteria", []),
                variables=refs,
            )
        except outbound.Unsupported as error:
            raise serializers.ValidationError(str(error)) from error


class PasswordRotationRequestSerializer(serializers.Serializer):
    timeout = timeout_field()


class PasswordRotationSerializer(serializers.Serializer):
    """The outcome of a password rotation; the new password itself is never shown nor stored in clear."""

    adopted = serializers.BooleanField(
        help_text="True: the station accepted the new password, its old one is refused from now on. False: the old "
        "one stays."
    )
    detail = serializers.CharField(help_text="What happened, for the operator.")
    command = StationCommandSerializer(help_text="The command that carried it (its password value redacted).")
