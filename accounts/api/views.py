"""The accounts API: ID tokens for integrators (admins write, staff read); a driver's own cards and sessions."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api.serializers import (
    IdTokenEventSerializer,
    IdTokenSerializer,
    MyIdTokenAddSerializer,
    MyIdTokenSerializer,
    MySessionSerializer,
)
from accounts.models import IdToken, IdTokenEvent, normalize_token
from accounts.permissions import IsStaffReadOperatorAdminWrite
from smartcharging import load
from smartcharging import selectors as smartcharging_selectors
from smartcharging.api.serializers import DriverChargingNeedsSerializer

SOURCE = IdTokenEvent.Source.API
ID_TOKEN_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=IdToken.Status.values),
    OpenApiParameter("owner", OpenApiTypes.STR, description="Only the tokens of the user with this e-mail address."),
    OpenApiParameter("parent", OpenApiTypes.STR, description="Only the members of this group token."),
    OpenApiParameter("search", OpenApiTypes.STR, description="Tokens whose number or label contains this."),
]


NO_NEEDS = "You have not stated charging needs for this session."


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        detail = {
            ("non_field_errors" if field == NON_FIELD_ERRORS else field): messages
            for field, messages in exc.message_dict.items()
        }
        return serializers.ValidationError(detail)
    return serializers.ValidationError({"non_field_errors": exc.messages})


def _service_data(validated: dict) -> dict:
    return {name: value for name, value in validated.items() if name != "token"}


@extend_schema_view(
    list=extend_schema(summary="List ID tokens", parameters=ID_TOKEN_FILTERS),
    retrieve=extend_schema(summary="An ID token by its number"),
    partial_update=extend_schema(summary="Change an ID token (status, expiry, group, owner, allow lists)"),
)
class IdTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """ID tokens (idTags): operator admins create and change them; every staff role may read them."""

    serializer_class = IdTokenSerializer
    permission_classes = [IsStaffReadOperatorAdminWrite]
    lookup_field = "token"
    lookup_value_converter = "str"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        id_tokens = IdToken.objects.select_related("parent", "owner").prefetch_related(
            "allowed_stations", "allowed_sites"
        )
        params = self.request.query_params
        if params.get("status"):
            id_tokens = id_tokens.filter(status=params["status"])
        if params.get("owner"):
            id_tokens = id_tokens.filter(owner__email__iexact=params["owner"])
        if params.get("parent"):
            id_tokens = id_tokens.filter(parent__token=normalize_token(params["parent"]))
        if params.get("search"):
            id_tokens = id_tokens.filter(Q(token__icontains=params["search"]) | Q(label__icontains=params["search"]))
        return id_tokens

    def get_object(self):
        id_token = get_object_or_404(self.get_queryset(), token=normalize_token(self.kwargs["token"]))
        self.check_object_permissions(self.request, id_token)
        return id_token

    @extend_schema(
        summary="Create or update an ID token",
        description="Creates the token, or updates the fields given if the token exists (fields left out stay).",
        responses={
            201: OpenApiResponse(IdTokenSerializer, description="Created."),
            200: OpenApiResponse(IdTokenSerializer, description="It existed and was updated."),
        },
    )
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            id_token, created = services.id_token_upsert(
                token=serializer.validated_data["token"],
                data=_service_data(serializer.validated_data),
                actor=request.user,
                source=SOURCE,
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from exc
        return Response(self.get_serializer(id_token).data, status=status.HTTP_201_CREATED if created else 200)

    def partial_update(self, request, token=None):
        id_token = self.get_object()
        serializer = self.get_serializer(id_token, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            id_token = services.id_token_update(
                id_token=id_token, data=_service_data(serializer.validated_data), actor=request.user, source=SOURCE
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from exc
        return Response(self.get_serializer(id_token).data)

    @extend_schema(
        summary="A token's history: changes and authorisation outcomes, newest first",
        responses={200: IdTokenEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, token=None):
        page = self.paginate_queryset(selectors.id_token_events(id_token=self.get_object()))
        return self.get_paginated_response(IdTokenEventSerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="My cards"),
    retrieve=extend_schema(summary="One of my cards"),
)
class MyIdTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The signed-in driver's own cards; another driver's card is not found (404)."""

    serializer_class = MyIdTokenSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation, without a user
            return IdToken.objects.none()
        return selectors.driver_id_tokens(user=self.request.user)

    @extend_schema(
        summary="Add a card by its printed number",
        request=MyIdTokenAddSerializer,
        responses={
            201: MyIdTokenSerializer,
            400: OpenApiResponse(
                description="Not a card number, already on your account, or registered to another account."
            ),
            429: OpenApiResponse(description="Too many refused attempts lately; try again in an hour."),
        },
    )
    def create(self, request):
        serializer = MyIdTokenAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            id_token = services.id_token_claim(
                user=request.user,
                number=serializer.validated_data["token"],
                label=serializer.validated_data["label"],
                source=SOURCE,
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from exc
        except services.TooManyClaims as exc:
            raise Throttled(wait=3600, detail=str(exc)) from exc
        return Response(MyIdTokenSerializer(id_token).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Block my card at once (lost or stolen)", request=None, responses={200: MyIdTokenSerializer})
    @action(detail=True, methods=["post"])
    def block(self, request, pk=None):
        id_token = self.get_object()
        if id_token.status != IdToken.Status.BLOCKED:
            id_token = services.id_token_block(id_token=id_token, actor=request.user, source=SOURCE)
        return Response(MyIdTokenSerializer(id_token).data)


@extend_schema_view(
    list=extend_schema(summary="My charging sessions, newest first"),
    retrieve=extend_schema(summary="One of my charging sessions"),
)
class MySessionViewSet(viewsets.ReadOnlyModelViewSet):
    """The signed-in driver's own sessions, read only but for the charging needs they state; another driver's
    session is not found (404)."""

    serializer_class = MySessionSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.driver_transactions(user=None).none()
        return selectors.driver_transactions(user=self.request.user)

    @extend_schema(
        methods=["GET"],
        summary="The charging needs I stated for one of my sessions",
        responses={
            200: DriverChargingNeedsSerializer,
            404: OpenApiResponse(description="Not your session, or no needs stated for it."),
        },
    )
    @extend_schema(
        methods=["PUT"],
        summary="State when I leave and how much energy I want (a session in progress)",
        description="Where the site shares a limit, its current is shared again at once with these needs.",
        request=DriverChargingNeedsSerializer,
        responses={
            200: DriverChargingNeedsSerializer,
            400: OpenApiResponse(description="A departure not in the next 48 hours, or an energy out of range."),
            409: OpenApiResponse(description="The session has ended."),
        },
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Forget the charging needs I stated",
        responses={204: None, 404: OpenApiResponse(description="Not your session, or no needs stated for it.")},
    )
    @action(detail=True, methods=["get", "put", "delete"], url_path="charging-needs", pagination_class=None)
    def charging_needs(self, request, pk=None):
        session = self.get_object()
        if request.method == "PUT":
            serializer = DriverChargingNeedsSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            if session.status != session.Status.ACTIVE:
                return Response({"detail": load.SESSION_ENDED}, status=status.HTTP_409_CONFLICT)
            try:
                load.driver_needs_set(
                    session=session,
                    departure_at=serializer.validated_data["departure_at"],
                    energy_kwh=serializer.validated_data.get("energy_kwh"),
                )
            except DjangoValidationError as exc:
                raise as_drf_error(exc) from exc
        elif request.method == "DELETE":
            if not load.driver_needs_clear(session=session):
                raise NotFound(NO_NEEDS)
            return Response(status=status.HTTP_204_NO_CONTENT)
        stated = smartcharging_selectors.session_load(session=session)
        if stated.stated is None:
            raise NotFound(NO_NEEDS)
        return Response(DriverChargingNeedsSerializer(DriverChargingNeedsSerializer.of(stated)).data)
