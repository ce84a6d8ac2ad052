"""Long and one piece so that every setting read from the environment is in one place, the one file
to read for what a deployment can configure.

Settings shared by every environment; values come from the environment (django-environ).

Embedded defaults need no server: SQLite, Celery over kombu's filesystem transport and
an in-memory channel layer (pages then poll with htmx). `DATABASE_URL`,
`CELERY_BROKER_URL` and `REDIS_URL` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("DJANGO_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files, no CDN
    "django_htmx",
    "channels",
    "axes",
    "claims",
    "inference",
    "review",
    "learning",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.api.errors.ApiDatabaseErrorMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "claims.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web server and worker write the same file: wait for the lock rather than fail. A
    # transaction takes the write lock when it begins (IMMEDIATE), so one that read first
    # cannot fail with "database is locked" when another wrote meanwhile: it waits.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
# Web processes keep their PostgreSQL connections in a pool (psycopg_pool, Django 5.1+)
# instead of opening one per request, which costs a backend fork and a SCRAM handshake;
# config/gunicorn.py sets DATABASE_POOL_MAX for the web server only. Celery's forked
# workers keep Django's connection per task (a pool must not cross a fork).
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=0)
if DATABASE_POOL_MAX and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX,
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out username+address before ModelBackend checks the password.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend that loads a session's user and role in one query. Sessions made
    # before it was named here name ModelBackend and end: their users log in again once.
    "common.auth.RoleModelBackend",
]
# Login throttling (django-axes), for every form that calls authenticate(request=...): the
# web login and the admin's. This many failures for one user name from one address lock
# that pair out for the cool-off; a success before the limit clears the count.
AXES_FAILURE_LIMIT = env.int("DJANGO_LOGIN_FAILURE_LIMIT", default=5)
LOGIN_COOLOFF_MINUTES = env.int("DJANGO_LOGIN_COOLOFF_MINUTES", default=15)
if AXES_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured(
        "DJANGO_LOGIN_FAILURE_LIMIT and DJANGO_LOGIN_COOLOFF_MINUTES must be 1 or more, got "
        f"{AXES_FAILURE_LIMIT} and {LOGIN_COOLOFF_MINUTES}"
    )
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.views.login_locked_out"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:case_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve static/ directly; collectstatic is optional
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: photos go through permission-checked views


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_STORAGE_URL_OPTIONS = ("endpoint_url", "region", "addressing_style")
_STORAGE_URL_EXAMPLE = "s3://claims-photos?endpoint_url=http://minio:9000&region=us-east-1"


def storage_from_url(url: str) -> dict[str, Any]:
    """The `default` entry of STORAGES for DJANGO_STORAGE_URL; ImproperlyConfigured when bad.

    Empty: the local file system under MEDIA_ROOT. `s3://BUCKET[/PREFIX][?endpoint_url=
    http(s)://HOST:PORT&region=REGION&addressing_style=path|virtual]`: an S3-compatible
    bucket (AWS, MinIO, Ceph...) through django-storages. The keys come from the usual
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment (or an instance role), never from
    the URL, which ends up in logs and `ps`.
    """
    if not url:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}

    shown = re.sub(r"//[^/?#]*@", "//***@", url)  # an error message must not show a key

    def bad(reason: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"DJANGO_STORAGE_URL {shown!r}: {reason}; write it as {_STORAGE_URL_EXAMPLE!r} "
            "(or leave it empty for the local MEDIA_ROOT)"
        )

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise bad(f"not a URL ({exc})") from None
    if parts.scheme != "s3":
        raise bad(f"the scheme {parts.scheme or '(none)'!r} is not supported, only s3")
    if "@" in parts.netloc:
        raise bad("keys do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    bucket = parts.netloc  # not .hostname, which lower-cases a name S3 would refuse
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        hint = "; the server's address goes in ?endpoint_url=" if ":" in bucket else ""
        raise bad(
            f"{bucket or '(empty)'!r} is not a bucket name (3-63 characters: lower-case "
            f"letters, digits, '.' and '-'){hint}"
        )
    if parts.fragment:
        raise bad("a URL fragment ('#...') means nothing here")
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "location": parts.path.strip("/"),  # a key prefix inside the bucket
        # As on the file system: a name already taken gets a suffix, never overwritten.
        "file_overwrite": False,
        "default_acl": None,  # the bucket's own policy: private; photos go through views
        "querystring_auth": True,
    }
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in _STORAGE_URL_OPTIONS:
            raise bad(f"unknown option {key!r} (known: {', '.join(_STORAGE_URL_OPTIONS)})")
        if key in seen:
            raise bad(f"the option {key!r} is given twice")
        seen.add(key)
        if not value:
            raise bad(f"the option {key!r} is empty")
        if key == "endpoint_url":
            endpoint = urlsplit(value)
            if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
                raise bad(f"endpoint_url {value!r} must be http://HOST[:PORT] or https://...")
            options["endpoint_url"] = value
        elif key == "region":
            options["region_name"] = value
        elif value not in ("path", "virtual", "auto"):
            raise bad(f"addressing_style {value!r} must be path, virtual or auto")
        else:
            options["addressing_style"] = value
    if "endpoint_url" in options:
        # A MinIO or Ceph server answers at its own host name, not at BUCKET.host.
        options.setdefault("addressing_style", "path")
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


# Uploaded photos and the files derived from them (display copies, thumbnails, overlays,
# label maps): the local MEDIA_ROOT by default, an S3-compatible bucket when set, so that
# workers on other machines share only the database, the broker and the bucket.
STORAGE_URL: str = env.str("DJANGO_STORAGE_URL", default="")
STORAGES: dict[str, dict[str, Any]] = {
    "default": storage_from_url(STORAGE_URL),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads: Django keeps files above this in temporary files instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 40
CLAIMS_MAX_PHOTOS = env.int("CLAIMS_MAX_PHOTOS", default=30)
CLAIMS_MAX_PHOTO_BYTES = env.int("CLAIMS_MAX_PHOTO_BYTES", default=25 * 1024 * 1024)
CLAIMS_MAX_CASE_BYTES = env.int("CLAIMS_MAX_CASE_BYTES", default=300 * 1024 * 1024)
CLAIMS_MAX_PIXELS = env.int("CLAIMS_MAX_PIXELS", default=60_000_000)
CLAIMS_DERIVED_LONG_SIDE = 1600
# How many times a customer may contest their case's report (each contest sends the case
# back to the review queue ahead of routine work, so it is bounded).
CLAIMS_CONTESTS_PER_CASE = env.int("CLAIMS_CONTESTS_PER_CASE", default=3)

# Review: how long an adjuster's lease on a case lasts without a heartbeat, and where label
# snapshots are exported.
REVIEW_LEASE_SECONDS = env.int("REVIEW_LEASE_SECONDS", default=600)
REVIEW_EXPORT_ROOT = Path(env.str("REVIEW_EXPORT_ROOT", default=str(VAR_DIR / "exports")))
# Webhook targets (claims/webhooks.py): https only unless DEBUG or this is set; every
# address the host resolves to must be public, unless it lies in one of the operator's
# CIDRs below (e.g. "10.20.0.0/16" for an in-house receiver).
CLAIMS_WEBHOOK_ALLOW_HTTP: bool = env.bool("DJANGO_WEBHOOK_ALLOW_HTTP", default=False)
CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS: list[str] = env.list(
    "DJANGO_WEBHOOK_ALLOWED_PRIVATE_NETWORKS", default=[]
)
for _cidr in CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"DJANGO_WEBHOOK_ALLOWED_PRIVATE_NETWORKS: {_cidr!r} is not a network; "
            'write CIDRs such as "10.20.0.0/16,fd00::/8"'
        ) from _exc
CLAIMS_WEBHOOK_CONNECT_TIMEOUT_S = 3.0
CLAIMS_WEBHOOK_READ_TIMEOUT_S = 10.0
CLAIMS_WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
# A PEM file of CAs to trust for https targets instead of certifi's (an in-house CA).
CLAIMS_WEBHOOK_CA_BUNDLE: str = env.str("DJANGO_WEBHOOK_CA_BUNDLE", default="")
# The outbox (claims.WebhookDelivery): a failed attempt is retried after 30 s, 1, 2, 4 ...
# minutes (capped, with jitter) until this many attempts, then the delivery is failed.
CLAIMS_WEBHOOK_MAX_ATTEMPTS = env.int("DJANGO_WEBHOOK_MAX_ATTEMPTS", default=8)
if CLAIMS_WEBHOOK_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(
        f"DJANGO_WEBHOOK_MAX_ATTEMPTS must be 1 or more, got {CLAIMS_WEBHOOK_MAX_ATTEMPTS}"
    )
CLAIMS_WEBHOOK_BACKOFF_S = 30.0
CLAIMS_WEBHOOK_BACKOFF_MAX_S = 3600.0
# An attempt holds its delivery this long; longer than the task's time limit, so a worker
# killed mid-send leaves it to the sweep afterwards, never to a second concurrent sender.
CLAIMS_WEBHOOK_LEASE_S = 120.0
# The sweep leaves a delivery due for less than this to the task already enqueued for it.
CLAIMS_WEBHOOK_SWEEP_GRACE_S = 30.0

REDIS_URL: str = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Pages open a WebSocket only when a channel layer reaches other processes (the worker).
CLAIMS_LIVE_PUSH = bool(REDIS_URL)

CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        # kombu polls the folder once a second by default, which left a worker idle for
        # ~0.9 s between photos that take ~0.1 s; a listdir every 0.1 s costs nothing.
        "polling_interval": 0.1,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL {CELERY_BROKER_URL!r} is not supported: use filesystem://, "
        "redis://host:port/db or amqp://..."
    )
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {
    "inference.tasks.photo_process_task": {"queue": env.str("INFERENCE_QUEUE", default="cpu")},
    # Training runs have their own worker (bin/run, docker/compose.yml), never the web's.
    "learning.tasks.training_run_task": {"queue": "training"},
}
# How often the beat sweeps runs (see INFERENCE_HEARTBEAT_S below).
INFERENCE_SWEEP_S = env.int("INFERENCE_SWEEP_S", default=15)
CELERY_BEAT_SCHEDULE = {
    # Recovery: runs whose worker died or whose message the broker lost (INFERENCE_SWEEP_S);
    # a sweep message older than its period is dropped, the next one does the work.
    "sweep-stale-runs": {
        "task": "inference.tasks.runs_sweep_task",
        "schedule": float(INFERENCE_SWEEP_S),
        "options": {"expires": float(INFERENCE_SWEEP_S)},
    },
    # Derived files (display copies, overlays, label maps) that no row references.
    "sweep-derived-files": {
        "task": "inference.tasks.derived_files_sweep_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Re-sends webhooks whose message the broker lost or whose retry is due: a lost one
    # goes out within CLAIMS_WEBHOOK_SWEEP_GRACE_S + 15 s.
    "sweep-webhooks": {
        "task": "claims.tasks.webhook_deliveries_sweep_task",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    # Training runs whose worker died (stale heartbeat): sent again, they resume from last.pt.
    "sweep-training-runs": {
        "task": "learning.tasks.training_runs_sweep_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
# Training from the browser: run folders (config, log, checkpoints) and candidate versions.
TRAINING_ROOT = Path(env.str("TRAINING_ROOT", default=str(VAR_DIR / "training")))
TRAINING_THREADS = env.int("TRAINING_THREADS", default=2)  # torch threads of a training run
# A training worker renews its run's heartbeat every TRAINING_HEARTBEAT_S; a running run
# silent for TRAINING_HEARTBEAT_STALE_S lost its worker and is sent again (it resumes from
# its last checkpoint), at most TRAINING_MAX_ATTEMPTS times in all.
TRAINING_HEARTBEAT_S = env.int("TRAINING_HEARTBEAT_S", default=10)
TRAINING_HEARTBEAT_STALE_S = env.int("TRAINING_HEARTBEAT_STALE_S", default=180)
TRAINING_MAX_ATTEMPTS = env.int("TRAINING_MAX_ATTEMPTS", default=3)
# A candidate's calibrator is fitted only with at least this many labelled findings in each
# half (fit, threshold) of its snapshots; otherwise it keeps its start version's.
TRAINING_CALIBRATION_MIN_FINDINGS = env.int("TRAINING_CALIBRATION_MIN_FINDINGS", default=30)

# Inference: which back end the worker runs, and how long a run may stay queued or running.
INFERENCE_BACKEND = env.str("INFERENCE_BACKEND", default="onnx")
INFERENCE_THREADS = env.int("INFERENCE_THREADS", default=2)
INFERENCE_K_AGREE_DENOMINATOR = env.str("INFERENCE_K_AGREE_DENOMINATOR", default="visible")
INFERENCE_RUN_TIMEOUT_S = env.int("INFERENCE_RUN_TIMEOUT_S", default=600)
INFERENCE_MAX_ATTEMPTS = env.int("INFERENCE_MAX_ATTEMPTS", default=3)
# A case whose photos all finished this long ago but is still processing lost its case task
# (a broker outage as its last photo finished): the sweep finishes it, within 30 + 15 s.
INFERENCE_CASE_GRACE_S = env.int("INFERENCE_CASE_GRACE_S", default=30)
# Recovery in under a minute: a worker renews its run's heartbeat every INFERENCE_HEARTBEAT_S;
# the sweep (every INFERENCE_SWEEP_S) re-queues a running run whose heartbeat is older than
# INFERENCE_HEARTBEAT_STALE_S (its worker died) and re-sends a queued run no worker took for
# INFERENCE_QUEUED_STALE_S (the broker lost its message). Worst case 30 + 15 s.
INFERENCE_HEARTBEAT_S = env.int("INFERENCE_HEARTBEAT_S", default=5)
INFERENCE_HEARTBEAT_STALE_S = env.int("INFERENCE_HEARTBEAT_STALE_S", default=30)
INFERENCE_QUEUED_STALE_S = env.int("INFERENCE_QUEUED_STALE_S", default=30)
# Derived files no row references are deleted once older than this (never an original).
INFERENCE_ORPHAN_AGE_S = env.int("INFERENCE_ORPHAN_AGE_S", default=3600)
if INFERENCE_HEARTBEAT_STALE_S < 3 * INFERENCE_HEARTBEAT_S:
    raise ImproperlyConfigured(
        "INFERENCE_HEARTBEAT_STALE_S must be at least 3 x INFERENCE_HEARTBEAT_S, or a busy "
        f"worker's run looks dead; got {INFERENCE_HEARTBEAT_STALE_S} and {INFERENCE_HEARTBEAT_S}"
    )
if INFERENCE_BACKEND not in ("onnx", "torch"):
    raise ImproperlyConfigured(
        f"INFERENCE_BACKEND must be 'onnx' or 'torch', got {INFERENCE_BACKEND!r}"
    )
if INFERENCE_K_AGREE_DENOMINATOR not in ("visible", "all"):
    raise ImproperlyConfigured(
        "INFERENCE_K_AGREE_DENOMINATOR must be 'visible' or 'all', "
        f"got {INFERENCE_K_AGREE_DENOMINATOR!r}"
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: a request without credentials is answered `WWW-Authenticate: Bearer`.
        "portal.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "common.api_schema.ClaimsAutoSchema",
    "DEFAULT_THROTTLE_RATES": {"uploads": env.str("API_UPLOAD_RATE", default="30/hour")},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Damage claims review API",
    "DESCRIPTION": "File claims with photos, follow their processing, read findings and DSI. "
    "Authenticate with `Authorization: Bearer <token>` (docs/api.md has a walk-through).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Cases and photos both have a `status`; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "claims.models.Case.Status",
        "PhotoStatusEnum": "claims.models.Photo.Status",
        "ApiTokenScopeEnum": "claims.models.ApiToken.Scope",
    },
    # /api/docs/ and /api/redoc/ load their scripts from drf-spectacular-sidecar's static
    # files: the docs work offline and no page of the site loads from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
