"""The pki API: a station's certificates and the certificate commands (install a root, delete one, read which it
holds), the CA, and revocation. Thin callers of ``pki.services``."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role
from pki import selectors, services
from pki.api.serializers import (
    AuthoritySerializer,
    CertificateCommandSerializer,
    DeleteRequestSerializer,
    InstalledReadRequestSerializer,
    InstallRequestSerializer,
    IssuedCertificateSerializer,
    RenewalRequestSerializer,
    RevokeRequestSerializer,
    StationCertificatesSerializer,
)
from pki.models import IssuedCertificate
from stations.api.views import COMMAND_HTTP_STATUS, CommandAccess, StationAccess
from stations.models import Station
from stations.protocol.outbound import Unsupported

# Revoking is the operator admin's; technicians and analysts may read the CA and what it issued.
PkiAccess = role_permission(Role.OPERATOR_ADMIN, read_only=(Role.TECHNICIAN, Role.ANALYST))
COMMAND_RESPONSES = {
    200: OpenApiResponse(
        CertificateCommandSerializer,
        description="The station answered: `outcome` says what (accepted, rejected, failed, nothing_to_do...).",
    ),
    400: OpenApiResponse(description="Field errors, or what the station's OCPP version cannot do, with the reason."),
    409: OpenApiResponse(CertificateCommandSerializer, description="The station is not connected. Nothing was sent."),
    502: OpenApiResponse(CertificateCommandSerializer, description="The station answered with a CALLERROR."),
    503: OpenApiResponse(CertificateCommandSerializer, description="Commands are unavailable (Redis)."),
    504: OpenApiResponse(CertificateCommandSerializer, description="The station did not answer in time."),
}


def _station(ocpp_id: str) -> Station:
    return get_object_or_404(Station, ocpp_id=ocpp_id)


def _command_response(request, result: services.CertificateCommand) -> Response:
    body = CertificateCommandSerializer(result, context={"request": request}).data
    return Response(body, status=COMMAND_HTTP_STATUS[result.command.status])


def _unsupported(error: Exception) -> serializers.ValidationError:
    return serializers.ValidationError({"detail": str(error)})


class StationCertificatesView(APIView):
    permission_classes = [StationAccess]

    @extend_schema(
        summary="The certificates the CA issued to the station, and those it holds as last read",
        responses=StationCertificatesSerializer,
    )
    def get(self, request, ocpp_id: str):
        station = _station(ocpp_id)
        body = {
            "issued": selectors.station_issued_certificates(station=station),
            "installed": selectors.station_installed_certificates(station=station),
        }
        return Response(StationCertificatesSerializer(body).data)


class InstalledCertificatesReadView(APIView):
    permission_classes = [CommandAccess]

    @extend_schema(
        summary="Ask the station which certificates it holds (GetInstalledCertificateIds)",
        description="The answer replaces the stored list of the types read. 1.6 (security extension): "
        "CentralSystemRootCertificate (CSMSRootCertificate here) and ManufacturerRootCertificate.",
        request=InstalledReadRequestSerializer,
        responses=COMMAND_RESPONSES,
    )
    def post(self, request, ocpp_id: str):
        station = _station(ocpp_id)
        serializer = InstalledReadRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = services.installed_certificates_read(
                station=station,
                certificate_type=data.get("certificate_type"),
                requested_by=request.user,
                timeout=data.get("timeout"),
            )
        except Unsupported as unsupported:
            raise _unsupported(unsupported) from None
        return _command_response(request, result)


class CertificateInstallView(APIView):
    permission_classes = [CommandAccess]

    @extend_schema(
        summary="Install a root certificate on the station (InstallCertificate)",
        description="By default this CSMS's CA certificate as the station's CSMS root (1.6: "
        "CentralSystemRootCertificate). V2G and MO roots are OCPP 2.0.1 only.",
        request=InstallRequestSerializer,
        responses=COMMAND_RESPONSES,
    )
    def post(self, request, ocpp_id: str):
        station = _station(ocpp_id)
        serializer = InstallRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = services.certificate_install(
                station=station,
                certificate_type=data["certificate_type"],
                certificate_pem=data.get("certificate"),
                requested_by=request.user,
                timeout=data.get("timeout"),
            )
        except (Unsupported, ValueError) as refused:
            raise _unsupported(refused) from None
        return _command_response(request, result)


class CertificateDeleteView(APIView):
    permission_classes = [CommandAccess]

    @extend_schema(
        summary="Delete a certificate from the station (DeleteCertificate)",
        description="Named by one of its installed certificates (`installed_id`) or by its hash data. Answered "
        "Accepted or NotFound, it leaves the stored list.",
        request=DeleteRequestSerializer,
        responses=COMMAND_RESPONSES,
    )
    def post(self, request, ocpp_id: str):
        station = _station(ocpp_id)
        serializer = DeleteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.certificate_delete(
            station=station,
            hash_data=serializer.hash_data(station),
            requested_by=request.user,
            timeout=serializer.validated_data.get("timeout"),
        )
        return _command_response(request, result)


class CertificateRenewalView(APIView):
    permission_classes = [CommandAccess]

    @extend_schema(
        summary="Ask the station for a new certificate (A02: it makes a new key pair and sends its CSR)",
        description="1.6: ExtendedTriggerMessage SignChargePointCertificate; 2.0.1: TriggerMessage "
        "SignChargingStationCertificate or SignV2GCertificate. Once accepted, the station's SignCertificate "
        "is signed and its certificate sent as for any CSR.",
        request=RenewalRequestSerializer,
        responses=COMMAND_RESPONSES,
    )
    def post(self, request, ocpp_id: str):
        station = _station(ocpp_id)
        serializer = RenewalRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = services.certificate_renewal_request(
                station=station,
                certificate_type=data["certificate_type"],
                requested_by=request.user,
                timeout=data.get("timeout"),
            )
        except Unsupported as unsupported:
            raise _unsupported(unsupported) from None
        return _command_response(request, result)


class CertificateDeliverView(APIView):
    permission_classes = [CommandAccess]

    @extend_schema(
        summary="Send the station a certificate the CA issued to it again (CertificateSigned)",
        request=None,
        responses={200: IssuedCertificateSerializer},
    )
    def post(self, request, ocpp_id: str, serial_number: str):
        issued = get_object_or_404(
            IssuedCertificate,
            station__ocpp_id=ocpp_id,
            serial_number=serial_number.lower(),
            revoked_at__isnull=True,
        )
        issued = services.certificate_deliver_sync(issued=issued, requested_by=request.user)
        return Response(IssuedCertificateSerializer(issued).data)


class AuthorityView(APIView):
    permission_classes = [PkiAccess]

    @extend_schema(summary="The active CA (generated on first use)", responses=AuthoritySerializer)
    def get(self, request):
        return Response(AuthoritySerializer(services.authority_ensure()).data)


class IssuedCertificateList(generics.ListAPIView):
    permission_classes = [PkiAccess]
    serializer_class = IssuedCertificateSerializer

    @extend_schema(
        summary="The certificates the CA issued, newest first",
        parameters=[
            OpenApiParameter("station", OpenApiTypes.STR, description="Only this station's (its OCPP id)."),
            OpenApiParameter("revoked", OpenApiTypes.BOOL, description="Only revoked (true) or unrevoked (false)."),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        certificates = IssuedCertificate.objects.all()
        params = self.request.query_params
        if params.get("station"):
            certificates = certificates.filter(station_ocpp_id=params["station"])
        if params.get("revoked") in ("true", "false"):
            certificates = certificates.filter(revoked_at__isnull=params["revoked"] == "false")
        return certificates


class CertificateRevokeView(APIView):
    permission_classes = [PkiAccess]

    @extend_schema(
        summary="Revoke a certificate the CA issued",
        description="It goes on the CRL (/pki/crl.der) and this CSMS refuses it from now on (TLS client "
        "authentication included). Revoking again changes nothing.",
        request=RevokeRequestSerializer,
        responses={200: IssuedCertificateSerializer},
    )
    def post(self, request, serial_number: str):
        certificate = get_object_or_404(IssuedCertificate, serial_number=serial_number.lower())
        serializer = RevokeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.certificate_revoke(
            certificate=certificate, reason=serializer.validated_data["reason"], revoked_by=request.user
        )
        return Response(IssuedCertificateSerializer(certificate).data, status=status.HTTP_200_OK)
