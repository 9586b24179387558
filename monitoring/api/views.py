"""REST API of remote maintenance and alerts: /api/maintenance/jobs/, /api/firmware/, /api/alerts/.

Jobs run in a Celery worker: creating one answers 202 with the job to poll at its ``url`` until its
``status`` is final. Technicians and operator admins run them; analysts read them.
"""

from django.db.models import ProtectedError
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.permissions import role_permission
from accounts.roles import Role, user_has_role
from monitoring import alerts, maintenance
from monitoring.models import Alert, AlertEvent, FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations import selectors
from stations.models import Site, Station

COMMAND_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN)
CommandOrRead = role_permission(*COMMAND_ROLES, read_only=(Role.ANALYST,))


# Serializers


class MaintenanceTargetSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.ocpp_id", read_only=True)
    percent = serializers.SerializerMethodField(help_text="How far this station has come, 0 to 100.")
    command_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="The StationCommand sent.")
    diagnostics_url = serializers.SerializerMethodField(help_text="Where to download the uploaded diagnostics.")

    class Meta:
        model = MaintenanceTarget
        fields = [
            "station", "status", "detail", "progress", "progress_at", "percent", "command_id", "result", "downloads",
            "downloaded_at", "file_name", "file_size", "file_received_at", "diagnostics_url", "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_percent(self, target) -> int:
        return maintenance.target_percent(target)

    def get_diagnostics_url(self, target) -> str | None:
        if not target.file:
            return None
        request = self.context["request"]
        return request.build_absolute_uri(
            reverse("maintenance-job-diagnostics", kwargs={"pk": target.job_id, "station_id": target.station.ocpp_id})
        )


class MaintenanceJobSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="maintenance-job-detail")
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    firmware = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    targets = MaintenanceTargetSerializer(many=True, read_only=True)
    counts = serializers.SerializerMethodField(help_text="Stations per target status.")

    class Meta:
        model = MaintenanceJob
        fields = [
            "id", "url", "kind", "params", "firmware", "status", "counts", "targets", "created_by", "created_at",
            "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_counts(self, job) -> dict[str, int]:
        counts = {}
        for target in job.targets.all():
            counts[target.status] = counts.get(target.status, 0) + 1
        return counts


class StationSelectorSerializer(serializers.Serializer):
    site = serializers.SlugRelatedField(slug_field="name", queryset=Site.objects.all(), required=False)
    vendor = serializers.CharField(max_length=50, required=False, allow_blank=True)
    model = serializers.CharField(max_length=50, required=False, allow_blank=True)
    online_only = serializers.BooleanField(default=False)


class MaintenanceJobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(MaintenanceJob.Kind.choices)
    params = serializers.JSONField(
        default=dict,
        help_text="By kind: reset {type: Soft|Hard}; unlock {connector_id}; change_availability {connector_id (0: "
        "station), type: Operative|Inoperative}; get_configuration {keys?}; change_configuration {key, value}; "
        "trigger_message {requested_message, connector_id?}; clear_cache {}; diagnostics {start_time?, stop_time?, "
        "retries?, retry_interval?}; firmware {retrieve_date?, retries?, retry_interval?, allow_model_mismatch?}. "
        "Each also takes timeout (seconds a station has to answer).",
    )
    stations = serializers.ListField(
        child=serializers.CharField(max_length=48), required=False, default=list, max_length=10_000,
        help_text="Station ids.",
    )
    selector = StationSelectorSerializer(
        required=False, help_text="Or all stations of a site, a vendor, a model (combined with `stations`: both)."
    )
    firmware = serializers.PrimaryKeyRelatedField(
        queryset=FirmwareImage.objects.all(), required=False, allow_null=True, help_text="For kind firmware."
    )

    def validate(self, attrs):
        ids, selector = attrs.get("stations") or [], attrs.get("selector") or {}
        if not ids and not any(selector.get(name) for name in ("site", "vendor", "model")):
            raise serializers.ValidationError({"stations": "Name the stations, or select them by site, vendor, model."})
        known = set(Station.objects.filter(ocpp_id__in=ids).values_list("ocpp_id", flat=True))
        unknown = sorted(set(ids) - known)
        if unknown:
            raise serializers.ValidationError({"stations": f"Unknown stations: {', '.join(unknown[:20])}."})
        attrs["selected"] = list(
            selectors.stations_select(
                ocpp_ids=ids, site=selector.get("site"), vendor=selector.get("vendor", ""),
                model=selector.get("model", ""), online_only=selector.get("online_only", False),
            )
        )
        if not attrs["selected"]:
            raise serializers.ValidationError({"stations": "No station matches."})
        return attrs


class FirmwareImageSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    file = serializers.FileField(write_only=True, help_text="The firmware file (multipart/form-data).")

    class Meta:
        model = FirmwareImage
        fields = ["id", "name", "version", "vendor", "model", "notes", "file", "size", "sha256", "uploaded_by",
                  "created_at"]
        read_only_fields = ["size", "sha256", "uploaded_by", "created_at"]


class AlertEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = AlertEvent
        fields = ["kind", "message", "data", "actor", "at"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="alert-detail")
    station = serializers.CharField(source="station.ocpp_id", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    transaction_id = serializers.IntegerField(read_only=True, allow_null=True)
    timeline = AlertEventSerializer(source="events", many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id", "url", "station", "kind", "severity", "subject", "connector_id", "transaction_id", "summary",
            "details", "opened_at", "closed_at", "close_reason", "acknowledged_at", "acknowledged_by", "timeline",
        ]
        read_only_fields = fields


class AlertNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)


# Views


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
                kind=data["kind"], stations=data["selected"], params=data["params"], created_by=request.user,
                firmware=data.get("firmware"),
            )
        except maintenance.MaintenanceError as error:
            raise serializers.ValidationError(
                {"params" if name not in ("stations", "firmware", "kind") else name: problems
                 for name, problems in error.errors.items()}
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
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
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


router = SimpleRouter(use_regex_path=False)  # typed path converters: /jobs/abc/ is 404
router.register("maintenance/jobs", MaintenanceJobViewSet, basename="maintenance-job")
router.register("firmware", FirmwareImageViewSet, basename="firmware-image")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = router.urls
