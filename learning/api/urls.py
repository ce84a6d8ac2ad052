from django.urls import path

from learning.api import views

urlpatterns = [
    path("api/snapshots/", views.SnapshotListApi.as_view(), name="api_snapshots"),
    path(
        "api/snapshots/<str:version>/archive/",
        views.SnapshotArchiveApi.as_view(),
        name="api_snapshot_archive",
    ),
]
