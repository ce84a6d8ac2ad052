"""Tests: the database comes from DATABASE_URL when set (CI uses PostgreSQL), else SQLite."""

import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_BROKER_URL, REST_FRAMEWORK, env

SECRET_KEY = "test-only-not-secret"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="claims-test-media-"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"uploads": env.str("API_UPLOAD_RATE", default="5/minute")},
}
INFERENCE_THREADS = 1
# Every test process (pytest-xdist runs several) keeps its own exports and training runs,
# as it keeps its own media root and database.
_VAR = Path(tempfile.mkdtemp(prefix="claims-test-var-"))
REVIEW_EXPORT_ROOT = _VAR / "exports"
TRAINING_ROOT = _VAR / "training"

if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker = Path(tempfile.mkdtemp(prefix="claims-test-broker-"))
    (_broker / "queue").mkdir()
    (_broker / "control").mkdir()
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "control_folder": str(_broker / "control"),
    }
