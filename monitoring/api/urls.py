"""REST API routes of monitoring: /api/maintenance/jobs/, /api/firmware/, /api/alerts/."""

from rest_framework.routers import SimpleRouter

from monitoring.api.views import AlertViewSet, FirmwareImageViewSet, MaintenanceJobViewSet

router = SimpleRouter(use_regex_path=False)  # typed path converters: /jobs/abc/ is 404
router.register("maintenance/jobs", MaintenanceJobViewSet, basename="maintenance-job")
router.register("firmware", FirmwareImageViewSet, basename="firmware-image")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = router.urls
