"""REST API routes of the sessions app: /api/reservations/."""

from rest_framework.routers import SimpleRouter

from sessions.api.views import ReservationViewSet

router = SimpleRouter(use_regex_path=False)  # typed path converters: /reservations/abc/ is 404
router.register("reservations", ReservationViewSet, basename="reservation")

urlpatterns = router.urls
