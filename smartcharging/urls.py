"""Operator pages of load management: /operator/load/."""

from django.urls import path

from smartcharging import views

app_name = "smartcharging"

urlpatterns = [
    path("operator/load/", views.load_sites, name="load-sites"),
    path("operator/load/sites/<int:site_id>/", views.load_site, name="load-site"),
]
