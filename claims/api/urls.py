from django.urls import path

from claims.api import views

urlpatterns = [
    path("cases/", views.CaseListCreateApi.as_view(), name="api-cases"),
    path("cases/<uuid:public_id>/", views.CaseDetailApi.as_view(), name="api-case-detail"),
    path("webhook/", views.WebhookApi.as_view(), name="api-webhook"),
]
