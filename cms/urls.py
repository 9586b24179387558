"""URL routes of the portal, the API and the health check."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from cms import views
from monitoring import urls as monitoring_urls
from stations import urls as stations_urls

admin.site.site_header = "Voltgrid administration"
admin.site.site_title = "Voltgrid"
handler400 = "cms.api.bad_request"
handler404 = "cms.api.not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("operator/", RedirectView.as_view(pattern_name="home"), name="operator-home"),
    # Browsers ask for /favicon.ico whatever the page's link tag says.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("stations.api.urls")),
    path("api/", include("accounts.api.urls")),
    path("api/", include("billing.api.urls")),
    path("api/", include("monitoring.api.urls")),
    path("api/", include("sessions.api.urls")),
    path("api/", include("pki.api.urls")),
    path("api/", include("smartcharging.api.urls")),
    path("", include("accounts.urls")),
    path("", include("sessions.urls")),
    # Monitoring's pages kept the names they had when they were the stations app's ("stations:alert", ...).
    path("", include((stations_urls.portal + monitoring_urls.portal, "stations"))),
    path("billing/", include("billing.urls")),
    path("operator/", include("billing.operator_urls")),
    path("analytics/", include("analytics.urls")),
    path("", include("pki.urls")),
    path("", include("smartcharging.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
]
