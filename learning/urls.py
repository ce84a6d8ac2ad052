from django.urls import path

from learning import views

app_name = "learning"

urlpatterns = [
    path("", views.training_runs, name="runs"),
    path("new/", views.training_run_new, name="new"),
    path("<int:pk>/", views.training_run_detail, name="run"),
    path("<int:pk>/progress.json", views.training_run_progress, name="progress"),
    path("<int:pk>/cancel/", views.training_run_cancel, name="cancel"),
]
