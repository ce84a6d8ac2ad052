from django.urls import path

from review import views
from review.api import urls as api_urls

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.queue_next, name="queue_next"),
    path("cases/<uuid:public_id>/", views.case_review, name="case"),
    path("cases/<uuid:public_id>/claim/", views.case_claim, name="case_claim"),
    path("cases/<uuid:public_id>/heartbeat/", views.case_heartbeat, name="case_heartbeat"),
    path("cases/<uuid:public_id>/release/", views.case_release, name="case_release"),
    path("cases/<uuid:public_id>/finish/", views.case_finish, name="case_finish"),
    path("cases/<uuid:public_id>/reopen/", views.case_reopen, name="case_reopen"),
    path("contests/<int:contest_id>/answer/", views.contest_answer, name="contest_answer"),
    path("findings/<int:finding_id>/decide/", views.finding_decide, name="finding_decide"),
    path("findings/<int:finding_id>/edit/", views.finding_edit, name="finding_edit"),
    path("photos/<int:photo_id>/add/", views.photo_add_damage, name="photo_add_damage"),
    path("added/<int:decision_id>/edit/", views.added_edit, name="added_edit"),
    path("added/<int:decision_id>/remove/", views.added_remove, name="added_remove"),
    path("photos/<int:photo_id>/confirm/", views.photo_confirm, name="photo_confirm"),
    *api_urls.urlpatterns,
]
