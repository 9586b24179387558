"""Portal routes of this app."""

urlpatterns: list = []
