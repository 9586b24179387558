"""REST API routes of this app: /api/stations/ (with their commands) and /api/commands/."""

from rest_framework.routers import SimpleRouter

from stations.api.views import StationCommandViewSet, StationViewSet

router = SimpleRouter()
router.register("stations", StationViewSet, basename="station")
router.register("commands", StationCommandViewSet, basename="station-command")

urlpatterns = router.urls
