"""REST API of load management: /api/load-groups/ (a site's grid connection and feeders with their limits) and
each group's site allocation. A change of limit is applied at once: the answer comes after the new profiles
were sent. Operator admins and technicians change limits; analysts read them."""

from django.db.models import F, Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import role_permission
from accounts.roles import Role
from smartcharging import load, selectors
from smartcharging.api.serializers import ConnectorAllocationSerializer, LoadGroupSerializer
from smartcharging.models import LoadGroup, LoadGroupStation

LIMIT_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN)
LimitsOrRead = role_permission(*LIMIT_ROLES, read_only=(Role.ANALYST,))


@extend_schema_view(
    list=extend_schema(
        summary="Load groups (grid connections and feeders) with their limits",
        parameters=[OpenApiParameter("site", OpenApiTypes.INT, description="Only this site's groups.")],
    ),
    retrieve=extend_schema(summary="A load group with its limit periods and stations"),
    create=extend_schema(
        summary="Put a site (its grid connection: no parent) or a feeder in it under a limit",
        description="The site's current is shared again at once: each online station gets its new default profile, "
        "then each session its share.",
    ),
    update=extend_schema(summary="Change a group's limits (applied at once)"),
    partial_update=extend_schema(summary="Change some of a group's limits (applied at once)"),
    destroy=extend_schema(summary="Remove a group (the grid connection: load management ends at the site)"),
)
class LoadGroupViewSet(viewsets.ModelViewSet):
    permission_classes = [LimitsOrRead]
    serializer_class = LoadGroupSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        placements = Prefetch("placements", queryset=LoadGroupStation.objects.select_related("station"))
        groups = LoadGroup.objects.select_related("meter_station").prefetch_related("periods", placements)
        site = self.request.query_params.get("site")
        if site:
            if not site.isdigit():
                return groups.none()
            groups = groups.filter(site_id=int(site))
        return groups.order_by("site_id", F("parent_id").asc(nulls_first=True), "pk")

    def perform_destroy(self, instance):
        load.load_group_delete(group=instance)

    @extend_schema(
        summary="Each connector's share at the group's site: charging, waiting (queue order), or out of the pool",
        responses=ConnectorAllocationSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # a site's connectors: one short list
    def allocations(self, request, pk=None):
        group = self.get_object()
        rows = selectors.site_allocations(site_id=group.site_id)
        return Response(ConnectorAllocationSerializer(rows, many=True).data)
