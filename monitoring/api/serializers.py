"""Serializers of the monitoring API: maintenance jobs with their outcome per station, firmware files, alerts."""

from django.urls import reverse
from rest_framework import serializers

from monitoring import maintenance
from monitoring.models import Alert, AlertEvent, FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations.models import Site, Station
from stations.selectors import stations_select


class MaintenanceTargetSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.ocpp_id", read_only=True)
    percent = serializers.SerializerMethodField(help_text="How far this station has come, 0 to 100.")
    command_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="The StationCommand sent.")
    diagnostics_url = serializers.SerializerMethodField(help_text="Where to download the uploaded diagnostics.")

    class Meta:
        model = MaintenanceTarget
        fields = [
            "station",
            "status",
            "detail",
            "progress",
            "progress_at",
            "percent",
            "command_id",
            "result",
            "downloads",
            "downloaded_at",
            "file_name",
            "file_size",
            "file_received_at",
            "diagnostics_url",
            "started_at",
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
            "id",
            "url",
            "kind",
            "params",
            "firmware",
            "status",
            "counts",
            "targets",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
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
        "retries?, retry_interval?}; firmware {retrieve_date?, retries?, retry_interval?, allow_model_mismatch?, "
        "allow_unsigned?}. "
        "Each also takes timeout (seconds a station has to answer).",
    )
    stations = serializers.ListField(
        child=serializers.CharField(max_length=48),
        required=False,
        default=list,
        max_length=10_000,
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
            stations_select(
                ocpp_ids=ids,
                site=selector.get("site"),
                vendor=selector.get("vendor", ""),
                model=selector.get("model", ""),
                online_only=selector.get("online_only", False),
            )
        )
        if not attrs["selected"]:
            raise serializers.ValidationError({"stations": "No station matches."})
        return attrs


class FirmwareImageSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    file = serializers.FileField(write_only=True, help_text="The firmware file (multipart/form-data).")
    signing_certificate = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Signed firmware: the signing certificate (PEM)."
    )
    signature = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Signed firmware: the base64 signature of the file's SHA-256; refused (400) unless it verifies.",
    )
    sign = serializers.BooleanField(
        write_only=True, required=False, default=False, help_text="Sign with the configured key instead."
    )
    signed = serializers.BooleanField(source="is_signed", read_only=True)

    class Meta:
        model = FirmwareImage
        fields = [
            "id",
            "name",
            "version",
            "vendor",
            "model",
            "notes",
            "file",
            "size",
            "sha256",
            "signed",
            "signing_certificate",
            "signature",
            "sign",
            "uploaded_by",
            "created_at",
        ]
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
            "id",
            "url",
            "station",
            "kind",
            "severity",
            "subject",
            "connector_id",
            "transaction_id",
            "summary",
            "details",
            "opened_at",
            "closed_at",
            "close_reason",
            "acknowledged_at",
            "acknowledged_by",
            "timeline",
        ]
        read_only_fields = fields


class AlertNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)
