"""The CA and its certificates in the Django admin: read-only, since every change goes through pki.services."""

from django.contrib import admin

from pki.models import CertificateAuthority, InstalledCertificate, IssuedCertificate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyAdmin):
    list_display = ["name", "serial_number", "not_after", "is_active", "imported"]
    exclude = ["private_key_pem"]


@admin.register(IssuedCertificate)
class IssuedCertificateAdmin(ReadOnlyAdmin):
    list_display = ["serial_number", "station_ocpp_id", "certificate_type", "not_after", "delivery", "revoked_at"]
    list_filter = ["certificate_type", "delivery"]
    search_fields = ["serial_number", "station_ocpp_id", "subject"]


@admin.register(InstalledCertificate)
class InstalledCertificateAdmin(ReadOnlyAdmin):
    list_display = ["station", "certificate_type", "serial_number", "read_at"]
    list_filter = ["certificate_type"]
