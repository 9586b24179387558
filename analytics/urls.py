"""Portal routes of the analytics app (included at /analytics/)."""

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.index, name="index"),
    path("me/", views.mine, name="mine"),
    path("me/export/<slug:table>.<str:kind>", views.mine_export, name="mine-export"),
    path("<slug:name>/", views.dashboard, name="dashboard"),
    path("<slug:name>/export/<slug:table>.<str:kind>", views.export, name="export"),
]
