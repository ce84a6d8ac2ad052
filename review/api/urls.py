from django.urls import path

from review.api import views

urlpatterns = [
    path("api/queue/", views.QueueApi.as_view(), name="api_queue"),
    path(
        "api/findings/<int:finding_id>/decisions/",
        views.FindingDecisionApi.as_view(),
        name="api_finding_decision",
    ),
    path(
        "api/cases/<uuid:public_id>/finish/", views.CaseFinishApi.as_view(), name="api_case_finish"
    ),
    path(
        "api/cases/<uuid:public_id>/reopen/", views.CaseReopenApi.as_view(), name="api_case_reopen"
    ),
]
