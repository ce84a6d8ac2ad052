"""The model lifecycle's pages, included at /review/ before the review app (config/urls.py):
their paths are those they had in the review app."""

from django.urls import path

from learning import views
from learning.api import urls as api_urls

app_name = "learning"

urlpatterns = [
    path("training/", views.training_runs, name="runs"),
    path("training/new/", views.training_run_new, name="new"),
    path("training/<int:pk>/", views.training_run_detail, name="run"),
    path("training/<int:pk>/progress.json", views.training_run_progress, name="progress"),
    path("training/<int:pk>/cancel/", views.training_run_cancel, name="cancel"),
    path("models/", views.model_versions, name="model_versions"),
    path("models/compare/", views.model_compare, name="model_compare"),
    path(
        "models/compare/<int:evaluation_id>/overlay/<int:version_id>/<int:photo_id>.jpg",
        views.model_compare_overlay,
        name="model_compare_overlay",
    ),
    path("models/<int:pk>/", views.model_version_detail, name="model_version"),
    path("models/<int:pk>/shadow/", views.shadow_evaluation_create, name="model_version_shadow"),
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
    path("exports/<str:version>.zip", views.snapshot_download, name="snapshot_download"),
    *api_urls.urlpatterns,
]
