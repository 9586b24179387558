"""The operator's page of a station's device model (OCPP 2.0.1): browse it, change writable variables through
SetVariables, ask for a full report."""

import secrets

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.roles import role_required, user_has_role
from stations import device_model, selectors
from stations.models import DeviceModelVariable, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync
from stations.views import COMMAND_ROLES, STATION_READ_ROLES, paginate, query_without_page

WRITABLE = ("ReadWrite", "WriteOnly")
PER_PAGE = 200
# How each of the station's words is shown.
RESULT_LEVELS = {device_model.ACCEPTED: messages.SUCCESS, device_model.REBOOT_REQUIRED: messages.WARNING}
RESULT_NOTES = {device_model.REBOOT_REQUIRED: " (accepted, takes effect after a reboot)"}


class DeviceModelFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=50, label="Filter")
    component = forms.CharField(required=False, max_length=50)


def _ref(row: DeviceModelVariable) -> device_model.VariableRef:
    return device_model.VariableRef(
        component=row.component_name,
        component_instance=row.component_instance,
        evse_id=row.evse_id,
        connector_id=row.connector_id,
        variable=row.variable_name,
        variable_instance=row.variable_instance,
        attribute_type=row.attribute_type,
    )


@require_http_methods(["GET", "POST"])
@role_required(*STATION_READ_ROLES)
def station_device_model(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    can_command = user_has_role(request.user, *COMMAND_ROLES)
    if request.method == "POST":
        if not can_command:
            raise PermissionDenied("Your role does not allow commands.")
        if request.POST.get("action") == "report":
            _request_report(request, station)
        else:
            _set_changed(request, station)
        return redirect(request.get_full_path())
    form = DeviceModelFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.device_model_attributes(
        station=station, search=filters.get("q", ""), component=filters.get("component", "")
    )
    return render(
        request,
        "stations/device_model.html",
        {
            "station": station,
            "form": form,
            "components": selectors.device_model_components(station=station),
            "page": paginate(request, rows, PER_PAGE),
            "query": query_without_page(request),
            "can_command": can_command,
            "writable": WRITABLE,
        },
    )


def _set_changed(request, station: Station) -> None:
    """SetVariables with the writable values the form changed; each one's result as a message."""
    submitted = {
        int(name.removeprefix("value-")): value
        for name, value in request.POST.items()
        if name.startswith("value-") and name.removeprefix("value-").isdigit()
    }
    rows = DeviceModelVariable.objects.filter(station=station, pk__in=submitted, mutability__in=WRITABLE)
    changes = [(_ref(row), submitted[row.pk]) for row in rows if submitted[row.pk] != (row.value or "")]
    if not changes:
        messages.info(request, "No value was changed: nothing was sent.")
        return
    found = device_model.variables_set_sync(station=station, values=changes, requested_by=request.user)
    if found.failed_command is not None:
        command = found.failed_command
        messages.error(request, f"Nothing was set: {command.get_status_display()}. {command.error_description}")
        return
    for result in found.results:
        reason = f": {result.reason}" if result.reason else ""
        text = f"{result.ref} = {dict(changes)[result.ref]!r}: {result.status}{RESULT_NOTES.get(result.status, '')}"
        messages.add_message(request, RESULT_LEVELS.get(result.status, messages.ERROR), text + reason)


def _request_report(request, station: Station) -> None:
    try:
        call = outbound.report(station.ocpp_version, request_id=secrets.randbelow(2**31 - 1) + 1)
    except outbound.Unsupported as error:
        messages.error(request, str(error))
        return
    command = station_call_sync(station=station, action=call.action, payload=call.payload, requested_by=request.user)
    if command.status != StationCommand.Status.ANSWERED:
        messages.error(request, f"No report: {command.get_status_display()}. {command.error_description}")
        return
    answer = outbound.answer_of(station.ocpp_version, command)
    if answer.accepted:
        messages.success(request, "Full report requested: the station sends it in parts, stored as they come.")
    else:
        messages.error(request, f"The station answered {answer.status or answer.outcome} to the report request.")
