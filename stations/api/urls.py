"""REST API routes of this app: /api/stations/ (with their commands) and /api/commands/."""

from rest_framework.routers import SimpleRouter

from stations.api.views import StationCommandViewSet, StationViewSet

router = SimpleRouter(use_regex_path=False)  # typed path converters: /jobs/abc/ is 404
router.register("stations", StationViewSet, basename="station")
router.register("commands", StationCommandViewSet, basename="station-command")

urlpatterns = router.urls
