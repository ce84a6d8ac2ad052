from django.urls import path

from portal import views

app_name = "portal"  # config/urls.py also serves these under `claims:`, their earlier names

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("new/", views.case_create, name="case_create"),
    path("<uuid:public_id>/", views.case_detail, name="case_detail"),
    path("<uuid:public_id>/report.pdf", views.case_report, name="case_report"),
    path("<uuid:public_id>/photos/add/", views.photo_add_view, name="photo_add"),
    path("<uuid:public_id>/contests/", views.case_contest_view, name="case_contest"),
    path(
        "<uuid:public_id>/photos/<int:photo_id>/retry/",
        views.photo_retry_view,
        name="photo_retry",
    ),
    path(
        "<uuid:public_id>/photos/<int:photo_id>/<str:kind>.jpg",
        views.photo_image,
        name="photo_image",
    ),
]
