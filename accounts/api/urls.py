"""REST API routes of this app: /api/id-tokens/ for integrators, /api/me/... for the signed-in driver."""

from rest_framework.routers import SimpleRouter

from accounts.api.views import IdTokenViewSet, MyIdTokenViewSet, MySessionViewSet

router = SimpleRouter(use_regex_path=False)  # typed path converters: /jobs/abc/ is 404
router.register("id-tokens", IdTokenViewSet, basename="id-token")
router.register("me/id-tokens", MyIdTokenViewSet, basename="my-id-token")
router.register("me/sessions", MySessionViewSet, basename="my-session")

urlpatterns = router.urls
