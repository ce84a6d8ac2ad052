from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from portal import views as portal_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="portal:case_list", permanent=False)),
    # Pages link the SVG icon; this answers browsers and the admin's pages that ask anyway.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", portal_views.signup, name="signup"),
    path("accounts/api-tokens/", portal_views.api_tokens, name="api_tokens"),
    path(
        "accounts/api-tokens/<int:token_id>/revoke/",
        portal_views.api_token_revoke_view,
        name="api_token_revoke",
    ),
    path("cases/", include("portal.urls")),
    # The same pages under their names before the portal package (`claims:case_detail`,
    # ...), for code and guides that still reverse them; the paths are the same.
    path("cases/", include(("portal.urls", "portal"), namespace="claims")),
    path("api/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        # The package's page links Google Fonts; this one loads only local assets.
        SpectacularRedocView.as_view(url_name="api-schema", template_name="portal/api_redoc.html"),
        name="api-redoc",
    ),
    path("django-admin/", admin.site.urls),
]
if apps.is_installed("learning"):
    # The model lifecycle's pages keep the paths they had in the review app (training/,
    # models/, exports/, api/snapshots/: bookmarks and guides name them); none is one of
    # review's, and they come first.
    urlpatterns.append(path("review/", include("learning.urls")))
if apps.is_installed("review"):
    urlpatterns.append(path("review/", include("review.urls")))

handler400 = "portal.api.errors.bad_request"
handler403 = "portal.api.errors.permission_denied"
handler404 = "portal.api.errors.page_not_found"
handler500 = "portal.api.errors.server_error"
