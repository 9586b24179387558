"""Portal pages of the pki app (a station's certificates and what an operator does with them) and what the CA
publishes to anyone: its certificate and its CRL."""

from cryptography.hazmat.primitives import serialization
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, role_required, user_has_role
from pki import selectors, services
from pki.models import INSTALLABLE_TYPES, InstalledCertificate, IssuedCertificate
from stations.models import Station
from stations.protocol.outbound import Outcome, Unsupported
from stations.protocol.outbound_interface import ACCEPTING
from stations.views import COMMAND_ROLES, STATION_READ_ROLES

REVOKE_ROLES = (Role.OPERATOR_ADMIN,)


@require_GET
def crl(request, encoding: str):
    """The active CA's CRL, DER (as CRL distribution points name it) or PEM; public, as CRLs are."""
    revocations = services.crl_current()
    if encoding == "pem":
        return HttpResponse(revocations.public_bytes(serialization.Encoding.PEM), content_type="application/x-pem-file")
    return HttpResponse(revocations.public_bytes(serialization.Encoding.DER), content_type="application/pkix-crl")


@require_GET
def ca_certificate(request):
    """The active CA's certificate (PEM): what a station or a TLS terminator trusts."""
    return HttpResponse(services.authority_ensure().certificate_pem, content_type="application/x-pem-file")


@role_required(*STATION_READ_ROLES)
def station_certificates(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    context = {
        "station": station,
        "authority": selectors.authority_active(),
        "issued": selectors.station_issued_certificates(station=station),
        "installed": selectors.station_installed_certificates(station=station),
        "installable_types": INSTALLABLE_TYPES,
        "readable_types": InstalledCertificate.Type.choices,
        "reasons": IssuedCertificate.Reason.choices,
        "certificate_types": IssuedCertificate.Type.choices,
        "can_command": user_has_role(request.user, *COMMAND_ROLES),
        "can_revoke": user_has_role(request.user, *REVOKE_ROLES),
    }
    return render(request, "pki/station_certificates.html", context)


def _report(request, result: services.CertificateCommand, done: str) -> None:
    # NotFound answers a read or a delete in full: nothing held, or nothing left to delete.
    if result.answer is not None and result.answer.outcome in (*ACCEPTING, Outcome.NOTHING_TO_DO):
        messages.success(request, f"{done} {result.detail}")
    else:
        messages.error(request, f"{result.command.action}: {result.detail}")


def _back(station: Station):
    return redirect("pki:station-certificates", ocpp_id=station.ocpp_id)


@require_POST
@role_required(*COMMAND_ROLES)
def station_certificates_read(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    certificate_type = request.POST.get("certificate_type") or None
    if certificate_type is not None and certificate_type not in InstalledCertificate.Type.values:
        messages.error(request, "Choose a certificate type.")
        return _back(station)
    try:
        result = services.installed_certificates_read(
            station=station, certificate_type=certificate_type, requested_by=request.user
        )
    except Unsupported as unsupported:
        messages.error(request, str(unsupported))
    else:
        _report(request, result, "Installed certificates read.")
    return _back(station)


@require_POST
@role_required(*COMMAND_ROLES)
def station_certificate_install(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    certificate_type = request.POST.get("certificate_type", "")
    if certificate_type not in dict(INSTALLABLE_TYPES):
        messages.error(request, "Choose a certificate type.")
        return _back(station)
    try:
        result = services.certificate_install(
            station=station,
            certificate_type=certificate_type,
            certificate_pem=request.POST.get("certificate", "").strip() or None,
            requested_by=request.user,
        )
    except (Unsupported, ValueError) as refused:
        messages.error(request, str(refused))
    else:
        _report(request, result, "Certificate installed.")
    return _back(station)


@require_POST
@role_required(*COMMAND_ROLES)
def station_certificate_renewal(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    certificate_type = request.POST.get("certificate_type") or IssuedCertificate.Type.CHARGING_STATION
    if certificate_type not in IssuedCertificate.Type.values:
        messages.error(request, "Choose a certificate type.")
        return _back(station)
    try:
        result = services.certificate_renewal_request(
            station=station, certificate_type=certificate_type, requested_by=request.user
        )
    except Unsupported as unsupported:
        messages.error(request, str(unsupported))
    else:
        _report(request, result, "The station was asked for a new certificate: its CSR follows.")
    return _back(station)


@require_POST
@role_required(*COMMAND_ROLES)
def station_certificate_delete(request, ocpp_id: str, installed_id: int):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    installed = get_object_or_404(InstalledCertificate, station=station, pk=installed_id)
    result = services.certificate_delete(station=station, hash_data=installed.hash_data(), requested_by=request.user)
    _report(request, result, f"Certificate {installed.serial_number} deleted.")
    return _back(station)


@require_POST
@role_required(*COMMAND_ROLES)
def station_certificate_deliver(request, ocpp_id: str, serial_number: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    issued = get_object_or_404(IssuedCertificate, station=station, serial_number=serial_number, revoked_at__isnull=True)
    issued = services.certificate_deliver_sync(issued=issued, requested_by=request.user)
    accepted = issued.delivery == IssuedCertificate.Delivery.ACCEPTED
    (messages.success if accepted else messages.error)(request, f"CertificateSigned: {issued.delivery_detail}")
    return _back(station)


@require_POST
@role_required(*REVOKE_ROLES)
def station_certificate_revoke(request, ocpp_id: str, serial_number: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    issued = get_object_or_404(IssuedCertificate, station=station, serial_number=serial_number)
    reason = request.POST.get("reason") or IssuedCertificate.Reason.UNSPECIFIED
    if reason not in IssuedCertificate.Reason.values:
        messages.error(request, "Choose a revocation reason.")
    elif services.certificate_revoke(certificate=issued, reason=reason, revoked_by=request.user):
        messages.success(request, f"Certificate {issued.serial_number} revoked: it is on the CRL from now on.")
    else:
        messages.info(request, f"Certificate {issued.serial_number} was revoked already.")
    return _back(station)
