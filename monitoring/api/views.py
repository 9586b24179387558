"""REST API of remote maintenance and alerts: /api/maintenance/jobs/, /api/firmware/, /api/alerts/ (routes in ``urls``).

Jobs run in a Celery worker: creating one answers 202 with the job to poll at its ``url`` until its
``status`` is final. Technicians and operator admins run them; analysts read them.
"""

from django.db.models import ProtectedError
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.permissions import role_permission
from accounts.roles import Role, user_has_role
from monitoring import alerts, maintenance, selectors
from monitoring.api.serializers import (
    AlertNoteSerializer,
    AlertSerializer,
    FirmwareImageSerializer,
    MaintenanceJobCreateSerializer,
    MaintenanceJobSerializer,
)
from monitoring.models import Alert, FirmwareImage, MaintenanceJob, MaintenanceTarget

COMMAND_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN)
CommandOrRead = role_permission(*COMMAND_ROLES, read_only=(Role.ANALYST,))


JOB_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=MaintenanceJob.Status.values),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=MaintenanceJob.Kind.values),
    OpenApiParameter("station", OpenApiTypes.STR, description="Only jobs that include this station."),
]


@extend_schema_view(
    list=extend_schema(summary="Maintenance jobs, newest first", parameters=JOB_FILTERS),
    retrieve=extend_schema(
        summary="A maintenance job with the outcome per station",
        description="Firmware updates and diagnostics uploads are followed from the stations' status notifications; "
        "`status` is final once every station's is.",
    ),
)
class MaintenanceJobViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [CommandOrRead]
    serializer_class = MaintenanceJobSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        jobs = MaintenanceJob.objects.select_related("created_by").prefetch_related("targets__station")
        params = self.request.query_params
        for name in ("status", "kind"):
            if params.get(name):
                jobs = jobs.filter(**{name: params[name]})
        if params.get("station"):
            jobs = jobs.filter(targets__station__ocpp_id=params["station"])
        return jobs.order_by("-created_at", "-pk")

    def get_object(self):
        job = super().get_object()
        maintenance.maintenance_jobs_refresh(job=job)
        return self.get_queryset().get(pk=job.pk)

    @extend_schema(
        summary="Run a maintenance command on one or many stations",
        description="Answers 202 with the queued job; poll its `url` for each station's outcome. A station that is "
        "offline fails at once (`offline`); one that does not answer in time ends `timeout`.",
        request=MaintenanceJobCreateSerializer,
        responses={202: MaintenanceJobSerializer, 400: OpenApiResponse(description="Field errors.")},
    )
    def create(self, request, *args, **kwargs):
        serializer = MaintenanceJobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            job = maintenance.maintenance_job_create(
                kind=data["kind"],
                stations=data["selected"],
                params=data["params"],
                created_by=request.user,
                firmware=data.get("firmware"),
            )
        except maintenance.MaintenanceError as error:
            raise serializers.ValidationError(
                {
                    "params" if name not in ("stations", "firmware", "kind") else name: problems
                    for name, problems in error.errors.items()
                }
            ) from error
        job = self.get_queryset().get(pk=job.pk)
        response = Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = response.data["url"]
        return response

    @extend_schema(summary="Cancel what has not been sent yet, and stop waiting for stations", request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        maintenance.maintenance_job_cancel(job=job, user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=job.pk)).data)

    @extend_schema(
        summary="Download the diagnostics a station uploaded",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="None.")},
    )
    @action(detail=True, methods=["get"], url_path="targets/<str:station_id>/diagnostics")
    def diagnostics(self, request, pk=None, station_id=None):
        if not user_has_role(request.user, *COMMAND_ROLES):
            self.permission_denied(request, message="Your role does not allow this.")
        target = MaintenanceTarget.objects.filter(job_id=pk, station__ocpp_id=station_id).first()
        if target is None or not target.file:
            raise Http404("No diagnostics were uploaded.")
        return FileResponse(target.file.open("rb"), as_attachment=True, filename=target.file_name or "diagnostics")


@extend_schema_view(
    list=extend_schema(summary="Firmware files uploaded for updates"),
    retrieve=extend_schema(summary="A firmware file's details"),
    create=extend_schema(summary="Upload a firmware file (multipart/form-data)"),
    destroy=extend_schema(summary="Delete a firmware file no job has used (409 otherwise)"),
)
class FirmwareImageViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CommandOrRead]
    serializer_class = FirmwareImageSerializer
    lookup_value_converter = "int"
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    queryset = FirmwareImage.objects.select_related("uploaded_by").order_by("-created_at")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        try:
            serializer.instance = maintenance.firmware_upload(
                file=data.pop("file"), uploaded_by=self.request.user, **data
            )
        except maintenance.MaintenanceError as error:
            raise serializers.ValidationError(error.errors) from error

    def destroy(self, request, *args, **kwargs):
        image = self.get_object()
        try:
            image.delete()
        except ProtectedError:
            return Response({"detail": "Jobs used this firmware; it is kept."}, status=status.HTTP_409_CONFLICT)
        image.file.delete(save=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


ALERT_FILTERS = [
    OpenApiParameter("state", OpenApiTypes.STR, enum=["open", "closed", "all"], description="Default open."),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=Alert.Kind.values),
    OpenApiParameter("station", OpenApiTypes.STR, description="A station's id."),
]


@extend_schema_view(
    list=extend_schema(summary="Alerts, newest first (open ones by default)", parameters=ALERT_FILTERS),
    retrieve=extend_schema(summary="An alert with its timeline"),
)
class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [CommandOrRead]
    serializer_class = AlertSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        params = self.request.query_params
        found = selectors.alerts_list(state=params.get("state", "open"), kind=params.get("kind", "")).prefetch_related(
            "events__actor"
        )
        if self.action != "list":
            found = Alert.objects.select_related("station", "acknowledged_by").prefetch_related("events__actor")
        if params.get("station"):
            found = found.filter(station__ocpp_id=params["station"])
        return found

    @extend_schema(summary="Acknowledge: someone is on it", request=AlertNoteSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        note = AlertNoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        alerts.alert_acknowledge(alert=alert, user=request.user, note=note.validated_data.get("note", ""))
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Resolve an alert that does not clear by itself (a security event)",
        request=AlertNoteSerializer,
        responses={200: AlertSerializer, 409: OpenApiResponse(description="It closes by itself when it clears.")},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        alert = self.get_object()
        note = AlertNoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        try:
            alerts.alert_resolve(alert=alert, user=request.user, note=note.validated_data.get("note", ""))
        except ValueError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(self.get_object()).data)
