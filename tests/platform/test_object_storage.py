"""Photos and derived files in an S3-compatible bucket (DJANGO_STORAGE_URL).

A real S3 server (moto's, on a free local port) stands in for MinIO or AWS: the claim is
filed through the service layer, processed by the photo task with the shipped model, swept
for orphans and streamed back by the photo view, and nothing lands in MEDIA_ROOT.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from PIL import Image

from claims.models import Case
from claims.services import Upload, case_submit
from config.settings.base import storage_from_url
from inference import services, tasks
from inference.models import InferenceRun

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local S3 server for the module's tests."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        pytest.skip("moto[server] is not installed (requirements-dev.txt)")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    access_log = logging.getLogger("werkzeug")  # a line per request otherwise
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        access_log.setLevel(level)


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    # Keys from the environment, as in production (the URL never holds them).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )


@pytest.fixture
def bucket(s3: Any, s3_endpoint: str, settings: Any, tmp_path: Path) -> str:
    """A fresh bucket as the default storage, and an empty MEDIA_ROOT that must stay so."""
    name = f"claims-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": storage_from_url(f"s3://{name}?endpoint_url={s3_endpoint}&region={REGION}"),
    }
    return name


def _keys(s3: Any, bucket: str) -> set[str]:
    listing = s3.list_objects_v2(Bucket=bucket)
    return {entry["Key"] for entry in listing.get("Contents", [])}


def _object(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _media_files() -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Messages for the broker, kept here: the test runs the tasks itself."""
    messages: list[tuple[str, int]] = []
    monkeypatch.setattr(
        tasks.photo_process_task, "delay", lambda pk: messages.append(("photo", pk))
    )
    monkeypatch.setattr(tasks.case_finalise_task, "delay", lambda pk: messages.append(("case", pk)))
    return messages


@pytest.fixture
def case(customer: Any, shipped_model: Any, vehicle_jpeg: bytes, bucket: str, sent: Any) -> Case:
    return case_submit(
        customer=customer,
        policy_number="S3-1",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Depot",
        description="Scraped along a pillar",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )


@pytest.mark.django_db(transaction=True)
def test_photos_and_derived_files_live_in_the_bucket(  # type: ignore[no-untyped-def]
    case, s3, bucket, vehicle_jpeg, customer, other_customer
) -> None:
    photo = case.photos.get()
    assert photo.original.name.startswith(f"cases/{case.public_id}/originals/")
    assert _keys(s3, bucket) == {photo.original.name}
    assert _object(s3, bucket, photo.original.name) == vehicle_jpeg

    # The worker: it reads the original from the bucket and writes its files there.
    run = InferenceRun.objects.get(photo=photo)
    tasks.photo_process_task(run.pk)
    tasks.case_finalise_task(case.pk)
    run.refresh_from_db()
    photo.refresh_from_db()
    case.refresh_from_db()
    assert run.status == InferenceRun.Status.DONE
    assert case.status == Case.Status.NEEDS_REVIEW
    files = run.result["files"]
    derived = f"cases/{case.public_id}/derived/{photo.pk}"
    assert photo.display.name == f"{derived}-display.jpg"
    assert photo.thumbnail.name == f"{derived}-thumb.jpg"
    assert files == {
        "annotated": f"{derived}-v{run.model_version_id}-a1-annotated.jpg",
        "part_map": f"{derived}-v{run.model_version_id}-a1-part_map.png",
        "damage_map": f"{derived}-v{run.model_version_id}-a1-damage_map.png",
    }
    assert photo.annotated.name == files["annotated"]
    assert _keys(s3, bucket) == {
        photo.original.name,
        photo.display.name,
        photo.thumbnail.name,
        *files.values(),
    }

    # The photo view streams each image from the bucket to its owner, and to no one else.
    owner = Client()
    owner.force_login(customer)
    for kind, field in (
        ("thumb", photo.thumbnail),
        ("display", photo.display),
        ("annotated", photo.annotated),
    ):
        response = owner.get(f"/cases/{case.public_id}/photos/{photo.pk}/{kind}.jpg")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert b"".join(response.streaming_content) == _object(s3, bucket, field.name)
    stranger = Client()
    stranger.force_login(other_customer)
    response = stranger.get(f"/cases/{case.public_id}/photos/{photo.pk}/display.jpg")
    assert response.status_code == 404

    assert _media_files() == []


@pytest.mark.django_db(transaction=True)
def test_orphan_sweep_lists_the_bucket(case, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    photo = case.photos.get()
    run = InferenceRun.objects.get(photo=photo)
    tasks.photo_process_task(run.pk)
    orphan = f"cases/{case.public_id}/derived/{photo.pk}-v{run.model_version_id}-annotated_x1.jpg"
    s3.put_object(Bucket=bucket, Key=orphan, Body=b"left by a killed worker")
    unknown = f"cases/{uuid.uuid4()}/derived/1-display.jpg"  # a case the database does not know
    s3.put_object(Bucket=bucket, Key=unknown, Body=b"not ours to judge")
    photo.refresh_from_db()
    run.refresh_from_db()
    before = _keys(s3, bucket)
    assert before == {
        photo.original.name,
        photo.display.name,
        photo.thumbnail.name,
        *run.result["files"].values(),
        orphan,
        unknown,
    }

    assert services.derived_files_sweep() == []  # everything is younger than an hour
    assert _keys(s3, bucket) == before
    later = timezone.now() + timedelta(seconds=settings.INFERENCE_ORPHAN_AGE_S + 60)
    assert services.derived_files_sweep(now=later) == [orphan]
    assert _keys(s3, bucket) == before - {orphan}
    assert services.derived_files_sweep(now=later) == []
    assert _media_files() == []


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_bucket_is_a_transient_error(  # type: ignore[no-untyped-def]
    case, settings, s3
) -> None:
    """A worker that cannot reach the bucket puts the run back in the queue (retried)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": storage_from_url(
            f"s3://{uuid.uuid4().hex[:12]}?endpoint_url=http://127.0.0.1:{_free_port()}"
        ),
    }
    run = InferenceRun.objects.get(photo__case=case)
    # Called directly, Celery's retry re-raises the error instead of scheduling a retry.
    with pytest.raises(tasks.STORAGE_TRANSIENT):
        tasks.photo_process_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (InferenceRun.Status.QUEUED, 1)
    assert run.error.startswith("temporary error: Could not connect to the endpoint URL")


@pytest.mark.django_db(transaction=True)
def test_label_export_reads_photos_from_the_bucket(  # type: ignore[no-untyped-def]
    case, bucket, tmp_path
) -> None:
    """The label writers read a photo through storage when given `source_open`."""
    from django.core.files.storage import default_storage

    from learning.labels import LabelledImage, write_snapshot

    photo = case.photos.get()
    image = LabelledImage(
        file_name="bus.jpg",
        source_path=Path(photo.original.name),  # not on this disk: never read
        width=photo.width,
        height=photo.height,
        source_open=functools.partial(default_storage.open, photo.original.name, "rb"),
    )
    target = tmp_path / "snapshot"
    write_snapshot(target, [image], ["dent"], version="s3", provenance={})
    with Image.open(target / "images" / "bus.jpg") as exported:
        assert (exported.format, exported.size) == ("JPEG", (photo.width, photo.height))
    assert _media_files() == []


# DJANGO_STORAGE_URL --------------------------------------------------------------------------


def test_no_storage_url_is_the_local_media_root() -> None:
    assert storage_from_url("") == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_storage_url_with_every_option() -> None:
    url = "s3://claims-media/prod/photos?endpoint_url=https://s3.example.net:9000&region=eu-west-1"
    assert storage_from_url(url) == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "claims-media",
            "location": "prod/photos",
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "endpoint_url": "https://s3.example.net:9000",
            "region_name": "eu-west-1",
            "addressing_style": "path",
        },
    }
    aws = storage_from_url("s3://claims-media?region=eu-west-1&addressing_style=virtual")
    assert aws["OPTIONS"]["addressing_style"] == "virtual"
    assert "endpoint_url" not in aws["OPTIONS"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("claims-media", "the scheme '(none)' is not supported, only s3"),
        ("minio://claims-media", "the scheme 'minio' is not supported, only s3"),
        ("s3://", "'(empty)' is not a bucket name"),
        ("s3://Claims_Media", "'Claims_Media' is not a bucket name"),
        ("s3://minio:9000", "the server's address goes in ?endpoint_url="),
        ("s3://claims-media?endpoint=http://minio:9000", "unknown option 'endpoint'"),
        ("s3://claims-media?endpoint_url=minio:9000", "must be http://HOST[:PORT]"),
        ("s3://claims-media?region=", "the option 'region' is empty"),
        ("s3://claims-media?region=a&region=b", "the option 'region' is given twice"),
        ("s3://claims-media?addressing_style=dns", "must be path, virtual or auto"),
        ("s3://claims-media#photos", "a URL fragment"),
    ],
)
def test_bad_storage_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        storage_from_url(url)
    message = str(raised.value)
    assert message.startswith(f"DJANGO_STORAGE_URL {url!r}: ")
    assert reason in message
    assert "write it as 's3://claims-photos?endpoint_url=http://minio:9000" in message


def test_keys_in_the_storage_url_are_refused_and_not_repeated() -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        storage_from_url("s3://AKIAEXAMPLE:hunter2-secret@claims-media")
    message = str(raised.value)
    assert "keys do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in (
        message
    )
    assert "hunter2" not in message
    assert "AKIAEXAMPLE" not in message
    assert message.startswith("DJANGO_STORAGE_URL 's3://***@claims-media': ")


def test_a_bad_storage_url_stops_start_up() -> None:
    env = {
        **os.environ,
        "DJANGO_STORAGE_URL": "s3://minio:9000/claims",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
    }
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", "import django; django.setup()"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "DJANGO_STORAGE_URL 's3://minio:9000/claims': 'minio:9000' is not a bucket" in (
        result.stderr
    )


def test_compose_workers_share_only_the_database_the_broker_and_the_bucket() -> None:
    import yaml

    services = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())["services"]
    assert {"minio", "minio-setup", "worker-2"} <= set(services)
    url = "s3://claims-media?endpoint_url=http://minio:9000&region=us-east-1"
    for name in ("web", "worker", "worker-2", "gpu-worker", "beat"):
        environment = services[name]["environment"]
        assert storage_from_url(environment["DJANGO_STORAGE_URL"]) == storage_from_url(url)
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(environment)
        assert services[name]["depends_on"]["minio-setup"] == {
            "condition": "service_completed_successfully"
        }
    worker = services["worker-2"]
    assert "volumes" not in worker
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"} <= set(worker["environment"])
    assert "mc mb --ignore-existing local/claims-media" in services["minio-setup"]["entrypoint"]
