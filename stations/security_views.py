"""The station page's security actions: its security profile and the rotation of its password."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts.roles import role_required
from stations.models import Station
from stations.security import SecurityProfileRefused, station_password_rotate, station_security_profile_set
from stations.views import COMMAND_ROLES


@require_POST
@role_required(*COMMAND_ROLES)
def station_security_profile(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    try:
        profile = int(request.POST.get("security_profile", ""))
    except ValueError:
        profile = None
    if profile not in Station.SecurityProfile.values:
        messages.error(request, "Choose a security profile.")
        return redirect("stations:station", ocpp_id=station.ocpp_id)
    try:
        station_security_profile_set(
            station=station,
            profile=profile,
            lowering_confirmed=request.POST.get("confirm_lower") == "on",
            changed_by=request.user,
        )
    except SecurityProfileRefused as refused:
        messages.error(request, f"Not changed. {refused}")
    else:
        messages.success(request, f"Security profile: {station.get_security_profile_display()}.")
    return redirect("stations:station", ocpp_id=station.ocpp_id)


@require_POST
@role_required(*COMMAND_ROLES)
def station_password_rotation(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    rotation = station_password_rotate(station=station, requested_by=request.user)
    (messages.success if rotation.adopted else messages.error)(request, rotation.detail)
    return redirect("stations:station", ocpp_id=station.ocpp_id)
