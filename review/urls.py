from django.urls import path

from review import compare_views, views
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
    path("models/", views.model_versions, name="model_versions"),
    path("models/compare/", compare_views.model_compare, name="model_compare"),
    path(
        "models/compare/<int:evaluation_id>/overlay/<int:version_id>/<int:photo_id>.jpg",
        compare_views.model_compare_overlay,
        name="model_compare_overlay",
    ),
    path("models/<int:pk>/", views.model_version_detail, name="model_version"),
    path(
        "models/<int:pk>/shadow/",
        compare_views.shadow_evaluation_create,
        name="model_version_shadow",
    ),
    path(
        "models/<int:pk>/threshold/", views.model_version_threshold, name="model_version_threshold"
    ),
    path(
        "models/<int:pk>/target-precision/",
        views.model_version_target_precision,
        name="model_version_target_precision",
    ),
    path("models/<int:pk>/<str:action>/", views.model_version_status, name="model_version_status"),
    path("exports/", views.snapshot_create, name="snapshot_create"),
    path(
        "exports/<str:version>.zip",
        views.snapshot_download,
        name="snapshot_download",
    ),
    *api_urls.urlpatterns,
]
