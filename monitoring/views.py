"""Operator portal pages of monitoring: alerts, maintenance jobs (one station's, from its page, or many at once),
firmware files; and the stations' side of maintenance (firmware downloads, diagnostics uploads by token)."""

import logging
import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import role_required, user_has_role
from monitoring import alerts, firmware_signing, maintenance, selectors
from monitoring.models import Alert, AlertEvent, FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations.app_settings import app_settings
from stations.models import Site, Station
from stations.selectors import station_models, stations_select
from stations.views import COMMAND_ROLES, VIEW_ROLES, paginate, query_without_page

logger = logging.getLogger(__name__)

Kind = MaintenanceJob.Kind


# Maintenance of one station, from its page


def _params_from_post(kind: str, data) -> dict:
    """The kind's parameters from a portal form: empty fields left out, lists from comma-separated text."""
    serializer = maintenance.PARAMS.get(kind)
    if serializer is None:
        return {}
    params = {}
    for name in serializer().fields:
        # A configuration value is taken as typed; anything else without surrounding blanks.
        value = data.get(name) if name == "value" else data.get(name, "").strip()
        if value in (None, ""):
            continue
        params[name] = [key for key in re.split(r"[\s,]+", value) if key] if name == "keys" else value
    if kind == Kind.CHANGE_CONFIGURATION and "value" not in params and "key" in params:
        params["value"] = ""
    return params


@require_POST
@role_required(*COMMAND_ROLES)
def station_command(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    kind = request.POST.get("kind", "")
    firmware = None
    if kind == Kind.FIRMWARE and request.POST.get("firmware"):
        firmware = FirmwareImage.objects.filter(pk=request.POST["firmware"]).first()
    try:
        job = maintenance.maintenance_job_create(
            kind=kind,
            stations=[station],
            params=_params_from_post(kind, request.POST),
            created_by=request.user,
            firmware=firmware,
        )
    except maintenance.MaintenanceError as error:
        messages.error(request, f"Nothing was sent. {error}")
        return redirect("stations:station", ocpp_id=station.ocpp_id)
    return redirect("stations:job", pk=job.pk)


# Alerts


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("open", "Open"), ("closed", "Closed"), ("all", "All")], required=False)
    kind = forms.ChoiceField(choices=[("", "All kinds"), *Alert.Kind.choices], required=False)
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="All sites")
    q = forms.CharField(required=False, max_length=100, label="Search")


@require_GET
@role_required(*VIEW_ROLES)
def alert_list(request):
    form = AlertFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.alerts_list(
        state=filters.get("state") or "open",
        kind=filters.get("kind", ""),
        site=filters.get("site"),
        search=filters.get("q", ""),
    )
    return render(
        request,
        "monitoring/alerts.html",
        {
            "form": form,
            "page": paginate(request, found, 50),
            "query": query_without_page(request),
        },
    )


@require_GET
@role_required(*VIEW_ROLES)
def alert_detail(request, pk: int):
    alert = get_object_or_404(Alert.objects.select_related("station__site", "acknowledged_by", "transaction"), pk=pk)
    return render(
        request,
        "monitoring/alert_detail.html",
        {
            "alert": alert,
            "events": AlertEvent.objects.filter(alert=alert).select_related("actor"),
            "deliveries": alert.deliveries.select_related("channel"),
            "can_command": user_has_role(request.user, *COMMAND_ROLES),
            "resolvable": alert.is_open and alert.kind not in alerts.EVALUATED_KINDS,
        },
    )


@require_POST
@role_required(*COMMAND_ROLES)
def alert_acknowledge(request, pk: int):
    alert = get_object_or_404(Alert, pk=pk)
    alerts.alert_acknowledge(alert=alert, user=request.user, note=request.POST.get("note", "")[:255])
    return redirect("stations:alert", pk=alert.pk)


@require_POST
@role_required(*COMMAND_ROLES)
def alert_resolve(request, pk: int):
    alert = get_object_or_404(Alert, pk=pk)
    try:
        alerts.alert_resolve(alert=alert, user=request.user, note=request.POST.get("note", "")[:255])
    except ValueError as error:
        messages.error(request, str(error))
    return redirect("stations:alert", pk=alert.pk)


# Maintenance jobs


class JobFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "All commands"), *Kind.choices], required=False)
    status = forms.ChoiceField(choices=[("", "All statuses"), *MaintenanceJob.Status.choices], required=False)


@require_GET
@role_required(*VIEW_ROLES)
def job_list(request):
    form = JobFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.jobs_list(kind=filters.get("kind", ""), status=filters.get("status", ""))
    return render(
        request,
        "monitoring/jobs.html",
        {
            "form": form,
            "page": paginate(request, found, 30),
            "query": query_without_page(request),
            "can_command": user_has_role(request.user, *COMMAND_ROLES),
        },
    )


class BulkJobForm(forms.Form):
    kind = forms.ChoiceField(choices=Kind.choices)
    stations = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Station ids, separated by commas or spaces.",
    )
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="Any site")
    vendor = forms.CharField(required=False, max_length=50)
    model = forms.CharField(required=False, max_length=50)
    online_only = forms.BooleanField(required=False, label="Only stations connected now")
    firmware = forms.ModelChoiceField(FirmwareImage.objects.all(), required=False, empty_label="(no firmware)")

    def clean(self):
        data = super().clean()
        ids = [item for item in re.split(r"[\s,]+", data.get("stations", "")) if item]
        if not (ids or data.get("site") or data.get("vendor") or data.get("model")):
            raise forms.ValidationError("Name the stations, or choose a site, a vendor or a model.")
        unknown = sorted(set(ids) - set(Station.objects.filter(ocpp_id__in=ids).values_list("ocpp_id", flat=True)))
        if unknown:
            raise forms.ValidationError(f"Unknown stations: {', '.join(unknown)}.")
        data["ids"] = ids
        return data

    def selected(self):
        data = self.cleaned_data
        return stations_select(
            ocpp_ids=data["ids"],
            site=data.get("site"),
            vendor=data.get("vendor", ""),
            model=data.get("model", ""),
            online_only=data.get("online_only", False),
        )


@require_http_methods(["GET", "POST"])
@role_required(*COMMAND_ROLES)
def job_new(request):
    form = BulkJobForm(request.POST or None, initial=request.GET.dict())
    errors = []
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        try:
            job = maintenance.maintenance_job_create(
                kind=kind,
                stations=form.selected(),
                params=_params_from_post(kind, request.POST),
                created_by=request.user,
                firmware=form.cleaned_data.get("firmware") if kind == Kind.FIRMWARE else None,
            )
        except maintenance.MaintenanceError as error:
            errors = [f"{name}: {' '.join(map(str, problems))}" for name, problems in error.errors.items()]
        else:
            return redirect("stations:job", pk=job.pk)
    return render(
        request,
        "monitoring/job_new.html",
        {
            "form": form,
            "errors": errors,
            "models": station_models(),
            "triggerable": maintenance.TRIGGERABLE_16,
        },
        status=400 if request.method == "POST" else 200,
    )


def _job_context(request, job: MaintenanceJob) -> dict:
    targets = list(selectors.job_targets(job=job))
    for target in targets:
        target.percent = maintenance.target_percent(target)
    done = sum(1 for target in targets if target.is_finished)
    return {
        "job": job,
        "targets": targets,
        "done": done,
        "total": len(targets),
        "percent": round(sum(target.percent for target in targets) / len(targets)) if targets else 100,
        "can_command": user_has_role(request.user, *COMMAND_ROLES),
    }


def _job(pk: int) -> MaintenanceJob:
    job = get_object_or_404(MaintenanceJob.objects.select_related("firmware", "created_by"), pk=pk)
    maintenance.maintenance_jobs_refresh(job=job)
    return job


@require_GET
@role_required(*VIEW_ROLES)
def job_detail(request, pk: int):
    return render(request, "monitoring/job_detail.html", _job_context(request, _job(pk)))


@require_GET
@role_required(*VIEW_ROLES)
def job_status(request, pk: int):
    """The job's progress for the page to poll while it runs."""
    context = _job_context(request, _job(pk))
    job = context["job"]
    return JsonResponse(
        {
            "status": job.status,
            "status_display": job.get_status_display(),
            "finished": job.is_finished,
            "done": context["done"],
            "total": context["total"],
            "percent": context["percent"],
            "targets": render_to_string("monitoring/_job_targets.html", context, request=request),
        }
    )


@require_POST
@role_required(*COMMAND_ROLES)
def job_cancel(request, pk: int):
    job = get_object_or_404(MaintenanceJob, pk=pk)
    maintenance.maintenance_job_cancel(job=job, user=request.user)
    return redirect("stations:job", pk=job.pk)


@require_GET
@role_required(*COMMAND_ROLES)
def diagnostics_download(request, pk: int):
    target = get_object_or_404(MaintenanceTarget.objects.select_related("station"), pk=pk)
    if not target.file:
        raise Http404("No file was uploaded.")
    return FileResponse(target.file.open("rb"), as_attachment=True, filename=target.file_name or "diagnostics")


# Firmware files


class FirmwareForm(forms.Form):
    name = forms.CharField(max_length=120)
    version = forms.CharField(
        max_length=50, help_text="As the station reports it in BootNotification once it runs this firmware."
    )
    vendor = forms.CharField(max_length=50, required=False, help_text="Refused for stations of another vendor.")
    model = forms.CharField(max_length=50, required=False, help_text="Refused for stations of another model.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField()
    signing_certificate = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Signed firmware: the vendor's signing certificate (PEM).",
    )
    signature = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Signed firmware: the signature of the file's SHA-256 (base64). Checked against the file.",
    )
    sign = forms.BooleanField(required=False, label="Sign with our key", help_text="Instead of a vendor signature.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not firmware_signing.signing_configured():
            del self.fields["sign"]


@require_http_methods(["GET", "POST"])
@role_required(*VIEW_ROLES)
def firmware_list(request):
    can_upload = user_has_role(request.user, *COMMAND_ROLES)
    form = FirmwareForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not can_upload:
            raise PermissionDenied("Your role does not allow this.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                image = maintenance.firmware_upload(
                    file=data["file"],
                    name=data["name"],
                    version=data["version"],
                    vendor=data["vendor"],
                    model=data["model"],
                    notes=data["notes"],
                    signing_certificate=data["signing_certificate"],
                    signature=data["signature"],
                    sign=data.get("sign", False),
                    uploaded_by=request.user,
                )
            except maintenance.MaintenanceError as error:
                for field, problems in error.errors.items():
                    form.add_error(field if field in form.fields else "file", " ".join(map(str, problems)))
            else:
                signed = ", signature verified" if image.is_signed else ""
                messages.success(request, f"{image} uploaded (SHA-256 {image.sha256}{signed}).")
                return redirect("stations:firmware")
    return render(
        request,
        "monitoring/firmware.html",
        {
            "form": form,
            "images": FirmwareImage.objects.select_related("uploaded_by"),
            "can_upload": can_upload,
            "max_bytes": app_settings.FIRMWARE_MAX_BYTES,
        },
        status=400 if form.errors else 200,
    )


# The stations' side: no session, no CSRF (a charger is no browser); the token in the URL is the credential.


@require_http_methods(["GET", "HEAD"])
def firmware_download(request, ocpp_id: str, token: str, filename: str):
    try:
        download = maintenance.firmware_download_open(ocpp_id=ocpp_id, token=token)
    except maintenance.FileRefused as refused:
        return HttpResponse(str(refused), status=refused.status, content_type="text/plain; charset=utf-8")
    firmware = download.firmware
    try:
        handle = firmware.file.open("rb")
    except FileNotFoundError:
        logger.error("firmware file missing", extra={"firmware_id": firmware.pk, "path": firmware.file.name})
        return HttpResponse("The firmware file is missing.", status=404, content_type="text/plain; charset=utf-8")
    response = FileResponse(handle, as_attachment=True, filename=firmware.file_name)
    response["X-Checksum-SHA256"] = firmware.sha256
    return response


@csrf_exempt
@require_http_methods(["POST", "PUT"])
def diagnostics_upload(request, ocpp_id: str, token: str, filename: str = ""):
    """A station's diagnostics file: multipart/form-data (any file field), or the file as the raw body."""
    try:
        length = int(request.headers.get("Content-Length") or 0) or None
    except ValueError:
        length = None
    raw = None
    try:
        maintenance.diagnostics_upload_check(ocpp_id=ocpp_id, token=token, size=length)
        if request.content_type == "multipart/form-data":
            upload = next(iter(request.FILES.values()), None)  # Django closes these with the request
            if upload is None:
                return HttpResponse("No file in the form.", status=400, content_type="text/plain; charset=utf-8")
            name = filename or upload.name
        else:
            upload = raw = _raw_body_file(request)
            name = filename or "diagnostics.log"
        if not upload.size:
            return HttpResponse("The file is empty.", status=400, content_type="text/plain; charset=utf-8")
        maintenance.diagnostics_upload_receive(ocpp_id=ocpp_id, token=token, file=upload, name=name)
    except maintenance.FileRefused as refused:
        return HttpResponse(str(refused), status=refused.status, content_type="text/plain; charset=utf-8")
    finally:
        if raw is not None:
            raw.close()
    return HttpResponse(status=201)


def _raw_body_file(request):
    """The request body as an uploaded file, read in chunks and cut off past the size limit (413)."""
    limit = app_settings.DIAGNOSTICS_MAX_BYTES
    spooled = TemporaryUploadedFile("diagnostics", "application/octet-stream", 0, None)
    size = 0
    while chunk := request.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            spooled.close()
            raise maintenance.FileRefused(413, f"The file is larger than {limit} bytes.")
        spooled.write(chunk)
    spooled.size = size
    spooled.seek(0)
    return spooled
