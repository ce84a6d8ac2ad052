"""Personas and helpers shared by the Django tests."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import factory
import pytest
from django.contrib.auth.models import Group, User
from PIL import Image

from claims.roles import ADJUSTERS_GROUP

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


@pytest.fixture
def active_model(db: None):  # type: ignore[no-untyped-def]
    from inference.services import models_register_shipped

    versions = models_register_shipped()
    return next(v for v in versions if v.status == "active")


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None
