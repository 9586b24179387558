"""Operator pages of load management: /operator/load/."""

from django.urls import path

from smartcharging import views

app_name = "smartcharging"

urlpatterns = [
    path("operator/load/", views.load_sites, name="load-sites"),
    path("operator/load/sites/<int:site_id>/", views.load_site, name="load-site"),
    path("operator/load/sites/<int:site_id>/meter/", views.load_site_meter, name="load-site-meter"),
    path("operator/load/sites/<int:site_id>/feeders/new/", views.load_group_new, name="load-group-new"),
    path("operator/load/sites/<int:site_id>/connectors/", views.load_connector_set, name="load-connector-set"),
    path("operator/load/groups/<int:group_id>/", views.load_group_edit, name="load-group"),
    path("operator/load/groups/<int:group_id>/delete/", views.load_group_remove, name="load-group-delete"),
    path(
        "operator/load/connectors/<int:settings_id>/delete/", views.load_connector_remove, name="load-connector-delete"
    ),
]
