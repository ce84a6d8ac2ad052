from django.urls import path

from portal.api import views

urlpatterns = [
    path("cases/", views.CaseListCreateApi.as_view(), name="api-cases"),
    path("cases/<uuid:public_id>/", views.CaseDetailApi.as_view(), name="api-case-detail"),
    path("webhook/", views.WebhookApi.as_view(), name="api-webhook"),
    path("tokens/", views.ApiTokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", views.ApiTokenDetailApi.as_view(), name="api-token-detail"),
    path("auth/token/", views.TokenObtainApi.as_view(), name="api-token-obtain"),
]
