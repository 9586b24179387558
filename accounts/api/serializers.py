"""Serializers of the accounts API: ID tokens for integrators, a driver's own cards and sessions."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import IdToken, IdTokenEvent, id_token_validator, normalize_token
from stations.models import Site, Station


class TokenField(serializers.SlugRelatedField):
    """Another ID token by its number, case-insensitive (a group token, for ``parent``)."""

    default_error_messages = {
        "does_not_exist": "There is no ID token {value}: create the group token first.",
        "invalid": "Enter an ID token number.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="token", queryset=IdToken.objects.all(), **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(normalize_token(str(data)))


class UserEmailField(serializers.SlugRelatedField):
    """A registered user by e-mail address, case-insensitive."""

    default_error_messages = {"does_not_exist": "There is no user with the e-mail address {value}."}

    def __init__(self, **kwargs):
        super().__init__(slug_field="email", queryset=get_user_model().objects.all(), **kwargs)

    def to_internal_value(self, data):
        user = self.get_queryset().filter(email__iexact=str(data).strip()).first()
        if user is None:
            self.fail("does_not_exist", slug_name="email", value=data)
        return user


class IdTokenSerializer(serializers.ModelSerializer):
    # No uniqueness check: POST with an existing token updates it.
    token = serializers.CharField(
        max_length=36,
        validators=[id_token_validator],
        help_text="The idTag / IdToken (card number); case-insensitive, stored upper-case.",
    )
    expiry = serializers.DateTimeField(
        source="expires_at", allow_null=True, required=False, help_text="When the token stops being accepted."
    )
    parent = TokenField(allow_null=True, required=False, help_text="The group token (parentIdTag / groupIdToken).")
    owner = UserEmailField(allow_null=True, required=False, help_text="The driver the token belongs to.")
    allowed_stations = serializers.SlugRelatedField(
        slug_field="ocpp_id",
        queryset=Station.objects.all(),
        many=True,
        required=False,
        help_text="OCPP ids of the only stations the token may charge at (with allowed_sites); empty: everywhere.",
    )
    allowed_sites = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.all(), many=True, required=False, help_text="Ids of the only sites it may charge at."
    )
    effective_status = serializers.CharField(
        source="display_status", read_only=True, help_text="Expired when an Accepted token is past its expiry."
    )

    class Meta:
        model = IdToken
        fields = [
            "id",
            "token",
            "type",
            "status",
            "effective_status",
            "expiry",
            "parent",
            "owner",
            "label",
            "allowed_stations",
            "allowed_sites",
            "list_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "list_version", "created_at", "updated_at"]

    def validate_token(self, value: str) -> str:
        value = normalize_token(value)
        if self.instance is not None and value != self.instance.token:
            raise serializers.ValidationError("The number of a token cannot change; create a new token instead.")
        return value


class IdTokenEventSerializer(serializers.ModelSerializer):
    station = serializers.SlugRelatedField(slug_field="ocpp_id", read_only=True, allow_null=True)
    actor = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = IdTokenEvent
        fields = ["id", "created_at", "kind", "status", "note", "changes", "station", "source", "actor"]
        read_only_fields = fields


class MyIdTokenSerializer(serializers.ModelSerializer):
    expiry = serializers.DateTimeField(source="expires_at", read_only=True, allow_null=True)
    parent = serializers.SlugRelatedField(slug_field="token", read_only=True, allow_null=True)
    effective_status = serializers.CharField(source="display_status", read_only=True)

    class Meta:
        model = IdToken
        fields = ["id", "token", "label", "type", "status", "effective_status", "expiry", "parent", "created_at"]
        read_only_fields = fields


class MyIdTokenAddSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64, help_text="The number printed on the card; spaces do not matter.")
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class MySessionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    station = serializers.CharField(source="station.ocpp_id", read_only=True)
    site = serializers.CharField(source="station.site.name", read_only=True, default=None, allow_null=True)
    connector_id = serializers.IntegerField(read_only=True)
    id_tag = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True)
    stopped_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null while charging.")
    meter_start = serializers.IntegerField(read_only=True, help_text="Wh")
    meter_stop = serializers.IntegerField(read_only=True, allow_null=True, help_text="Wh; null while charging.")
    energy_wh = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null while charging.")
    stop_reason = serializers.CharField(read_only=True)
