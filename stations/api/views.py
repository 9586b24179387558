"""The stations API for integrators: register and update stations, read their live state, send them commands."""

from asgiref.sync import async_to_sync
from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import role_permission
from accounts.roles import Role
from stations import device_model
from stations.api.serializers import (
    VARIABLE_REF_HELP,
    AvailabilityRequestSerializer,
    PasswordRotationRequestSerializer,
    PasswordRotationSerializer,
    RemoteStartRequestSerializer,
    RemoteStopRequestSerializer,
    ReportRequestSerializer,
    ResetRequestSerializer,
    StationCallSerializer,
    StationCommandSerializer,
    StationCreateSerializer,
    StationSerializer,
    UnlockRequestSerializer,
    VariablesResponseSerializer,
    VariablesSetRequestSerializer,
    variable_refs_parse,
    variables_check,
)
from stations.models import Connector, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync
from stations.security import station_password_rotate

Status = StationCommand.Status

# The README's roles: technicians run stations and send commands; finance reads stations but not their commands;
# analysts read both.
StationAccess = role_permission(Role.OPERATOR_ADMIN, Role.TECHNICIAN, read_only=(Role.FINANCE, Role.ANALYST))
CommandAccess = role_permission(Role.OPERATOR_ADMIN, Role.TECHNICIAN, read_only=(Role.ANALYST,))
COMMAND_ACTIONS = {
    "calls",
    "remote_start",
    "remote_stop",
    "reset",
    "unlock",
    "availability",
    "report",
    "password_rotation",
}
# Reading variables asks the station: a command, not a read of ours.
VariablesAccess = role_permission(Role.OPERATOR_ADMIN, Role.TECHNICIAN)

# The HTTP status of each command outcome; the body is always the recorded command.
COMMAND_HTTP_STATUS = {
    Status.ANSWERED: status.HTTP_200_OK,
    Status.PENDING: status.HTTP_202_ACCEPTED,
    Status.INVALID: status.HTTP_400_BAD_REQUEST,
    Status.OFFLINE: status.HTTP_409_CONFLICT,
    Status.CALL_ERROR: status.HTTP_502_BAD_GATEWAY,
    Status.TIMEOUT: status.HTTP_504_GATEWAY_TIMEOUT,
    Status.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def outcome(description: str) -> OpenApiResponse:
    return OpenApiResponse(StationCommandSerializer, description=description)


COMMAND_RESPONSES = {
    200: outcome("answered: the station's CALLRESULT is in `response`."),
    400: outcome(
        "invalid: the action is not one the station's OCPP version takes, or the payload breaks its schema "
        "(`error_description` says where). Nothing was sent. (A malformed request gets field errors.)"
    ),
    409: outcome("offline: the station is not connected. Nothing was sent."),
    502: outcome(
        "call_error: the station answered with a CALLERROR (`error_code`, `error_description`, `response` = "
        "errorDetails), or with an answer that breaks the schema (`error_code` InvalidResponse)."
    ),
    504: outcome("timeout: the station did not answer in time."),
    503: outcome(
        "unavailable: the channel layer (Redis) that carries commands to the station's server is unreachable "
        "(`error_description` says why). Nothing was sent; try again once it is back."
    ),
}
TYPED_RESPONSES = {
    **COMMAND_RESPONSES,
    400: OpenApiResponse(
        description="Field errors, or what the station's OCPP version cannot do (e.g. an EVSE for 1.6), with the "
        "reason; or as for /calls/."
    ),
}
VARIABLES_RESPONSES = {
    **TYPED_RESPONSES,
    200: OpenApiResponse(
        VariablesResponseSerializer,
        description="The station answered (at least its first message): each variable's result in the order asked.",
    ),
    409: outcome("offline: the station is not connected. Nothing was sent (the body: the first command)."),
}
STATION_FILTERS = [
    OpenApiParameter("is_online", OpenApiTypes.BOOL, description="Only stations connected (true) or not (false)."),
    OpenApiParameter("site", OpenApiTypes.STR, description="Only the stations of the site with this name."),
    OpenApiParameter("registration_status", OpenApiTypes.STR, enum=Station.RegistrationStatus.values),
]
COMMAND_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=Status.values),
    OpenApiParameter("action", OpenApiTypes.STR, description="An OCPP action, e.g. Reset."),
]


def command_response(command: StationCommand, request, http_status: int | None = None) -> Response:
    body = StationCommandSerializer(command, context={"request": request}).data
    return Response(body, status=http_status or COMMAND_HTTP_STATUS[command.status])


def filter_commands(queryset, params):
    for name in ("status", "action"):
        if params.get(name):
            queryset = queryset.filter(**{name: params[name]})
    return queryset


@extend_schema_view(
    list=extend_schema(summary="List stations with their live state", parameters=STATION_FILTERS),
    retrieve=extend_schema(summary="A station with its live state and connectors"),
    create=extend_schema(
        summary="Register a station", request=StationCreateSerializer, responses={201: StationSerializer}
    ),
    update=extend_schema(summary="Replace a station's settable fields (name, site, registration status, password)"),
    partial_update=extend_schema(summary="Change a station's password, name, site or registration status"),
)
class StationViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [StationAccess]
    lookup_field = "ocpp_id"
    lookup_url_kwarg = "ocpp_id"
    lookup_value_converter = "str"
    queryset = Station.objects.select_related("site").prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
    )

    def get_permissions(self):
        if self.action in COMMAND_ACTIONS:
            return [CommandAccess()]
        if self.action == "variables":
            return [VariablesAccess()]
        return super().get_permissions()

    def get_serializer_class(self):
        return StationCreateSerializer if self.action == "create" else StationSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        params = self.request.query_params
        if params.get("is_online") in ("true", "false"):
            queryset = queryset.filter(is_online=params["is_online"] == "true")
        if params.get("site"):
            queryset = queryset.filter(site__name=params["site"])
        if params.get("registration_status"):
            queryset = queryset.filter(registration_status=params["registration_status"])
        return queryset

    def _send(self, request, station: Station, action_name: str, payload: dict, timeout=None) -> StationCommand:
        return station_call_sync(
            station=station, action=action_name, payload=payload, requested_by=request.user, timeout=timeout
        )

    @extend_schema(
        methods=["POST"],
        summary="Send any CSMS-initiated action to the station and wait for its answer",
        description="The payload is checked against the official JSON schema of the station's OCPP version, "
        "then the call travels to the process holding the station's socket. The body is always the recorded "
        "command; the status code tells its outcome: 200 answered, 400 invalid, 409 offline, 502 call_error, "
        "503 unavailable, 504 timeout.",
        request=StationCallSerializer,
        responses=COMMAND_RESPONSES,
    )
    @extend_schema(
        methods=["GET"],
        summary="The commands sent to the station, newest first",
        parameters=COMMAND_FILTERS,
        responses=StationCommandSerializer(many=True),
    )
    @action(detail=True, methods=["get", "post"])
    def calls(self, request, ocpp_id=None):
        station = self.get_object()
        if request.method == "GET":
            commands = filter_commands(station.commands.select_related("station", "requested_by"), request.query_params)
            page = self.paginate_queryset(commands)
            data = StationCommandSerializer(page, many=True, context={"request": request}).data
            return self.get_paginated_response(data)
        call = StationCallSerializer(data=request.data)
        call.is_valid(raise_exception=True)
        data = call.validated_data
        command = self._send(request, station, data["action"], data["payload"], data.get("timeout"))
        return command_response(command, request)

    def _typed(self, request, serializer_class):
        station = self.get_object()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        action_name, payload = serializer.to_call(station)
        command = self._send(request, station, action_name, payload, serializer.validated_data.get("timeout"))
        return serializer, command

    @extend_schema(
        summary="Start a charging session remotely",
        description="Sends RemoteStartTransaction (2.0.1: RequestStartTransaction). When the station accepts, "
        "waits up to `wait` seconds for it to start the session and answers 200 with `transaction_id`; without a "
        "session by then, 202 with the command to poll at its `url` (the `Location` header) until "
        "`transaction_id` appears. A station that rejects answers 200 with `response.status` Rejected.",
        request=RemoteStartRequestSerializer,
        responses={
            **TYPED_RESPONSES,
            202: outcome("Accepted by the station, the session not started yet."),
        },
    )
    @action(detail=True, methods=["post"], url_path="remote-start")
    def remote_start(self, request, ocpp_id=None):
        serializer, command = self._typed(request, RemoteStartRequestSerializer)
        if command.status != Status.ANSWERED or not outbound.answer_of(command.station.ocpp_version, command).accepted:
            return command_response(command, request)
        wait = serializer.validated_data["wait"]
        if async_to_sync(outbound.remote_start_session_wait)(command=command, wait=wait):
            return command_response(command, request)
        response = command_response(command, request, status.HTTP_202_ACCEPTED)
        response["Location"] = request.build_absolute_uri(reverse("station-command-detail", args=[command.pk]))
        return response

    @extend_schema(
        summary="Stop a charging session remotely",
        description="Sends RemoteStopTransaction (2.0.1: RequestStopTransaction); `response.status` is the "
        "station's Accepted or Rejected.",
        request=RemoteStopRequestSerializer,
        responses=TYPED_RESPONSES,
    )
    @action(detail=True, methods=["post"], url_path="remote-stop")
    def remote_stop(self, request, ocpp_id=None):
        return command_response(self._typed(request, RemoteStopRequestSerializer)[1], request)

    @extend_schema(
        summary="Reset the station (2.0.1: or one EVSE), at once or once idle",
        description="Sends Reset: 1.6 Hard / Soft, 2.0.1 Immediate / OnIdle (either version's word is taken).",
        request=ResetRequestSerializer,
        responses=TYPED_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def reset(self, request, ocpp_id=None):
        return command_response(self._typed(request, ResetRequestSerializer)[1], request)

    @extend_schema(summary="Unlock a connector", request=UnlockRequestSerializer, responses=TYPED_RESPONSES)
    @action(detail=True, methods=["post"])
    def unlock(self, request, ocpp_id=None):
        return command_response(self._typed(request, UnlockRequestSerializer)[1], request)

    @extend_schema(
        summary="Put the station, an EVSE or a connector in or out of service",
        description="Sends ChangeAvailability; `response.status` is Accepted, Scheduled (once the session in "
        "progress ends) or Rejected.",
        request=AvailabilityRequestSerializer,
        responses=TYPED_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def availability(self, request, ocpp_id=None):
        return command_response(self._typed(request, AvailabilityRequestSerializer)[1], request)

    @extend_schema(
        summary="Ask the station for a report of its device model (1.6: its configuration)",
        description="2.0.1: GetBaseReport, or GetReport when `criteria` or `variables` narrow it; the station "
        "sends the report in NotifyReport parts, stored as they come. 1.6: GetConfiguration of all keys.",
        request=ReportRequestSerializer,
        responses=TYPED_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def report(self, request, ocpp_id=None):
        return command_response(self._typed(request, ReportRequestSerializer)[1], request)

    @extend_schema(
        methods=["GET"],
        summary="Read variables from the station (2.0.1 GetVariables, 1.6 GetConfiguration)",
        description="As many messages as the station's DeviceDataCtrlr.ItemsPerMessage and BytesPerMessage "
        "require; values read refresh the stored device model.",
        parameters=[
            OpenApiParameter("variable", OpenApiTypes.STR, many=True, required=True, description=VARIABLE_REF_HELP)
        ],
        responses=VARIABLES_RESPONSES,
    )
    @extend_schema(
        methods=["POST"],
        summary="Set variables on the station (2.0.1 SetVariables, 1.6 ChangeConfiguration)",
        description="Each variable's result says Accepted, Rejected, RebootRequired, UnknownVariable...; accepted "
        "values (RebootRequired too) update the stored device model.",
        request=VariablesSetRequestSerializer,
        responses=VARIABLES_RESPONSES,
    )
    @action(detail=True, methods=["get", "post"])
    def variables(self, request, ocpp_id=None):
        station = self.get_object()
        if request.method == "GET":
            refs = variable_refs_parse(request.query_params.getlist("variable"))
            variables_check(station, refs)
            found = device_model.variables_get_sync(station=station, variables=refs, requested_by=request.user)
        else:
            serializer = VariablesSetRequestSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            values = serializer.refs_and_values()
            variables_check(station, [ref for ref, _ in values])
            found = device_model.variables_set_sync(
                station=station,
                values=values,
                requested_by=request.user,
                timeout=serializer.validated_data.get("timeout"),
            )
        if found.failed_command is not None:
            return command_response(found.failed_command, request)
        return Response(VariablesResponseSerializer(found).data)

    @extend_schema(
        summary="Give the station a new random password (OCPP 1.6 and 2.0.1 use case A01)",
        description="Generates a strong password and sends it (1.6: ChangeConfiguration AuthorizationKey, "
        "hex-encoded; 2.0.1: SetVariables SecurityCtrlr.BasicAuthPassword). The moment the station answers "
        "Accepted (or RebootRequired) it is adopted: the station's next connection must use it, the old one is "
        "refused. Refused, timed out or not sent: the old password stays. The password is never returned nor "
        "stored in clear; the recorded command has its value redacted.",
        request=PasswordRotationRequestSerializer,
        responses={
            200: OpenApiResponse(PasswordRotationSerializer, description="Adopted."),
            409: OpenApiResponse(
                PasswordRotationSerializer, description="Not adopted: the station refused it, or is offline."
            ),
            502: OpenApiResponse(PasswordRotationSerializer, description="The station answered with a CALLERROR."),
            503: OpenApiResponse(PasswordRotationSerializer, description="Commands are unavailable (Redis)."),
            504: OpenApiResponse(PasswordRotationSerializer, description="The station did not answer in time."),
        },
    )
    @action(detail=True, methods=["post"], url_path="password-rotation")
    def password_rotation(self, request, ocpp_id=None):
        station = self.get_object()
        serializer = PasswordRotationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rotation = station_password_rotate(
            station=station, requested_by=request.user, timeout=serializer.validated_data.get("timeout")
        )
        command = rotation.command
        if rotation.adopted:
            http_status = status.HTTP_200_OK
        elif command.status == Status.ANSWERED:
            http_status = status.HTTP_409_CONFLICT
        else:
            http_status = COMMAND_HTTP_STATUS[command.status]
        body = PasswordRotationSerializer(rotation, context={"request": request}).data
        return Response(body, status=http_status)


@extend_schema_view(
    list=extend_schema(
        summary="Commands sent to stations, newest first",
        parameters=[OpenApiParameter("station", OpenApiTypes.STR, description="A station's id."), *COMMAND_FILTERS],
    ),
    retrieve=extend_schema(
        summary="One command and its outcome",
        description="For an accepted remote start, `transaction_id` appears once the station has started the "
        "session: poll here after a 202.",
    ),
)
class StationCommandViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [CommandAccess]
    lookup_value_converter = "int"
    serializer_class = StationCommandSerializer
    queryset = StationCommand.objects.select_related("station", "requested_by")

    def get_queryset(self):
        queryset = filter_commands(super().get_queryset(), self.request.query_params)
        if self.request.query_params.get("station"):
            queryset = queryset.filter(station__ocpp_id=self.request.query_params["station"])
        return queryset

    def retrieve(self, request, *args, **kwargs):
        command = self.get_object()
        outbound.remote_start_session(command=command)
        return command_response(command, request, status.HTTP_200_OK)
