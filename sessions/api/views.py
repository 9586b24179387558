"""REST API of reservations: /api/reservations/ (list, reserve, one reservation, cancel).

Reserving sends ReserveNow and answers once the station has (201 with the reservation; its ``status`` is the
station's answer: accepted, rejected, occupied, faulted, unavailable, or failed when none came). Technicians
and operator admins reserve and cancel, as they send commands; analysts read.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import role_permission
from accounts.roles import Role
from sessions import selectors
from sessions.api.serializers import ReservationCreateSerializer, ReservationSerializer
from sessions.models import Reservation
from sessions.reservation_requests import ReservationError, reservation_cancel, reservation_create

ReservationAccess = role_permission(Role.OPERATOR_ADMIN, Role.TECHNICIAN, read_only=(Role.ANALYST,))


def refusal(error: ReservationError, http_status: int) -> Response:
    return Response({"detail": error.message, "code": error.code}, status=http_status)


@extend_schema_view(
    list=extend_schema(
        summary="Reservations, newest first",
        parameters=[
            OpenApiParameter("station", OpenApiTypes.STR, description="A station's id."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Reservation.Status.values),
        ],
    ),
    retrieve=extend_schema(summary="One reservation"),
)
class ReservationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ReservationAccess]
    serializer_class = ReservationSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        params = self.request.query_params
        return selectors.reservations(station_ocpp_id=params.get("station", ""), status=params.get("status", ""))

    @extend_schema(
        summary="Reserve a connector for an id token",
        description="Sends ReserveNow (1.6 or 2.0.1) and answers with the reservation once the station has: its "
        "`status` is what the station said (`failed` with `detail` when it said nothing: offline, timeout).",
        request=ReservationCreateSerializer,
        responses={
            201: ReservationSerializer,
            400: OpenApiResponse(description="Nothing sent: a past expiry, a connector or token the station lacks."),
        },
    )
    def create(self, request):
        serializer = ReservationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            reservation = reservation_create(
                station=data["station"],
                connector_id=data.get("connector_id"),
                id_tag=data["id_tag"],
                group_id_tag=data.get("group_id_tag", ""),
                expires_at=data["expires_at"],
                requested_by=request.user,
            )
        except ReservationError as error:
            return refusal(error, status.HTTP_400_BAD_REQUEST)
        return Response(ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a reservation",
        description="Sends CancelReservation; the reservation ends `cancelled` when the station accepts.",
        request=None,
        responses={
            200: ReservationSerializer,
            409: OpenApiResponse(
                description="It holds nothing any more, or the station could not be told or refused: unchanged."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            reservation = reservation_cancel(reservation=self.get_object(), requested_by=request.user)
        except ReservationError as error:
            return refusal(error, status.HTTP_409_CONFLICT)
        return Response(ReservationSerializer(reservation).data)
