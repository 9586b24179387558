"""Serializers of the pki API: the CA, the certificates it issued, those stations hold, and certificate commands."""

from rest_framework import serializers

from pki.models import INSTALLABLE_TYPES, CertificateAuthority, InstalledCertificate, IssuedCertificate
from stations.api.serializers import StationCommandSerializer


def hex_field(max_length: int) -> serializers.RegexField:
    return serializers.RegexField(rf"^[0-9A-Fa-f]{{1,{max_length}}}$", max_length=max_length, required=False)


class AuthoritySerializer(serializers.ModelSerializer):
    class Meta:
        model = CertificateAuthority
        fields = [
            "name",
            "serial_number",
            "fingerprint_sha256",
            "not_before",
            "not_after",
            "imported",
            "certificate_pem",
        ]
        read_only_fields = fields


class IssuedCertificateSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station_ocpp_id", read_only=True)
    delivery_command = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The CertificateSigned command.")

    class Meta:
        model = IssuedCertificate
        fields = [
            "serial_number",
            "station",
            "certificate_type",
            "subject",
            "not_before",
            "not_after",
            "fingerprint_sha256",
            "issued_at",
            "delivery",
            "delivery_detail",
            "delivery_command",
            "revoked_at",
            "revocation_reason",
            "certificate_pem",
        ]
        read_only_fields = fields


class InstalledCertificateSerializer(serializers.ModelSerializer):
    is_ours = serializers.BooleanField(read_only=True, help_text="This CSMS's CA certificate (its CSMS root).")

    class Meta:
        model = InstalledCertificate
        fields = [
            "id",
            "certificate_type",
            "hash_algorithm",
            "issuer_name_hash",
            "issuer_key_hash",
            "serial_number",
            "children",
            "read_at",
            "is_ours",
        ]
        read_only_fields = fields


class StationCertificatesSerializer(serializers.Serializer):
    issued = IssuedCertificateSerializer(many=True, read_only=True)
    installed = InstalledCertificateSerializer(
        many=True, read_only=True, help_text="As of the last read (GetInstalledCertificateIds) of each type."
    )


class CertificateCommandSerializer(serializers.Serializer):
    """A certificate command's outcome: the recorded command, what the answer means, the station's certificates."""

    command = StationCommandSerializer(read_only=True)
    outcome = serializers.CharField(
        source="answer.outcome", read_only=True, allow_null=True, default=None, help_text="null when not answered."
    )
    detail = serializers.CharField(read_only=True)
    installed = InstalledCertificateSerializer(source="certificates", many=True, read_only=True)


class CommandRequestSerializer(serializers.Serializer):
    timeout = serializers.FloatField(
        required=False, min_value=1, max_value=300, help_text="Seconds to wait for the station's answer."
    )


class InstalledReadRequestSerializer(CommandRequestSerializer):
    certificate_type = serializers.ChoiceField(
        choices=InstalledCertificate.Type.choices,
        required=False,
        allow_null=True,
        help_text="Omitted: every type (a 1.6 station is asked for its CSMS and manufacturer roots in turn).",
    )


class InstallRequestSerializer(CommandRequestSerializer):
    certificate_type = serializers.ChoiceField(
        choices=INSTALLABLE_TYPES,
        default=InstalledCertificate.Type.CSMS_ROOT,
    )
    certificate = serializers.CharField(
        required=False,
        max_length=5500,
        help_text="A PEM root certificate; omitted: this CSMS's CA certificate.",
    )


class DeleteRequestSerializer(CommandRequestSerializer):
    installed_id = serializers.IntegerField(
        required=False, help_text="One of the station's installed certificates (its `id`); or the four fields below."
    )
    hash_algorithm = serializers.ChoiceField(choices=["SHA256", "SHA384", "SHA512"], required=False)
    issuer_name_hash = hex_field(128)
    issuer_key_hash = hex_field(128)
    serial_number = hex_field(40)

    HASH_FIELDS = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")

    def validate(self, attrs):
        given = [name for name in self.HASH_FIELDS if attrs.get(name)]
        if ("installed_id" in attrs) == bool(given) or (given and len(given) != len(self.HASH_FIELDS)):
            raise serializers.ValidationError("Give either installed_id or all of " + ", ".join(self.HASH_FIELDS) + ".")
        return attrs

    def hash_data(self, station) -> dict:
        data = self.validated_data
        if "installed_id" in data:
            installed = InstalledCertificate.objects.filter(station=station, pk=data["installed_id"]).first()
            if installed is None:
                raise serializers.ValidationError({"installed_id": "The station holds no such certificate."})
            return installed.hash_data()
        return {
            "hashAlgorithm": data["hash_algorithm"],
            "issuerNameHash": data["issuer_name_hash"],
            "issuerKeyHash": data["issuer_key_hash"],
            "serialNumber": data["serial_number"],
        }


class RenewalRequestSerializer(CommandRequestSerializer):
    certificate_type = serializers.ChoiceField(
        choices=IssuedCertificate.Type.choices, default=IssuedCertificate.Type.CHARGING_STATION
    )


class RevokeRequestSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=IssuedCertificate.Reason.choices, default=IssuedCertificate.Reason.UNSPECIFIED
    )
