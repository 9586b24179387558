"""URL routes of the portal, the API and the health check."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from cms import views

admin.site.site_header = "Voltgrid administration"
admin.site.site_title = "Voltgrid"
handler400 = "cms.api.bad_request"
handler404 = "cms.api.not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("stations.api.urls")),
    path("api/", include("accounts.api.urls")),
    path("api/", include("billing.api.urls")),
    path("", include("accounts.urls")),
    path("", include("sessions.urls")),
    path("", include("stations.urls")),
    path("billing/", include("billing.urls")),
    path("analytics/", include("analytics.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
