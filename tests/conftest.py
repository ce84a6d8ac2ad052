"""Personas and helpers shared by the Django tests."""

from __future__ import annotations

import io
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import factory
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from PIL import Image

from common.access import ADJUSTERS_GROUP
from tests import factories

FIXTURES = Path(__file__).parent / "fixtures"
VEHICLE_PHOTO = FIXTURES / "bus.jpg"  # a real street photo of a bus (Ultralytics' sample)
CHROMIUM = "/usr/bin/chromium"

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API in tests


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-123")


@pytest.fixture
def customer(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def other_customer(db: None) -> User:
    return UserFactory(username="bob")


@pytest.fixture
def adjuster(db: None) -> User:
    user = UserFactory(username="charlie")
    group, _ = Group.objects.get_or_create(name=ADJUSTERS_GROUP)
    user.groups.add(group)
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="dana", is_superuser=True, is_staff=True)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the test fills in resolve to its addresses; others go to the real resolver.

    There is no internet in the tests, so webhook host names are answered here.
    """
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.lower() not in answers:
            return real(host, port, *args, **kwargs)
        if not answers[name.lower()]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (ip, int(port or 0), 0, 0) if ":" in ip else (ip, int(port or 0)),
            )
            for ip in answers[name.lower()]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def vehicle_jpeg() -> bytes:
    return VEHICLE_PHOTO.read_bytes()


@pytest.fixture
def make_jpeg() -> Callable[..., bytes]:
    def make(
        width: int = 64, height: int = 48, colour: tuple[int, int, int] = (120, 30, 30)
    ) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), colour).save(buffer, "JPEG")
        return buffer.getvalue()

    return make


@pytest.fixture(scope="session")
def keen_versions_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder holding one version: the shipped default with +6 added to the
    logits of every damage class, so that its (trained) damage head calls every part it
    sees damaged. The platform tests need findings on the fixture bus, which is not damaged
    and on which the shipped model rightly finds none; the parts head and the vehicle
    classifier stay the real ones, so set-aside decisions are the shipped model's."""
    import torch

    from damage_vision.pipeline.torch_backend import load_models
    from damage_vision.versions.export import save_model_version
    from damage_vision.versions.registry import default_version

    shipped = default_version()
    segmentation, vehicle = load_models(shipped)
    with torch.no_grad():
        segmentation.damage_head.conv.bias[1:] += 6.0  # type: ignore[union-attr, index, operator]
    root = tmp_path_factory.mktemp("keen")
    save_model_version(
        root / f"{shipped.version}-keen",
        name=f"{shipped.name}-keen",
        version=f"{shipped.version}-keen",
        segmentation=segmentation,
        vehicle=vehicle,
        part_taxonomy=shipped.part_taxonomy,
        damage_taxonomy=shipped.damage_taxonomy,
        threshold=shipped.threshold,
        description="test fixture: the shipped default with its damage head pushed to damage",
        input_size=shipped.input_size,
        mean=shipped.mean,
        std=shipped.std,
        vehicle_input_size=shipped.vehicle.input_size,
        vehicle_threshold=shipped.vehicle.threshold,
        settings=shipped.settings,
    )
    return root


@pytest.fixture
def active_model(db: None, keen_versions_root: Path):  # type: ignore[no-untyped-def]
    """The keen fixture version, registered and active (see `keen_versions_root`)."""
    from inference.services import models_register_shipped

    versions = models_register_shipped(root=keen_versions_root)
    return next(v for v in versions if v.status == "active")


@pytest.fixture
def shipped_model(db: None):  # type: ignore[no-untyped-def]
    """The versions a fresh clone ships, registered as `bin/run` does."""
    from inference.services import models_register_shipped

    versions = models_register_shipped()
    return next(v for v in versions if v.status == "active")


@pytest.fixture
def version(db: None) -> Any:
    """A model version built by `tests.factories` (threshold 0.6), the one `make_case` uses."""
    return factories.model_version_create(threshold=0.6)


@pytest.fixture
def make_case(customer: Any, version: Any) -> Callable[..., Any]:
    """Processed cases of `version` (findings as (damage, part, C_refined)), for the review
    and the model lifecycle's tests."""

    def make(findings: list[tuple[str, str, float]] | None = None, **kwargs: Any) -> Any:
        return factories.case_create(
            customer=kwargs.pop("owner", customer),
            version=kwargs.pop("model_version", version),
            findings=findings
            if findings is not None
            else [
                ("deformity", "door_shell", 0.3),
                ("surface_damage", "bumper", 0.5),
                ("body_damage", "hood", 0.9),
            ],
            **kwargs,
        )

    return make


@pytest.fixture
def login() -> Callable[[Any], Client]:
    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


def claim_processed(customer: User, photo: bytes, policy: str = "T-9") -> Any:
    """A claim submitted and processed as the web and worker processes would do it: the
    photo task and the case task run here, in this process, on the active model version."""
    import datetime as dt

    from claims.services import Upload, case_submit
    from inference import tasks
    from inference.models import InferenceRun

    case = case_submit(
        customer=customer,
        policy_number=policy,
        loss_date=dt.date(2026, 11, 1),
        loss_place="Depot",
        description="Scraped along a pillar",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(photo))],
    )
    for run in InferenceRun.objects.filter(photo__case=case):
        tasks.photo_process_task(run.pk)
    tasks.case_finalise_task(case.pk)
    case.refresh_from_db()
    return case


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault suite restarts the shared PostgreSQL and kills processes: it runs after
    everything else, so no other test inherits a connection the restart dropped."""
    items.sort(key=lambda item: item.get_closest_marker("fault") is not None)


def page_as(browser: Any, base: str, user: Any) -> Any:
    """A browser page (1280x900, 15 s timeouts) logged in as `user` on the live server at
    `base`: the session comes from Django's test client, not from typing a password."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def migrate_to(target: tuple[str, str]) -> Any:
    """Migrate to `target` (what depends on it is unapplied first); the apps exactly as the
    database then stands, from the migrations recorded as applied."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.recorder import MigrationRecorder

    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    applied = MigrationRecorder(connection).applied_migrations()
    return executor.loader.project_state(list(applied)).apps


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (skipped where it is absent)."""
    if not chromium_available():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def python_fresh(code: str, settings_module: str = "") -> str:
    """Run `code` in a fresh Python (the repository root as working folder, the settings
    module given, none by default) and return what it printed; fails the test with the
    end of its error output when it fails."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": settings_module},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


PRODUCT_PACKAGES = (
    "damage_vision",
    "inference",
    "claims",
    "review",
    "learning",
    "portal",
    "common",
)


def product_sources(packages: tuple[str, ...] = PRODUCT_PACKAGES) -> Iterator[tuple[str, str]]:
    """(path from the repository root, text) of every module of `packages`, migrations
    left out: what the guard tests read for a rule written in the wrong place."""
    root = Path(__file__).resolve().parents[1]
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield str(path.relative_to(root)), path.read_text(encoding="utf-8")
