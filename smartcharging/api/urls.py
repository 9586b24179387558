"""REST API routes of load management: /api/load-groups/."""

from rest_framework.routers import SimpleRouter

from smartcharging.api.views import LoadGroupViewSet

router = SimpleRouter(use_regex_path=False)  # typed path converters: /load-groups/abc/ is 404
router.register("load-groups", LoadGroupViewSet, basename="load-group")

urlpatterns = router.urls
