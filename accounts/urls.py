"""Portal routes of this app: the driver's own pages under /me/, the operator's token pages under /operator/."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("me/", views.me, name="me"),
    path("me/cards/", views.id_tokens, name="id_tokens"),
    path("me/cards/<int:pk>/", views.id_token_detail, name="id_token"),
    path("me/cards/<int:pk>/block/", views.id_token_block, name="id_token_block"),
    path("me/sessions/", views.sessions, name="sessions"),
    path("me/sessions/<int:pk>/", views.session_detail, name="session"),
    path("me/sessions/<int:pk>/needs/", views.session_needs, name="session_needs"),
    path("operator/id-tokens/", views.operator_id_tokens, name="operator_id_tokens"),
    path("operator/id-tokens/new/", views.operator_id_token_issue, name="operator_id_token_issue"),
    path("operator/id-tokens/<int:pk>/status/", views.operator_id_token_status, name="operator_id_token_status"),
    path("operator/id-tokens/claims/<int:pk>/", views.operator_claim_decide, name="operator_claim_decide"),
    path("operator/id-tokens/import/", views.id_token_import, name="id_token_import"),
    path("operator/id-tokens/<int:pk>/history/", views.id_token_history, name="id_token_history"),
    path("operator/authorizations/", views.authorizations, name="authorizations"),
]
