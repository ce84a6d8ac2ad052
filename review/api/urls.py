from django.urls import path

from review.api import views

urlpatterns = [
    path("api/queue/", views.QueueApi.as_view(), name="api_queue"),
    path(
        "api/findings/<int:finding_id>/decisions/",
        views.FindingDecisionApi.as_view(),
        name="api_finding_decision",
    ),
]
