from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from claims import views as claims_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="claims:case_list", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", claims_views.signup, name="signup"),
    path("cases/", include("claims.urls")),
    path("api/", include("claims.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("django-admin/", admin.site.urls),
]
if apps.is_installed("review"):
    urlpatterns.append(path("review/", include("review.urls")))

handler400 = "claims.api.errors.bad_request"
handler403 = "claims.api.errors.permission_denied"
handler404 = "claims.api.errors.page_not_found"
handler500 = "claims.api.errors.server_error"
