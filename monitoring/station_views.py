"""Operator pages of an OCPP 2.0.1 station's monitors, display messages and customer information requests.

Every command goes to the station at once and its answer is shown as a message (Accepted, Rejected,
NotSupported, ...); what the station accepted or reported is what the pages list. A 1.6 station is told
these are not in its version (``Unsupported``)."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import role_required, user_has_role
from monitoring import customer_information, device_monitoring, display_messages
from monitoring.alerts import monitor_alert_severity
from monitoring.commanding import Sent
from monitoring.models import CustomerInformationRequest, DisplayMessage, VariableMonitor
from stations.models import Station
from stations.protocol.outbound import Outcome, Unsupported
from stations.views import COMMAND_ROLES, VIEW_ROLES

SEVERITIES = [
    (0, "0 Danger"),
    (1, "1 Hardware failure"),
    (2, "2 System failure"),
    (3, "3 Critical"),
    (4, "4 Error"),
    (5, "5 Alert"),
    (6, "6 Warning"),
    (7, "7 Notice"),
    (8, "8 Informational"),
    (9, "9 Debug"),
]
MONITORING_BASES = [("All", "All"), ("FactoryDefault", "Factory default"), ("HardWiredOnly", "Hard-wired only")]
MONITORING_CRITERIA = [
    ("ThresholdMonitoring", "Threshold"),
    ("DeltaMonitoring", "Delta"),
    ("PeriodicMonitoring", "Periodic"),
]
TOKEN_TYPES = ["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]
HASH_ALGORITHMS = ["SHA256", "SHA384", "SHA512"]


def _show(request, sent: Sent) -> None:
    """The station's answer as a message: success when it accepted, a warning when it refused, an error when it
    did not answer at all."""
    if sent.answer is None:
        messages.error(request, sent.describe())
    elif sent.accepted:
        messages.success(request, sent.describe())
    elif sent.answer.outcome == Outcome.NOTHING_TO_DO:
        messages.info(request, sent.describe())
    else:
        messages.warning(request, sent.describe())


def _form_errors(request, form: forms.Form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        messages.error(request, f"{label.capitalize() + ': ' if label else ''}{' '.join(errors)}")


# Monitors


class MonitorForm(forms.Form):
    component = forms.CharField(max_length=50)
    component_instance = forms.CharField(max_length=50, required=False)
    evse_id = forms.IntegerField(min_value=1, required=False, label="EVSE")
    connector_id = forms.IntegerField(min_value=1, required=False, label="Connector")
    variable = forms.CharField(max_length=50)
    variable_instance = forms.CharField(max_length=50, required=False)
    type = forms.ChoiceField(choices=VariableMonitor.Type.choices)
    value = forms.DecimalField(max_digits=20, decimal_places=6)
    severity = forms.TypedChoiceField(choices=SEVERITIES, coerce=int, initial=5)
    transaction = forms.BooleanField(required=False, label="Only during a transaction")

    def clean(self):
        data = super().clean()
        if data.get("connector_id") and not data.get("evse_id"):
            raise forms.ValidationError("A connector is named within its EVSE: give the EVSE too.")
        return data


class MonitorClearForm(forms.Form):
    monitor_id = forms.IntegerField(min_value=0)


class MonitoringReportForm(forms.Form):
    criteria = forms.MultipleChoiceField(choices=MONITORING_CRITERIA, required=False)


class MonitoringBaseForm(forms.Form):
    base = forms.ChoiceField(choices=MONITORING_BASES)


class MonitoringLevelForm(forms.Form):
    severity = forms.TypedChoiceField(choices=SEVERITIES, coerce=int)


def _monitor_clear(*, monitor_id: int, **arguments) -> Sent:
    return device_monitoring.monitors_clear(monitor_ids=[monitor_id], **arguments)


MONITOR_ACTIONS = {
    "set": (MonitorForm, lambda data: device_monitoring.monitor_set(**data)),
    "clear": (MonitorClearForm, lambda data: _monitor_clear(**data)),
    "report": (MonitoringReportForm, lambda data: device_monitoring.monitoring_report_request(**data)),
    "base": (MonitoringBaseForm, lambda data: device_monitoring.monitoring_base_set(**data)),
    "level": (MonitoringLevelForm, lambda data: device_monitoring.monitoring_level_set(**data)),
}


@require_GET
@role_required(*VIEW_ROLES)
def station_monitors(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    return render(
        request,
        "monitoring/station_monitors.html",
        {
            "station": station,
            "monitors": VariableMonitor.objects.filter(station=station),
            "alert_severity": monitor_alert_severity(),
            "can_command": user_has_role(request.user, *COMMAND_ROLES),
            "form": MonitorForm(),
            "report_form": MonitoringReportForm(),
            "base_form": MonitoringBaseForm(),
            "level_form": MonitoringLevelForm(),
        },
    )


def _run(request, station: Station, actions: dict, action: str) -> None:
    if action not in actions:
        raise Http404(f"No such command: {action}")
    form_class, run = actions[action]
    form = form_class(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return
    try:
        _show(request, run({**form.cleaned_data, "station": station, "requested_by": request.user}))
    except Unsupported as error:
        messages.error(request, f"Nothing was sent. {error}")


@require_POST
@role_required(*COMMAND_ROLES)
def station_monitors_command(request, ocpp_id: str, action: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    _run(request, station, MONITOR_ACTIONS, action)
    return redirect("stations:station-monitors", ocpp_id=station.ocpp_id)


# Display messages


class DisplayMessageForm(forms.Form):
    content = forms.CharField(max_length=512, widget=forms.Textarea(attrs={"rows": 2}))
    priority = forms.ChoiceField(choices=DisplayMessage.Priority.choices, initial=DisplayMessage.Priority.NORMAL_CYCLE)
    state = forms.ChoiceField(choices=[("", "Any state"), *DisplayMessage.State.choices], required=False)
    format = forms.ChoiceField(choices=DisplayMessage.Format.choices, initial=DisplayMessage.Format.UTF8)
    language = forms.CharField(max_length=8, required=False, help_text="RFC 5646, e.g. en, nl-BE")
    starts_at = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        required=False, label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    transaction_id = forms.CharField(max_length=36, required=False, label="Only during transaction")
    message_id = forms.IntegerField(min_value=0, required=False, label="Replace message", help_text="Empty: a new one")

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise forms.ValidationError("The message must end after it starts.")
        return data


class DisplayMessageClearForm(forms.Form):
    message_id = forms.IntegerField(min_value=0)


DISPLAY_ACTIONS = {
    "set": (DisplayMessageForm, lambda data: display_messages.display_message_set(**data)),
    "clear": (DisplayMessageClearForm, lambda data: display_messages.display_message_clear(**data)),
    "refresh": (forms.Form, lambda data: display_messages.display_messages_request(**data)),
}


@require_GET
@role_required(*VIEW_ROLES)
def station_display_messages(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    return render(
        request,
        "monitoring/station_display_messages.html",
        {
            "station": station,
            "display_messages": DisplayMessage.objects.filter(station=station),
            "can_command": user_has_role(request.user, *COMMAND_ROLES),
            "form": DisplayMessageForm(),
        },
    )


@require_POST
@role_required(*COMMAND_ROLES)
def station_display_messages_command(request, ocpp_id: str, action: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    _run(request, station, DISPLAY_ACTIONS, action)
    return redirect("stations:station-display-messages", ocpp_id=station.ocpp_id)


# Customer information: what a station keeps about a person, so only for those who command stations.


class CustomerInformationForm(forms.Form):
    report = forms.BooleanField(required=False, initial=True, label="Report what the station keeps")
    clear = forms.BooleanField(required=False, label="Clear it from the station")
    id_token = forms.CharField(max_length=36, required=False, label="ID token")
    id_token_type = forms.ChoiceField(
        choices=[(kind, kind) for kind in TOKEN_TYPES], initial="ISO14443", required=False, label="Token type"
    )
    customer_identifier = forms.CharField(max_length=64, required=False)
    hash_algorithm = forms.ChoiceField(choices=[("", "—"), *((name, name) for name in HASH_ALGORITHMS)], required=False)
    issuer_name_hash = forms.CharField(max_length=128, required=False)
    issuer_key_hash = forms.CharField(max_length=128, required=False)
    serial_number = forms.CharField(max_length=40, required=False, label="Certificate serial number")

    def request_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "report": data["report"],
            "clear": data["clear"],
            "id_token": data["id_token"],
            "id_token_type": data["id_token_type"] or "ISO14443",
            "customer_identifier": data["customer_identifier"],
            "customer_certificate": {
                "hashAlgorithm": data["hash_algorithm"],
                "issuerNameHash": data["issuer_name_hash"],
                "issuerKeyHash": data["issuer_key_hash"],
                "serialNumber": data["serial_number"],
            },
        }


@require_GET
@role_required(*COMMAND_ROLES)
def station_customer_information(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    return render(
        request,
        "monitoring/station_customer_information.html",
        {
            "station": station,
            "requests": CustomerInformationRequest.objects.filter(station=station).select_related("requested_by")[:50],
            "form": CustomerInformationForm(),
        },
    )


@require_POST
@role_required(*COMMAND_ROLES)
def station_customer_information_request(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    form = CustomerInformationForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("stations:station-customer-information", ocpp_id=station.ocpp_id)
    try:
        found, sent = customer_information.customer_information_request(
            station=station, requested_by=request.user, **form.request_arguments()
        )
    except (Unsupported, customer_information.CustomerInformationError) as error:
        messages.error(request, f"Nothing was sent. {error}")
        return redirect("stations:station-customer-information", ocpp_id=station.ocpp_id)
    _show(request, sent)
    return redirect("stations:customer-information", ocpp_id=station.ocpp_id, pk=found.pk)


@require_GET
@role_required(*COMMAND_ROLES)
def customer_information_detail(request, ocpp_id: str, pk: int):
    found = get_object_or_404(
        CustomerInformationRequest.objects.select_related("station", "requested_by", "command"),
        station__ocpp_id=ocpp_id,
        pk=pk,
    )
    return render(request, "monitoring/customer_information_detail.html", {"station": found.station, "found": found})
