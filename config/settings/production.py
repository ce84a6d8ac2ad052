"""Production: secrets have no defaults; a missing one stops start-up."""

from config.settings.base import *  # noqa: F403
from config.settings.base import STORAGE_URL, env, storage_from_url

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
STORAGES = {
    # Photos and derived files: MEDIA_ROOT, or the bucket DJANGO_STORAGE_URL names (base.py).
    "default": storage_from_url(STORAGE_URL),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
