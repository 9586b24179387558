"""Serializers of the sessions API: reservations."""

from rest_framework import serializers

from sessions.models import Reservation
from stations.models import Station


class ReservationSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.ocpp_id", read_only=True)
    command_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="The ReserveNow sent.")
    transaction_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="The session that used it.")

    class Meta:
        model = Reservation
        fields = [
            "id",
            "station",
            "connector_id",
            "id_tag",
            "id_token_type",
            "group_id_tag",
            "expires_at",
            "status",
            "detail",
            "command_id",
            "transaction_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReservationCreateSerializer(serializers.Serializer):
    station = serializers.SlugRelatedField(slug_field="ocpp_id", queryset=Station.objects.all())
    connector_id = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="The connector (2.0.1: EVSE); none: any of them."
    )
    id_tag = serializers.CharField(max_length=36, help_text="The id token the connector is held for.")
    group_id_tag = serializers.CharField(
        max_length=36,
        required=False,
        allow_blank=True,
        help_text="A group token (1.6 parentIdTag) that may use it too.",
    )
    expires_at = serializers.DateTimeField()
